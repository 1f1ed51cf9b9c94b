"""The studio as a newcomer meets it: nothing picked can grow the window past the screen, dialogs
stay one line, validation disables Start with its reason, pre-flight goes stale, closing during a
run returns at once, the first launch welcomes, labels show their names."""
from __future__ import annotations

import csv
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QMessageBox

from ftstudio.engine.validate import Problem, Validation


def _screen(w):
    return w.screen().availableGeometry()


def _wait_preview(qtbot, page):
    qtbot.waitUntil(lambda: page.preview is not None and page.preview_status.text() != "Reading…"
                    and not page._timer.isActive(), timeout=60_000)


# -- nothing a user picks can break the window ---------------------------------------------------
def test_label_is_the_text_column_keeps_the_window_on_screen(window, qtbot, tmp_path):
    p = tmp_path / "many.csv"
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(5000):
            w.writerow([f"review number {i}: " + "a rather long sentence that goes on and on " * 3,
                        "pos" if i % 2 else "neg"])
    page = window.data_page
    window.show_page("data")
    page.label_col.set_value("text")  # the newcomer's slip: every row is its own class
    page.set_source(str(p))
    _wait_preview(qtbot, page)
    for _ in range(3):  # later refreshes must not widen it either
        page.refresh_preview()
        _wait_preview(qtbot, page)
        qtbot.wait(50)
    scr = _screen(window)
    assert window.frameGeometry().width() <= scr.width()
    assert window.frameGeometry().height() <= scr.height()
    assert window.minimumSizeHint().width() <= scr.width()
    # the distribution shows the top 20 and how many others, with short names
    rows = page.dist_layout.rowCount()
    assert rows == 21
    last = page.dist_layout.itemAt(rows - 1, QFormLayout.ItemRole.LabelRole).widget().text()
    assert last == "4,980 others:"
    first = page.dist_layout.itemAt(0, QFormLayout.ItemRole.LabelRole).widget().text()
    assert len(first) <= 34


def test_error_dialog_is_one_line_with_capped_details(window, qtbot):
    from ftstudio.gui import util

    long = "a column has these values: " + ", ".join(f"value{i}" for i in range(1000))
    box = util.show_error(window, long + "\nsecond line\nthird line")
    qtbot.waitUntil(box.isVisible)
    scr = _screen(window)
    assert box.frameGeometry().height() <= scr.height() and box.width() <= scr.width()
    assert "\n" not in box.message.text() and len(box.message.text()) <= util.MESSAGE_CHARS
    assert "second line" in box.details.toPlainText()  # nothing is lost: it is in the details
    box.details_button.click()
    qtbot.waitUntil(box.details.isVisible)
    box.adjustSize()
    assert box.height() <= scr.height() and box.details.height() <= 220
    box.close()
    # a traceback of hundreds of lines: the details scroll inside their capped area, and even
    # a dialog pulled taller than the screen stays on it
    tb = "Traceback (most recent call last):\n" + "".join(f'  File "x.py", line {i}, in f\n    g()\n' for i in range(400))
    box = util.MessageDialog(window, "ftstudio", "Something went wrong", tb)
    box.show()
    box.details_button.click()
    qtbot.waitUntil(box.details.isVisible)
    box.resize(box.width(), 3 * scr.height())
    qtbot.wait(20)
    assert box.frameGeometry().height() <= scr.height()
    assert box.details.height() <= 220 and box.details.verticalScrollBar().maximum() > 0
    box.close()


def test_small_screens_every_page_scrolls_instead_of_clipping(window, qtbot):
    window.resize(1024, 640)
    for key in ("model", "data", "technique", "training", "run", "runs", "playground"):
        window.show_page(key)
        qtbot.wait(20)
        frame = window.frames[key]
        assert frame.widget() is window.pages[key]
        # the page is never squeezed below what it needs: it scrolls instead
        need = window.pages[key].minimumSizeHint()
        got = window.pages[key].size()
        assert got.width() >= need.width() and got.height() >= need.height(), key
    assert window.width() <= 1024


