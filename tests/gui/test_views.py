"""Data page problems inline, drag-and-drop, model facts, technique views from event sequences,
pre-flight panel."""
from __future__ import annotations

import pytest

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFormLayout

from ftstudio.engine.events import Eval, RunStarted, Step, TaskFinished, TechniqueState


def _wait_preview(qtbot, page):
    qtbot.waitUntil(lambda: page.preview is not None and page.preview_status.text() != "Reading…", timeout=30_000)


def test_csv_with_wrong_columns_shows_the_problem_next_to_the_field(window, qtbot, tmp_path):
    p = tmp_path / "wrong.csv"
    p.write_text("sentence,score\nnice film,1\nbad film,0\n", encoding="utf-8")
    page = window.data_page
    window.show_page("data")
    page.text_col.set_value("body")  # columns the user named: kept, and their problem shown
    page.label_col.set_value("stars")
    page.set_source(str(p))
    _wait_preview(qtbot, page)
    label_msg = page.problems["label_column"]
    text_msg = page.problems["text_column"]
    assert label_msg.isVisibleTo(window) and "no label column named 'stars'; found: sentence, score" in label_msg.text()
    assert text_msg.isVisibleTo(window) and "found: sentence, score" in text_msg.text()
    assert not page.source_problem.isVisibleTo(window)
    # the dropdowns now offer the file's columns; choosing them clears the problems
    assert [page.label_col.itemText(i) for i in range(page.label_col.count())] == ["sentence", "score"]
    page.text_col.set_value("sentence")
    page.label_col.set_value("score")
    page.refresh_preview()
    _wait_preview(qtbot, page)
    assert not label_msg.isVisibleTo(window) and not text_msg.isVisibleTo(window)
    assert page.table.rowCount() == 2 and page.table.item(0, 0).text() == "nice film"
    assert page.data_config().label_column == "score"


def test_default_columns_absent_from_the_file_are_mapped_to_its_columns(window, qtbot, tmp_path):
    p = tmp_path / "other.csv"
    p.write_text("id,review,stars\n1,nice film,good\n2,bad film,bad\n3,fine film,good\n", encoding="utf-8")
    page = window.data_page
    window.show_page("data")
    page.set_source(str(p))  # the demo's mapping: text / label, which this file does not have
    qtbot.waitUntil(lambda: page.data_config().text_column == "review" and page.preview is not None
                    and not page._timer.isActive() and page.preview_status.text() != "Reading…", timeout=30_000)
    d = page.data_config()
    assert (d.text_column, d.label_column) == ("review", "stars")
    assert "set from the file" in page.preview_status.text() or page.guessed
    assert not any(w.isVisibleTo(window) for w in page.problems.values())
    # no phantom names: every column dropdown offers only the file's columns
    for combo in (page.text_col, page.label_col):
        assert [combo.itemText(i) for i in range(combo.count())] == ["id", "review", "stars"]


def test_malformed_csv_shows_an_inline_message_at_the_source(window, qtbot, tmp_path):
    p = tmp_path / "broken.csv"
    p.write_bytes(b"\xff\xfe\x00garbage\x00\"unterminated,\n\x00\x01")
    page = window.data_page
    window.show_page("data")
    page.set_source(str(p))
    qtbot.waitUntil(lambda: page.preview_status.text() != "Reading…", timeout=30_000)
    shown = [w for w in [page.source_problem, *page.problems.values()] if w.isVisibleTo(window)]
    assert shown, "a malformed file must show a message next to a field"
    assert page.source_problem.isVisibleTo(window) and "UTF-8" in page.source_problem.text()
    assert page.table.rowCount() == 0


def test_preview_and_label_distribution(window, qtbot, tiny_csv):
    page = window.data_page
    page.set_source(str(tiny_csv))
    _wait_preview(qtbot, page)
    assert page.table.columnCount() == 2 and page.table.rowCount() == 20
    assert [page.table.horizontalHeaderItem(i).text() for i in range(2)] == ["text", "label"]
    labels = [page.dist_layout.itemAt(i, QFormLayout.ItemRole.LabelRole).widget().text()
              for i in range(page.dist_layout.rowCount())]
    assert labels == ["positive:", "negative:"]
    assert "24" in page.preview_status.text()


