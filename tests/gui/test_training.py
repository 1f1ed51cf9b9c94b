"""Real training through the QThread worker: plots, progress, history, stop/resume, playground,
compare — with the tiny BERT so each run takes seconds."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QTimer

from ftstudio.engine.store import latest_checkpoint, list_runs, read_json, read_metrics


class StallMeter:
    """Longest gap between ticks of a 10 ms timer: how long the event loop was blocked, against
    how long it was watched (``wall``). A watchdog thread records what the GUI thread was doing
    during a stall (shown when the assert fails)."""

    def __init__(self) -> None:
        import sys
        import threading
        import traceback

        self.t0 = self.last = time.perf_counter()
        self.wall = 0.0
        self.worst = 0.0
        self.where: list[str] = []
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self.tick)
        self.timer.start()
        main = threading.get_ident()
        self.running = True

        def watch() -> None:
            while self.running:
                time.sleep(0.1)
                if time.perf_counter() - self.last > 0.4 and len(self.where) < 5:
                    frame = sys._current_frames().get(main)
                    if frame is not None:
                        self.where.append("".join([l for l in traceback.format_stack(frame) if "ftstudio" in l or "tests" in l or "pyqtgraph" in l][-6:]))

        threading.Thread(target=watch, daemon=True).start()

    def stop(self) -> None:
        self.timer.stop()
        self.running = False
        self.wall = time.perf_counter() - self.t0

    def responsive(self) -> bool:
        """The loop never stood still for a large part of the run. Load-proof: a machine 4x
        overloaded stretches the stalls and the run alike (a stall here is a few tenths of a
        second of a run of seconds); training on the GUI thread blocks it for nearly all of it."""
        # 0.8: with cached tokens and packed batches the tiny run lasts ~1 s, and one plot paint
        # on a loaded box takes ~0.5 s of it; training on the GUI thread stalls ~all of it
        return self.worst < max(0.5, 0.8 * self.wall)

    def tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self.last)
        self.last = now


def _train(window, qtbot, cfg, timeout=180_000):
    window.load_config(cfg)
    assert window.start()
    assert window.current_page() == "run"
    qtbot.waitUntil(lambda: window.session is None, timeout=timeout)
    return window.run_page


def test_short_training_fills_plots_progress_and_history(window, qtbot, tiny_setup):
    cfg = tiny_setup("lora", max_steps=12, eval_every=4)  # builds the tiny model (not the GUI's time)
    window.run_page.plots  # noqa: B018 - built once (after_shown does it in the app), not the run's stall
    window.show_page("run")
    window.run_page.repaint()  # the plots' first paint (fonts, axes: ~1 s on a loaded box) is not the run's either
    window.show_page("model")
    meter = StallMeter()
    page = _train(window, qtbot, cfg)
    meter.stop()
    assert page.state == "finished", page.log_text()
    counts = page.plots.point_counts()
    assert counts["loss"] == 12 and counts["loss_smoothed"] == 12
    assert counts["lr"] >= 12 and counts["memory"] >= 12 and counts["speed"] == 12
    assert counts["metric"] >= 2  # eval at steps 4, 8 + the final evaluation
    assert page.plots.drawn_points("loss") == 12  # handed to pyqtgraph, not just buffered
    assert page.progress.maximum() == 12 and page.progress.value() == 12
    assert "run folder:" in page.log_text()
    # the run is in the history, and its summary on disk says finished
    runs = list_runs()
    assert len(runs) == 1 and runs[0].status == "finished"
    window.show_page("runs")
    table = window.runs_page.table
    assert table.rowCount() == 1
    assert table.item(0, 1).text() == "finished" and table.item(0, 2).text() == "lora"
    # opening it shows its curves from metrics.jsonl
    table.selectRow(0)
    assert window.runs_page.curves.point_counts()["loss"] == 12
    assert "technique" in window.runs_page.config_text.toPlainText()
    # the event loop never froze for long while training ran on the worker thread
    assert meter.responsive(), (f"event loop stalled {meter.worst:.2f}s of {meter.wall:.2f}s in:\n"
                                + "\n".join(meter.where))


def test_playground_answers_for_a_finished_run(window, qtbot, tiny_setup):
    _train(window, qtbot, tiny_setup("lora", max_steps=4))
    window.show_page("playground")
    pg = window.playground_page
    assert pg.current_run() is not None
    assert not pg.gen_controls.isVisibleTo(window)  # generation controls are for text-generation runs
    assert pg.predict_button.text().startswith("Predict")
    pg.input.setPlainText("a wonderful , moving story")
    pg.predict_button.click()
    qtbot.waitUntil(lambda: pg.tuned.result is not None and pg.base.result is not None, timeout=60_000)
    for box in (pg.tuned, pg.base):
        assert box.result["label"] in ("positive", "negative")
        assert set(box.result["probabilities"]) == {"positive", "negative"}
        assert box.headline.text().startswith(box.result["label"])
        assert box.probs.rowCount() == 2  # one probability bar per label
    # the right-hand box is the base model's own answer, not the tuned one's again
    import pytest

    from ftstudio.engine.predict import Predictor

    pred = Predictor(pg.current_run())
    for box, fn in ((pg.tuned, pred.predict), (pg.base, pred.predict_base)):
        want = fn("a wonderful , moving story")["probabilities"]
        assert box.result["probabilities"] == pytest.approx(want, abs=1e-4), box.objectName()


def test_stop_keeps_the_checkpoint_and_resume_finishes(window, qtbot, tiny_setup):
    page = window.run_page
    window.load_config(tiny_setup("full", max_steps=400))
    assert window.start()
    qtbot.waitUntil(lambda: page.progress.value() >= 30, timeout=120_000)  # late enough that a spike would show
    page.stop_button.click()
    assert page.state == "stopping"
    qtbot.waitUntil(lambda: window.session is None, timeout=60_000)
    assert page.state == "cancelled", page.log_text()
    run_dir = Path(page.run_dir)
    summary = read_json(run_dir / "summary.json")
    assert summary["status"] == "cancelled" and summary["steps"] < 400
    assert latest_checkpoint(run_dir) is not None
    assert page.resume_button.isEnabled()
    stopped_at = summary["steps"]
    # resume from the run page: continues at the checkpoint's step, in the same folder
    window.load_config(tiny_setup("full", max_steps=400))
    page.resume_button.click()
    qtbot.waitUntil(lambda: page.progress.value() > stopped_at + 1, timeout=120_000)
    xs = list(page.plots.loss_raw.x)
    assert xs[0] == 1 and max(xs) > stopped_at  # the earlier curve, continued (not restarted)
    assert all(b > a for a, b in zip(xs, xs[1:]))  # no step twice, no gap back to step 1
    assert page.elapsed() >= summary["wall_seconds"]  # the earlier session's time counts
    window.stop()
    qtbot.waitUntil(lambda: window.session is None, timeout=60_000)
    # no throughput spike at the first step after the resume (the earlier samples are not this
    # session's); read once the run has stopped: step lines reach the file within a second
    speeds = [d["samples_per_second"] for d in read_metrics(run_dir) if d.get("event") == "step"]
    before, after = speeds[:stopped_at], speeds[stopped_at:]
    assert after and max(after[:2]) < 3 * max(before), (before, after)
    assert Path(page.run_dir) == run_dir
    assert len(list_runs()) == 1


def test_compare_view_shows_two_runs(window, qtbot, tiny_setup):
    _train(window, qtbot, tiny_setup("lora", max_steps=6))
    _train(window, qtbot, tiny_setup("bitfit", max_steps=6, learning_rate=5e-3))
    window.show_page("runs")
    rp = window.runs_page
    assert rp.table.rowCount() == 2
    rp.select_runs([r.run_dir for r in rp.records])
    assert rp.compare_button.isEnabled()
    rp.compare_button.click()
    assert rp.tabs.currentIndex() == 3
    assert rp.compare_curves.curves["loss"] == 2
    assert rp.compare_table.columnCount() == 2
    techniques = {rp.compare_table.item(0, j).text() for j in range(2)}
    assert techniques == {"lora", "bitfit"}
    pct_row = [rp.compare_table.verticalHeaderItem(i).text() for i in range(rp.compare_table.rowCount())]
    assert "Trainable %" in pct_row and "Peak memory" in pct_row
    # delete one: the history and the folder go
    victim = rp.records[0]
    rp.delete_runs([victim])
    assert not Path(victim.run_dir).exists()
    assert rp.table.rowCount() == 1


def test_engine_error_is_a_readable_message_and_the_app_keeps_working(window, qtbot, tiny_setup, tmp_path):
    from ftstudio.gui import util

    bad = tiny_setup("lora", max_steps=2)
    bad.model = str(tmp_path / "no-such-model")
    n = len(util.last_error)
    _train(window, qtbot, bad, timeout=60_000)
    assert window.run_page.state == "failed"
    assert len(util.last_error) > n and "Traceback" not in util.last_error[-1]
    assert window.start_action.isEnabled()
    # ...and a good run still works afterwards
    _train(window, qtbot, tiny_setup("lora", max_steps=2))
    assert window.run_page.state == "finished"


def test_causal_lm_run_and_playground_generation(window, qtbot, tiny_dir, tmp_path):
    import json

    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig

    p = tmp_path / "instr.jsonl"
    with open(p, "w", encoding="utf-8") as f:
        for i in range(16):
            f.write(json.dumps({"instruction": "name a color .", "response": "blue"}) + "\n")
    cfg = RunConfig(model=str(tiny_dir("gpt2")), task="causal-lm", data=DataConfig(train=str(p)),
                    technique=TechniqueConfig("lora"),
                    training=TrainingConfig(max_steps=3, batch_size=4, learning_rate=1e-3, max_length=128,
                                            eval_every=None))
    window.load_config(cfg)
    assert window.data_page.task() == "causal-lm"
    assert window.data_page.prompt_col.isVisibleTo(window.data_page)
    assert not window.data_page.label_col.isVisibleTo(window.data_page)
    page = _train(window, qtbot, window.build_config())
    assert page.state == "finished", page.log_text()
    assert page.plots.point_counts()["loss"] == 3
    window.show_page("playground")
    pg = window.playground_page
    pg.input.setPlainText("name a color .")
    pg.predict()
    qtbot.waitUntil(lambda: pg.tuned.result is not None and pg.base.result is not None, timeout=60_000)
    assert "text" in pg.tuned.result and pg.tuned.text.isVisibleTo(window)
    assert pg.tuned.headline.text().startswith("Generated:")
    assert pg.predict_button.text().startswith("Generate")
    assert pg.base.text.isVisibleTo(window) and pg.base.result["text"] == pg.base.text.toPlainText()
    # generation controls (text-generation runs only), streamed tokens, the token limit
    assert pg.gen_controls.isVisibleTo(window)
    assert not pg.gen_controls.temperature.isEnabled()  # greedy: sampling knobs off
    pg.gen_controls.greedy.setChecked(False)
    assert pg.gen_controls.temperature.isEnabled()
    pg.gen_controls.greedy.setChecked(True)
    pg.gen_controls.max_new_tokens.setValue(4)
    streamed: list[str] = []
    orig = pg.tuned.show_stream
    pg.tuned.show_stream = lambda t: (streamed.append(t), orig(t))
    pg.tuned.result = pg.base.result = None
    pg.predict()
    qtbot.waitUntil(lambda: pg.tuned.result is not None and pg.base.result is not None, timeout=60_000)
    assert pg.tuned.result["tokens"] <= 4
    assert streamed and streamed[-1].strip() == pg.tuned.result["text"]
    assert pg.tuned.text.toPlainText() == pg.tuned.result["text"]
    pg.gen_controls.greedy.setChecked(False)
    pg.gen_controls.top_p.setValue(0.0)  # clamped to the spin box minimum, so still valid
    assert pg.gen_controls.settings().top_p == 0.01