# -- validation ----------------------------------------------------------------------------------
def _activate(window, fn):
    window.validation.validate_fn = fn
    window.validation.activate()


def test_start_is_disabled_with_the_first_errors_reason(window, qtbot):
    calls = []

    def fake_validate(cfg, *, progress=None, cancel=None):
        calls.append(cfg.data.label_column)
        v = Validation()
        if cfg.data.label_column == "text":
            v.problems.append(Problem("error", "data", "data.label_column",
                                      "the label column 'text' is the text column: pick the column holding the labels"))
        v.problems.append(Problem("warning", "data", None, "classes are imbalanced: 90% 'ham'"))
        return v

    _activate(window, fake_validate)
    qtbot.waitUntil(lambda: window.validation.result is not None and not window.validation.pending, timeout=20_000)
    assert window.start_action.isEnabled()  # a warning shows but does not block
    assert "imbalanced" in window.problem_panels["data"].text()
    window.data_page.label_col.set_value("text")
    window.data_page._mapping_changed()
    qtbot.waitUntil(lambda: not window.start_action.isEnabled(), timeout=20_000)
    assert "is the text column" in window.start_action.toolTip()
    assert "is the text column" in window.start_reason.text() and window.start_reason.isVisibleTo(window)
    assert "is the text column" in window.problem_panels["data"].text()
    window.show_page("data")
    assert window.problem_panels["data"].isVisibleTo(window)
    assert not window.problem_panels["model"].problems
    assert not window.start()  # pressing it anyway explains instead of training
    assert window.session is None and window.current_page() == "data"
    window.data_page.label_col.set_value("label")
    window.data_page._mapping_changed()
    qtbot.waitUntil(window.start_action.isEnabled, timeout=20_000)
    assert not window.start_reason.isVisibleTo(window)


def test_real_validation_runs_in_the_background(window, qtbot):
    window.validation.activate()
    qtbot.waitUntil(lambda: window.validation.result is not None and not window.validation.pending, timeout=60_000)
    assert window.validation.result.ok, [p.message for p in window.validation.result.problems]
    window.training_page._other.max_grad_norm = -1.0  # a value the engine's validation refuses
    window.training_page.changed.emit()
    qtbot.waitUntil(lambda: not window.start_action.isEnabled(), timeout=60_000)
    assert "max_grad_norm" in window.start_action.toolTip()


# -- pre-flight ----------------------------------------------------------------------------------
def _report(**kw):
    from ftstudio.engine.preflight import PreflightReport

    d = dict(trainable_params=10, total_params=100, trainable_pct=10.0,
             memory={"weights": 1, "gradients": 1, "optimizer": 1, "activations": 1, "total": 4},
             available_bytes=1000, step_seconds=0.5, epoch_seconds=10.0, fits=True, steps_per_epoch=20)
    d.update(kw)
    return PreflightReport(**d)


def test_preflight_goes_stale_when_the_setup_changes_and_estimates_the_run(window):
    pf = window.training_page.preflight
    window.training_page.max_steps.setValue(0)
    window.training_page.epochs.setValue(3)
    pf.cfg = window.build_config()
    pf.show_report(_report())
    assert pf.state == "done" and "Ready" in pf.verdict.text()
    assert pf.values["run"].text().startswith("0:30")  # 3 epochs × 10 s
    window.training_page.max_steps.setValue(10)  # half an epoch
    assert pf.state == "stale" and "run it again" in pf.verdict.text()
    assert not pf.values["epoch"].isEnabled()
    pf.cfg = window.build_config()
    pf.show_report(_report())
    assert pf.values["run"].text().startswith("0:05")  # 10 of 20 steps per epoch
    window.demo_setup(ask=False)  # loading the demo also makes the numbers stale
    assert pf.state == "stale"


