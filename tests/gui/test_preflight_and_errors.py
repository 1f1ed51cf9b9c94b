"""Pre-flight estimates and fixes, unexpected errors (dialog + log file), export, and a real
task-sequence run filling the accuracy matrix."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ftstudio.engine.config import DataConfig, RunConfig, TaskSpec, TechniqueConfig, TrainingConfig


def test_preflight_counts_memory_and_time(tiny_setup):
    from ftstudio.engine.preflight import preflight

    lora = preflight(tiny_setup("lora", batch_size=8))
    full = preflight(tiny_setup("full", batch_size=8))
    assert lora.trainable_params < full.trainable_params == full.total_params
    assert full.trainable_pct == pytest.approx(100.0)
    # AdamW keeps two fp32 moments per trainable parameter; gradients are fp32 too
    assert full.memory["optimizer"] == 8 * full.trainable_params
    assert full.memory["gradients"] == 4 * full.trainable_params
    assert lora.memory["optimizer"] < full.memory["optimizer"]
    for r in (lora, full):
        assert r.memory["activations"] > 0 and r.measured
        assert r.memory["total"] == sum(r.memory[k] for k in ("weights", "gradients", "optimizer", "activations"))
        assert r.step_seconds > 0 and r.epoch_seconds == pytest.approx(r.step_seconds * 3)  # 22 rows / 8
        assert r.fits and not r.warnings


def test_preflight_suggests_a_fix_when_it_will_not_fit(tiny_setup, monkeypatch):
    from ftstudio.engine import preflight as pf

    cfg = tiny_setup("full", batch_size=8)
    r = pf.preflight(cfg)
    # pretend only the fixed part plus room for ~2 examples' activations is free
    per_example = r.memory["activations"] / 8
    fixed = r.memory["weights"] + r.memory["gradients"] + r.memory["optimizer"]
    monkeypatch.setattr(pf, "available_memory", lambda device: int((fixed + 2.5 * per_example) / pf.SAFETY))
    r2 = pf.preflight(cfg)
    assert not r2.fits
    assert any("set batch size to 2" in w and "gradient accumulation 4" in w for w in r2.warnings), r2.warnings
    monkeypatch.setattr(pf, "available_memory", lambda device: fixed // 2)
    r3 = pf.preflight(cfg)
    assert not r3.fits and any("parameter-efficient" in w for w in r3.warnings)


def test_preflight_rejects_what_train_would(tiny_setup):
    from ftstudio.engine.errors import UserError
    from ftstudio.engine.preflight import preflight

    cfg = tiny_setup("lora")
    cfg.data.label_column = "nope"
    with pytest.raises(UserError, match="label"):
        preflight(cfg)


def test_unexpected_error_shows_a_dialog_and_writes_the_log(window, qtbot, tmp_path, monkeypatch, tiny_setup):
    from ftstudio.gui import util

    log = tmp_path / "ftstudio.log"
    monkeypatch.setattr(util, "log_file", lambda: log)

    def broken_train(cfg, subscribers=(), cancel=None, resume=None):
        raise RuntimeError("boom in the engine")

    window.train_fn = broken_train
    window.load_config(tiny_setup("lora"))
    n = len(util.last_error)
    assert window.start()
    qtbot.waitUntil(lambda: window.session is None, timeout=30_000)
    assert window.run_page.state == "failed"
    assert "boom in the engine" in util.last_error[n]
    assert "RuntimeError: boom in the engine" in log.read_text()
    assert "Traceback" in log.read_text()
    assert window.start_action.isEnabled()  # the app keeps working


def test_export_copies_the_runs_export_folder(window, qtbot, tiny_setup, tmp_path):
    window.load_config(tiny_setup("lora", max_steps=2))
    window.start()
    qtbot.waitUntil(lambda: window.session is None, timeout=120_000)
    rp = window.runs_page
    rp.refresh()
    rec = rp.records[0]
    from ftstudio.gui.pages.runs_page import export_kinds

    kinds = export_kinds(rec)
    assert kinds and "adapter" in kinds
    dest = tmp_path / "exported"
    got = []
    rp.export_run(rec, kinds[0], dest, on_done=got.append)
    qtbot.waitUntil(lambda: bool(got), timeout=30_000)
    assert dest.is_dir() and any(dest.iterdir())
    assert "exported to" in rp.where.text()
    # the engine-built exports: ONNX, and a merged model the run did not write
    from ftstudio.gui.pages.runs_page import engine_export_actions

    actions = dict(engine_export_actions(rec, kinds))
    assert actions["onnx"].startswith("ONNX model") and "merged" in actions
    got.clear()
    rp.export_format(rec, "onnx", tmp_path / "onnx", on_done=got.append)
    qtbot.waitUntil(lambda: bool(got), timeout=120_000)
    assert (tmp_path / "onnx" / "model.onnx").exists() and (tmp_path / "onnx" / "labels.json").exists()
    assert "exported to" in rp.where.text()


def test_real_task_sequence_fills_matrix_and_ewc_view(window, qtbot, tiny_dir, tiny_csv, tmp_path):
    topics = tmp_path / "topics.csv"
    with open(topics, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for _ in range(12):
            w.writerow(["stocks rose on strong earnings", "business"])
            w.writerow(["the team won the game", "sports"])
    cfg = RunConfig(
        model=str(tiny_dir("bert")), data=None,
        tasks=[TaskSpec("sentiment", DataConfig(train=str(tiny_csv))), TaskSpec("topics", DataConfig(train=str(topics)))],
        technique=TechniqueConfig("ewc"),
        training=TrainingConfig(max_steps=4, batch_size=4, learning_rate=1e-3, max_length=32, eval_every=None),
    )
    window.load_config(cfg)
    assert [t.name for t in window.technique_page.sequence.tasks()] == ["sentiment", "topics"]
    window.start()
    qtbot.waitUntil(lambda: window.session is None, timeout=120_000)
    page = window.run_page
    assert page.state == "finished", page.log_text()
    m = page.plots.matrix
    assert m.isVisibleTo(window) and m.table.rowCount() == 2 and m.filled() == 4
    assert "ACC" in m.summary.text() and "—" not in m.summary.text().split("ACC")[1].split()[0]
    assert set(page.plots.extra.series) == {"task_loss", "ewc_penalty"}
    assert page.plots.point_counts()["extra"] == 16
    assert "EWC" in page.plots.extra_plot.getPlotItem().titleLabel.text
    assert Path(page.run_dir, "summary.json").exists()


def _spam_csv(tmp_path: Path) -> Path:
    p = tmp_path / "spam.csv"
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(60):
            w.writerow([f"note {i} about lunch" if i % 10 else f"win a prize {i} now", "ham" if i % 10 else "spam"])
    return p


def _run_preflight(window, qtbot):
    panel = window.training_page.preflight
    window.show_page("training")
    panel.button.click()
    qtbot.waitUntil(lambda: panel.state in ("done", "blocked", "failed"), timeout=120_000)
    return panel


def test_preflight_lists_the_validation_errors_and_start_says_why(window, qtbot, tiny_dir, tmp_path):
    """A setup the validation pass refuses: the pre-flight result lists every problem (the error
    and the imbalance warning), measures nothing, and Start is disabled with the error's reason."""
    from ftstudio.gui.main_window import MainWindow  # noqa: F401

    from tests.gui.conftest import tiny_config

    window.load_config(tiny_config(tiny_dir("bert"), _spam_csv(tmp_path), "lora", grad_accum=40))
    panel = _run_preflight(window, qtbot)
    assert panel.state == "blocked", panel.verdict.text()
    text = panel.problems_text()
    assert "Cannot start" in text and "grad_accum 40" in text and "always answering it scores" in text
    assert panel.report is None and panel.values["total"].text() == "—"
    assert panel.numbers.isHidden() and panel.memory_bar.isHidden()  # nothing measured: the problems show
    assert not window.start_action.isEnabled()
    assert "grad_accum 40" in window.start_reason.text() and window.start_reason.isVisibleTo(window)
    assert "grad_accum 40" in window.problem_panels["training"].text()
    assert not window.start()  # pressing it anyway explains instead of training
    assert window.session is None


def test_preflight_shows_the_warnings_and_the_baseline(window, qtbot, tiny_dir, tmp_path):
    from tests.gui.conftest import tiny_config

    window.load_config(tiny_config(tiny_dir("bert"), _spam_csv(tmp_path), "lora"))
    panel = _run_preflight(window, qtbot)
    assert panel.state == "done", panel.verdict.text()
    assert not panel.numbers.isHidden()
    text = panel.problems_text()
    assert "Fits, with notes" in text and "'ham' is 89% of the training rows" in text  # after the split
    assert f"Baseline: always answering 'ham' scores accuracy {panel.report.baseline['accuracy']:.3f}" in text
    assert window.start_action.isEnabled()  # a warning never blocks
    assert "'ham' is 89%" in window.problem_panels["data"].text()