def test_drag_and_drop_a_file_onto_the_data_page(window, qtbot, tiny_csv):
    page = window.data_page
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tiny_csv))])
    ev = QDropEvent(QPoint(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    page.dropEvent(ev)
    assert page.train_edit.text() == str(tiny_csv)
    _wait_preview(qtbot, page)
    assert page.table.rowCount() > 0


def test_model_page_shows_facts(window, qtbot, tiny_dir):
    page = window.model_page
    page.refresh_sources()
    qtbot.waitUntil(lambda: page._sources_loaded, timeout=30_000)
    items = [page.list.item(i).data(0x0100) for i in range(page.list.count())]
    assert "builtin:minilm-l6" in items
    page.set_model(str(tiny_dir("bert")))
    qtbot.waitUntil(lambda: page.info is not None and page.info.source == str(tiny_dir("bert")), timeout=60_000)
    assert page.info_labels["Layers"].text() == "2"
    assert page.info_labels["Hidden size"].text() == "32"
    assert page.info_labels["Architecture"].text() != "—"
    assert "parameters" in page.info_labels["Bias terms"].text() or "no" in page.info_labels["Bias terms"].text()


def test_missing_model_is_an_inline_problem(window, qtbot, tmp_path):
    page = window.model_page
    window.show_page("model")
    page.set_model(str(tmp_path / "nope"))
    qtbot.waitUntil(lambda: page.problem.isVisibleTo(window), timeout=30_000)
    assert "not found" in page.problem.text()
    assert page.info_labels["Layers"].text() == "—"


def _step(i, total=20, extra=None, task=0, lr=None):
    return Step(step=i, total_steps=total, epoch=i / total, loss=1.0 / i, lr=lr or {"main": 1e-3},
                grad_norm=1.0, samples_per_second=50.0 + i, tokens_per_second=500.0,
                memory={"rss": 3e8 + i * 1e6}, elapsed=i * 0.1, eta=(total - i) * 0.1,
                extra=extra or {}, task=task)


def _started(cfg=None, total=20):
    return RunStarted(run_dir="/tmp/x", config=cfg or {"technique": {"name": "lora"}, "model": "m"},
                      trainable_params=10, total_params=100, device="cpu", precision="fp32", total_steps=total)


def test_layerwise_view_shows_trainable_groups_and_lr_per_group(window, qtbot):
    page = window.run_page
    window.show_page("run")
    page.begin("layerwise test")
    page.on_event(_started())
    groups = ["embeddings", "layer.0", "layer.1", "head"]
    for i in range(1, 11):
        lrs = {g: 1e-3 * (0.8 ** (3 - j)) for j, g in enumerate(groups)}
        page.on_event(_step(i, lr=lrs))
        if i in (1, 5, 10):
            n = {1: 1, 5: 2, 10: 4}[i]
            page.on_event(TechniqueState(step=i, state={"trainable_groups": groups[-n:], "lr_per_group": lrs}))
    page.plots.redraw()
    strip = page.plots.layers
    assert strip.isVisibleTo(window)
    assert list(strip.chips) == groups and strip.trainable == groups
    assert page.plots.point_counts()["lr"] == 40 and len(page.plots.lrs.series) == 4


def test_ewc_and_distillation_views_plot_their_two_losses(window):
    page = window.run_page
    window.show_page("run")
    for keys, title in ((("task_loss", "ewc_penalty"), "EWC"), (("kd_loss", "ce_loss"), "Distillation")):
        page.begin(title)
        for i in range(1, 8):
            page.on_event(_step(i, extra={keys[0]: 1.0 / i, keys[1]: 0.1 * i}))
        page.plots.redraw()
        assert page.plots.extra_plot.isVisibleTo(window)
        assert title in page.plots.extra_plot.getPlotItem().titleLabel.text
        assert set(page.plots.extra.series) == set(keys)
        assert page.plots.point_counts()["extra"] == 14


def test_continual_accuracy_matrix_fills_in_after_each_task(window):
    page = window.run_page
    window.show_page("run")
    page.begin("continual")
    cfg = {"technique": {"name": "continual"}, "model": "m",
           "tasks": [{"name": "sentiment"}, {"name": "topics"}, {"name": "spam"}]}
    page.on_event(_started(cfg))
    m = page.plots.matrix
    rows = [[0.9], [0.8, 0.85], [0.7, 0.8, 0.95]]
    for t in range(3):
        for i in range(1, 4):
            page.on_event(_step(t * 3 + i, task=t))
        page.on_event(Eval(step=t * 3 + 3, metrics={"accuracy": rows[t][-1], "eval_loss": 0.3}, task=t))
        matrix = [r + [None] * (3 - len(r)) for r in rows[: t + 1]]
        page.on_event(TaskFinished(task=t, task_name=cfg["tasks"][t]["name"], acc_matrix=matrix,
                                   metrics={"acc": sum(rows[t]) / len(rows[t]), "bwt": -0.05 * t}))
        assert m.isVisibleTo(window)
        assert m.filled() == sum(len(r) for r in rows[: t + 1])
    assert m.table.horizontalHeaderItem(1).text() == "on topics"
    assert m.table.item(2, 2).text() == "0.950"
    assert "ACC 0.817" in m.summary.text() and "BWT -0.100" in m.summary.text()
    # eval curves are labelled per task
    assert any("topics" in name for name in page.plots.metrics.series)


def test_language_model_sequence_shows_a_loss_matrix_with_forgetting(window):
    page = window.run_page
    window.show_page("run")
    page.begin("continual")
    cfg = {"technique": {"name": "ewc"}, "model": "m", "tasks": [{"name": "colors"}, {"name": "fruits"}]}
    page.on_event(_started(cfg))
    m = page.plots.matrix
    page.on_event(TaskFinished(task=0, task_name="colors", acc_matrix=[[1.0, 4.0]], matrix_metric="eval_loss",
                               metrics={"mean_loss": 1.0, "mean_perplexity": 2.72, "mean_forgetting": None}))
    page.on_event(TaskFinished(task=1, task_name="fruits", acc_matrix=[[1.0, 4.0], [1.5, 0.5]],
                               matrix_metric="eval_loss",
                               metrics={"mean_loss": 1.0, "mean_perplexity": 3.07, "mean_forgetting": 0.5}))
    assert "Eval loss matrix" in m.title.text()
    assert m.table.item(1, 0).text() == "1.500  (4.5)"  # loss and perplexity
    assert m.filled() == 4
    assert "forgetting (loss rise) +0.500" in m.summary.text() and "mean loss 1.000" in m.summary.text()
    # low loss is green: the best cell is greener than the worst
    assert m.table.item(1, 1).background().color().green() > m.table.item(0, 1).background().color().green()


def test_progress_bar_and_eta_follow_steps(window, qtbot):
    page = window.run_page
    window.show_page("run")
    page.begin("progress")
    page.on_event(_started(total=20))
    page.on_event(_step(1))
    assert page.progress.value() == 1  # the first step shows at once
    for i in range(2, 6):
        page.on_event(_step(i))
    # steps arriving faster than the view refreshes are coalesced: the latest one shows, once
    qtbot.waitUntil(lambda: page.progress.value() == 5, timeout=1000)
    assert page.progress.maximum() == 20
    # the ETA is the last step's (1.5 s), counting down on the app's clock until the next step
    assert "step 5 / 20" in page.timing.text() and page.timing.text().split("ETA ")[1][:4] in ("0:02", "0:01", "0:00")
    assert page.state == "running" and page.stop_button.isEnabled()


def test_preflight_panel_reports_for_the_tiny_model(window, qtbot, tiny_setup):
    window.load_config(tiny_setup("lora"))
    window.show_page("training")
    panel = window.training_page.preflight
    panel.button.click()
    qtbot.waitUntil(lambda: panel.report is not None or "failed" in panel.verdict.text(), timeout=120_000)
    assert panel.report is not None, panel.verdict.text()
    r = panel.report
    assert 0 < r.trainable_params < r.total_params
    assert f"({r.trainable_pct:.2f}%)" in panel.values["trainable"].text()
    assert r.memory["total"] == sum(r.memory[k] for k in ("weights", "gradients", "optimizer", "activations"))
    assert r.memory["activations"] > 0 and r.step_seconds and r.step_seconds > 0
    assert panel.values["epoch"].text() != "—"
    assert r.fits and "Fits" in panel.verdict.text()



def test_run_page_eta_covers_the_whole_plan_and_elapsed_the_loading(window):
    """The ETA beside the progress bar is the time of every pass still to come (Fisher, the
    evaluations, task 2), not the steps' own estimate; elapsed counts from Start (loading)."""
    from ftstudio.engine.events import Phase, Plan
    from ftstudio.gui.util import fmt_seconds
    from tests.test_plan import PHASES

    page = window.run_page
    window.show_page("run")
    t = [100.0]
    page.begin("ewc, two tasks")
    page.clock.now = lambda: t[0]
    page._t_begin = 90.0  # 10 s of loading and tokenizing behind us
    import ftstudio.gui.pages.run_page as rp

    real = rp.time.monotonic
    rp.time.monotonic = lambda: t[0]
    try:
        page.on_event(_started(total=20))
        page.on_event(Plan(phases=PHASES))
        page.on_event(Phase(index=0, name="evaluating"))
        t[0] = 102.0
        page.on_event(Phase(index=1, name="training", task=0))
        for s in range(1, 6):
            t[0] = 102.0 + s
            page.on_event(_step(s))  # each step's own eta: (20 - s) * 0.1 s
        page._show_step()
        expected = page.clock.eta()
        assert expected > 20  # Fisher, evaluations and task 2 included (the steps alone say 1.5 s)
        assert f"ETA {fmt_seconds(expected)}" in page.timing.text(), page.timing.text()
        assert f"elapsed {fmt_seconds(17.0)}" in page.timing.text()  # from Start, loading included
        assert page.phase == "training" and "evaluating" in page.phases
    finally:
        rp.time.monotonic = real


def test_lora_target_modules_show_the_default_for_the_chosen_model(window, qtbot, tiny_dir):
    """Empty target modules mean 'the usual choice for this architecture': the field says which."""
    page, tech = window.model_page, window.technique_page
    field = tech.panel_by_name["lora"].editors["target_modules"].widget
    for kind, names in (("bert", "query, value"), ("gpt2", "c_attn")):
        page.set_model(str(tiny_dir(kind)))
        qtbot.waitUntil(lambda: page.info is not None and page.info.source == str(tiny_dir(kind)), timeout=60_000)
        qtbot.waitUntil(lambda: names in field.placeholderText(), timeout=5_000)
        assert field.text() == ""  # a hint, not a value: the config still says 'the default'