def test_preflight_can_be_cancelled_and_shows_progress_not_old_numbers(window, qtbot, monkeypatch):
    import threading

    from ftstudio.engine import preflight as engine_pf

    release = threading.Event()

    def slow(cfg, measure_step=True, progress=None, **_):
        progress("Loading the model", 1, 4)
        release.wait(20)
        progress("Timing one step", 2, 4)  # raises Cancelled once cancelled
        return _report()

    monkeypatch.setattr(engine_pf, "preflight", slow)
    pf = window.training_page.preflight
    pf.cfg = window.build_config()
    pf.show_report(_report())
    pf.run()
    assert pf.values["trainable"].text() == "…"  # not the previous setup's numbers
    qtbot.waitUntil(lambda: "Loading the model" in pf.phase.text(), timeout=10_000)
    assert not pf.cancel_button.isHidden()
    t0 = time.monotonic()
    pf.cancel_button.click()
    assert time.monotonic() - t0 < 0.5
    assert pf.state == "cancelled" and pf.button.isEnabled() and "cancelled" in pf.verdict.text()
    release.set()
    qtbot.wait(300)
    assert pf.report is None and pf.state == "cancelled"  # the late answer is dropped


# -- closing during training ---------------------------------------------------------------------
def test_closing_during_training_returns_at_once_and_checkpoints(window, qtbot, tiny_setup, monkeypatch):
    stopped = {}

    def slow_train(cfg, subscribers=(), cancel=None, resume=None):
        while not cancel.cancelled:
            time.sleep(0.02)
        time.sleep(1.5)  # writing the checkpoint
        stopped["at"] = time.monotonic()
        return {"status": "cancelled"}

    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.Yes))
    window.train_fn = slow_train
    window.load_config(tiny_setup("lora"))
    assert window.start()
    qtbot.wait(100)
    t0 = time.monotonic()
    window.close()
    assert time.monotonic() - t0 < 0.5  # the dialog's Yes returns at once
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=2000)
    assert time.monotonic() - t0 < 2.0
    qtbot.waitUntil(lambda: window.session is None, timeout=10_000)
    assert "at" in stopped  # the run was allowed to stop and checkpoint
    assert window.settings.value("window/page")  # settings saved


# -- guidance ------------------------------------------------------------------------------------
def test_first_launch_opens_on_page_one_with_a_welcome(qtbot, settings):
    from ftstudio.gui.main_window import MainWindow

    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show()
    assert w.current_page() == "model"
    assert w.welcome.isVisibleTo(w) and "press" in w.welcome.text.text() and "Start" in w.welcome.text.text()
    for page in ("Model", "Data", "Technique", "Training", "Runs", "Playground"):
        assert page in w.welcome.text.text()
    w.welcome.close_button.click()
    assert not w.welcome.isVisibleTo(w)
    w.close()
    w2 = MainWindow(settings=settings)
    qtbot.addWidget(w2)
    assert not w2.welcome.isVisibleTo(w2)


def test_demo_setup_asks_before_replacing_a_changed_setup(window, monkeypatch):
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        staticmethod(lambda *a, **k: asked.append(a) or QMessageBox.No))
    assert window.demo_setup()  # unchanged: no question
    assert not asked
    window.training_page.batch.setValue(7)
    assert not window.demo_setup()
    assert asked and window.training_page.batch.value() == 7  # kept
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.Yes))
    assert window.demo_setup()
    assert window.training_page.batch.value() != 7


def test_setup_pages_say_edits_apply_to_the_next_run(window, qtbot, tiny_setup):
    def wait_train(cfg, subscribers=(), cancel=None, resume=None):
        while not cancel.cancelled:
            time.sleep(0.02)
        return {"status": "cancelled"}

    window.train_fn = wait_train
    window.load_config(tiny_setup("lora"))
    assert window.start()
    window.show_page("technique")
    assert window.notice.isVisibleTo(window) and "next run" in window.notice.text()
    window.show_page("run")
    assert not window.notice.isVisibleTo(window)
    window.stop()
    qtbot.waitUntil(lambda: window.session is None, timeout=10_000)
    window.show_page("technique")
    assert not window.notice.isVisibleTo(window)


def test_label_names_from_labels_txt(window, qtbot, tmp_path):
    d = tmp_path / "spam"
    d.mkdir()
    (d / "labels.txt").write_text("ham\nspam\n", encoding="utf-8")
    with open(d / "train.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(10):
            w.writerow([f"message {i}", 1 if i < 2 else 0])
    page = window.data_page
    page.set_source(str(d / "train.csv"))
    _wait_preview(qtbot, page)
    names = [page.dist_layout.itemAt(i, QFormLayout.ItemRole.LabelRole).widget().text()
             for i in range(page.dist_layout.rowCount())]
    assert names == ["ham (0):", "spam (1):"]
    col = [page.table.horizontalHeaderItem(j).text() for j in range(page.table.columnCount())].index("label")
    assert page.table.item(0, col).text() == "1 (spam)"


def test_causal_lm_mapping_finds_alpaca_columns_and_shows_the_first_row(window, qtbot, tmp_path):
    import json

    p = tmp_path / "alpaca.jsonl"
    with open(p, "w", encoding="utf-8") as f:
        f.write(json.dumps({"instruction": "Translate to French", "input": "good morning", "output": "bonjour"}) + "\n")
        f.write(json.dumps({"instruction": "Name a color", "input": "", "output": "blue"}) + "\n")
    page = window.data_page
    window.show_page("data")
    page.task_combo.setCurrentIndex(page.task_combo.findData("causal-lm"))
    page.set_source(str(p))
    _wait_preview(qtbot, page)
    assert not page.text_col.isVisibleTo(window)  # text generation reads prompt/response, not "text"
    qtbot.waitUntil(lambda: "bonjour" in page.example_view.toPlainText(), timeout=30_000)
    ex = page.example_view.toPlainText()
    assert page.example_view.isVisibleTo(window)
    assert "Translate to French" in ex and "good morning" in ex  # the input folded into the prompt


# -- 800×600: no page scrolls sideways, nothing is cut at the right ------------------------------
def _sideways(window, where: str) -> list[str]:
    """What on the current page needs horizontal scrolling or reaches past the right edge of the
    view it sits in (the page's frame, or a scroll area inside it)."""
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QAbstractItemView, QAbstractScrollArea, QApplication, QScrollArea, QWidget

    QApplication.processEvents()
    key = window.current_page()
    frame, page = window.frames[key], window.pages[key]
    bad = []
    for area in [frame, *page.findChildren(QScrollArea)]:
        if area.isVisible() and area.horizontalScrollBar().maximum() > 0:
            bad.append(f"{where}: {key}: a sideways scroll bar ({area.horizontalScrollBar().maximum()} px)")
    for w in page.findChildren(QWidget):
        if not w.isVisible() or w.width() <= 0:
            continue
        view, p = None, w.parentWidget()
        while p is not None and view is None:
            gp = p.parentWidget()
            if isinstance(gp, QAbstractScrollArea) and p is gp.viewport():
                view = p if not isinstance(gp, QAbstractItemView) else None
                if view is None:
                    break
            p = gp
        if view is None:
            continue
        right = w.mapTo(view, QPoint(w.width(), 0)).x()
        if right > view.width() + 1:
            text = w.text() if hasattr(w, "text") and callable(w.text) else w.objectName()
            bad.append(f"{where}: {key}: {type(w).__name__} {text!r} ends at {right} of {view.width()} px")
    return bad


def _skip_without_font(lang: str) -> None:
    from ftstudio.gui import i18n as gui_i18n

    if gui_i18n.missing_font(lang):  # the widths of missing-glyph boxes say nothing about the layout
        pytest.skip("no font with Chinese characters on this machine (e.g. apt-get install fonts-noto-cjk): "
                    "the studio says so at start; Chinese layout not measurable here")


def _window_800x600(qtbot, settings):
    from ftstudio.gui.main_window import MainWindow

    w = MainWindow(settings=settings, restore=False)
    qtbot.addWidget(w)
    w.resize(800, 600)
    w.show()
    qtbot.waitExposed(w)
    assert 760 <= w.width() <= 800  # (the offscreen screen is 800×600 itself)
    return w


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_at_800x600_no_page_scrolls_sideways(qtbot, qapp, settings, lang):
    from ftstudio.gui import i18n as gui_i18n
    from ftstudio.gui.util import wait_for_jobs, warm_imports
    from ftstudio.techniques import all_techniques

    _skip_without_font(lang)
    warm_imports()
    gui_i18n.install(lang, qapp)
    try:
        w = _window_800x600(qtbot, settings)
        _wait_preview(qtbot, w.data_page)  # the label distribution and preview table are in
        bad: list[str] = []
        for key in w.pages:
            w.show_page(key)
            qtbot.wait(30)
            bad += _sideways(w, "default")
        w.show_page("technique")
        for cls in all_techniques():
            w.technique_page.select(cls.name)
            bad += _sideways(w, cls.name)
        w.show_page("compare")
        for name, (cb, _panel, _box) in w.compare_page.arms.items():
            cb.setChecked(True)
            w.findChild(type(w.compare_page.start_button), f"arm_params_{name}").setChecked(True)
        qtbot.wait(30)
        bad += _sideways(w, "every arm with its parameters")
        w.show_page("data")
        w.data_page.task_combo.setCurrentIndex(w.data_page.task_combo.findData("causal-lm"))
        qtbot.wait(30)
        bad += _sideways(w, "text generation")
        assert not bad, "\n".join(bad)
        wait_for_jobs(60_000)
    finally:
        gui_i18n.install("en", qapp)


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_finished_run_page_fits_800x600(qtbot, qapp, settings, lang):
    """After a run the page holds its longest texts (the verdict against the majority baseline,
    the run's facts with its folder, the step/elapsed line, the memory comparison): at 800×600
    they wrap instead of pushing the page sideways."""
    from ftstudio.gui import i18n as gui_i18n

    _skip_without_font(lang)
    gui_i18n.install(lang, qapp)
    try:
        w = _window_800x600(qtbot, settings)
        run_dir = "/home/someone/Documents/machine-learning/experiments/ftstudio/runs/20261203-192911-lora-minilm-l6"
        page = w.run_page
        w.show_page("run")
        page.begin("lora · builtin:minilm-l6 · trainable 74.50K / 22.64M (0.33%) · cpu fp32 · 480 steps · "
                   + run_dir)
        from ftstudio.engine.events import RunStarted, Step

        page.on_event(RunStarted(run_dir=run_dir, config={"technique": {"name": "lora"}, "model": "builtin:minilm-l6"},
                                 trainable_params=74498, total_params=22640000, device="cpu", precision="fp32",
                                 total_steps=480))
        assert run_dir in page.facts.text()  # the whole folder, wrapped
        page.on_event(Step(step=480, total_steps=480, epoch=1.0, loss=0.31, lr={"all": 1e-4}, grad_norm=0.5,
                           samples_per_second=123.4, tokens_per_second=1600.0, memory={"rss": 7.5e8},
                           elapsed=75.0, eta=0.0))
        page.end("finished", {"accuracy": 0.8154, "macro_f1": 0.8131, "eval_loss": 0.4321,
                              "baseline": {"accuracy": 0.5092, "label": "positive"}, "beats_baseline": True,
                              "run_dir": run_dir, "memory_estimate_bytes": 205.8 * 2**20,
                              "measured_memory_bytes": 148.3 * 2**20})
        qtbot.wait(50)
        bad = _sideways(w, "finished run")
        assert not bad, "\n".join(bad)
        assert "0.8154" in page.status.text()
        from ftstudio.gui.util import wait_for_jobs

        wait_for_jobs(60_000)  # the window's background jobs (torch's import) end inside the test
    finally:
        gui_i18n.install("en", qapp)
