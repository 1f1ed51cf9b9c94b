#!/usr/bin/env python
"""Save a PNG of every page of the studio, and of a run in progress, into artifacts/gui/.

    python tests/gui/screenshots.py [--out artifacts/gui] [--steps 40] [--lang zh_CN]

Runs offscreen (QT_QPA_PLATFORM=offscreen unless a display is set) with the built-in demo
(MiniLM-L6 + the sentiment set + LoRA), a second short run for the comparison view, and a
prediction in the playground, a two-arm study on the Compare techniques page (pre-flight,
running, its chart), the dialogs (questions, the language notice, a user error, an unexpected
error with its details) and every menu opened. Then the problem cases a newcomer meets: the text column chosen as
the label (thousands of "classes"; Start disabled with the reason), a run no better than the
majority baseline, a stopped and resumed run (its earlier curves kept), and every page in a
1024×640 and an 800×600 window. Runs go to a scratch runs folder inside the output folder, and
the user's settings are not touched. Nothing here is needed by the app itself.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "artifacts" / "gui"))
    ap.add_argument("--steps", type=int, default=40, help="optimizer steps of the demo run")
    ap.add_argument("--size", default="1500x950")
    ap.add_argument("--lang", default="en", help="studio language: en or zh_CN (PNG names get a suffix)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = Path(tempfile.mkdtemp(prefix="runs-", dir=out))
    os.environ["FTSTUDIO_RUNS_DIR"] = str(runs)
    os.environ["XDG_STATE_HOME"] = str(out / "state")  # the crash dialog's log file stays in here too
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") and "QT_QPA_PLATFORM" not in os.environ:
        # the offscreen screen is 800×800 unless told otherwise, and the window keeps within it
        screen = out / "offscreen-screen.json"
        screen.write_text('{"screens": [{"name": "shots", "x": 0, "y": 0, "width": 1920, "height": 1200, '
                          '"logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}')
        os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={screen}"

    import ftstudio.gui  # noqa: F401  (the shiboken refcount fix first)
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication(["ftstudio"])
    from ftstudio.gui import i18n as gui_i18n

    os.environ["FTSTUDIO_LANG"] = gui_i18n.install(args.lang, app)
    suffix = "" if args.lang == "en" else f"-{args.lang}"
    from ftstudio.gui.main_window import MainWindow
    from ftstudio.gui.util import wait_for_jobs

    settings = QSettings(str(out / "settings.ini"), QSettings.IniFormat)
    settings.clear()
    w = MainWindow(settings=settings, restore=False)
    width, height = (int(x) for x in args.size.split("x"))
    w.resize(width, height)
    w.show()
    w.after_shown()

    def pump(seconds: float = 0.3, until=None, timeout: float = 120.0) -> None:
        t0 = time.time()
        while True:
            app.processEvents()
            time.sleep(0.01)
            if until is None and time.time() - t0 >= seconds:
                return
            if until is not None and (until() or time.time() - t0 > timeout):
                app.processEvents()
                return

    shots: list[str] = []

    def shot(name: str, widget=None) -> None:
        pump(0.4)
        p = out / f"{len(shots) + 1:02d}-{name}{suffix}.png"
        (widget or w).grab().save(str(p))
        shots.append(str(p))
        print("saved", p, flush=True)

    mp, dp, tp = w.model_page, w.data_page, w.technique_page
    pump(until=lambda: mp.info is not None and dp.preview is not None, timeout=180)
    w.show_page("model")
    shot("model-welcome")
    w.welcome.close_button.click()
    w.show_page("data")
    shot("data")
    w.show_page("technique")
    from ftstudio.techniques import all_techniques

    for cls in all_techniques():  # every technique's card and panel
        tp.select(cls.name)
        if cls.name == "continual":
            tp.sequence.add_task("builtin:topics")
        shot(f"technique-{cls.name}")
    tp.select("lora")
    tp.sequence.set_tasks(None)

    w.show_page("training")
    shot("training")
    w.training_page.max_steps.setValue(args.steps)
    w.training_page.eval_every.setValue(max(5, args.steps // 4))
    pf = w.training_page.preflight
    pf.button.click()
    pump(until=lambda: pf.report is not None or (pf.button.isEnabled() and pf.busy.isHidden()), timeout=300)
    shot("training-preflight")

    w.start()
    page = w.run_page
    pump(until=lambda: page.progress.value() >= max(3, args.steps // 2) or w.session is None, timeout=600)
    shot("run-in-progress")
    pump(until=lambda: w.session is None, timeout=900)
    shot("run-finished")

    # a second, different run to compare against
    tp.select("bitfit")
    w.training_page.lr.setText("5e-3")
    w.training_page.max_steps.setValue(max(4, args.steps // 2))
    w.start()
    pump(until=lambda: w.session is None, timeout=900)
    w.show_page("runs")
    rp = w.runs_page
    rp.refresh()
    rp.table.selectRow(0)
    shot("runs")
    for i in range(rp.tabs.count()):
        rp.tabs.setCurrentIndex(i)
        shot(f"runs-tab{i}")
    rp.tabs.setCurrentIndex(0)
    rp.select_runs([r.run_dir for r in rp.records])
    rp.compare_selected()
    shot("runs-compare")

    w.show_page("playground")
    pg = w.playground_page
    pg.refresh()
    pg.select_run(str(rp.records[-1].run_dir))
    pg.input.setPlainText("a wonderful, moving film with great acting")
    pg.predict()
    pump(until=lambda: pg.base.result is not None or bool(pg.problem.text()), timeout=300)
    shot("playground")
    pg.gen_controls.setVisible(True)  # what a text-generation run shows
    shot("playground-generation-controls")
    pg.gen_controls.setVisible(False)

    # -- compare techniques: a two-arm study, its pre-flight, running, and its chart -------------
    w.show_page("compare")
    cp = w.compare_page
    shot("compare-empty")
    cp.set_ticked(["lora", "bitfit"])
    cp.max_steps.setValue(max(4, args.steps // 2))
    shot("compare-setup")
    cp.run_preflight()
    pump(until=lambda: cp.preflight_button.isEnabled(), timeout=600)
    shot("compare-preflight")
    if cp.start():
        pump(until=lambda: cp.session is None or cp.queue_table.rowCount() and any(
            q["status"] == "running" for q in cp.queue), timeout=300)
        pump(3.0)
        shot("compare-running")
        pump(until=lambda: cp.session is None, timeout=1800)
        pump(until=lambda: cp.chart_filled(), timeout=30)
    shot("compare-study-finished")

    # -- dialogs: questions, the language notice, errors (a user error, a crash with details) --
    from PySide6.QtWidgets import QMessageBox

    def answer_no(parent, title, text, *a, **k):
        box = QMessageBox(QMessageBox.Question, title, text, QMessageBox.Yes | QMessageBox.No, parent)
        box.show()
        shot(f"dialog-question-{len(shots) + 1}", box)
        box.close()
        return QMessageBox.No

    def tell(parent, title, text, *a, **k):
        box = QMessageBox(QMessageBox.Information, title, text, QMessageBox.Ok, parent)
        box.show()
        shot(f"dialog-information-{len(shots) + 1}", box)
        box.close()
        return QMessageBox.Ok

    QMessageBox.question, QMessageBox.information = answer_no, tell
    w.demo_setup(ask=True)  # the setup was edited: "Replace the setup?"
    other = "en" if args.lang != "en" else "zh_CN"
    w.language_actions[other].trigger()  # "the studio will use … the next time it starts"
    w.language_actions[""].trigger()
    for m in w.menuBar().actions():  # each menu, opened
        menu = m.menu()
        menu.popup(w.mapToGlobal(w.menuBar().actionGeometry(m).bottomLeft()))
        shot(f"menu-{len(shots) + 1}", menu)
        menu.close()
    from ftstudio.engine.errors import UserError
    from ftstudio.gui import util

    w.show_page("training")
    good = w.training_page.lr.text()
    w.training_page.lr.setText("abc")
    try:
        w.build_config()
    except UserError as e:  # the studio's own message
        box = util.show_error(w, e)
        shot("dialog-error-bad-learning-rate", box)
        box.close()
    w.training_page.lr.setText(good)
    from dataclasses import replace

    try:  # the engine's message for the same kind of mistake
        cfg = w.build_config()
        replace(cfg, training=replace(cfg.training, learning_rate=2.0)).validate()
    except UserError as e:
        box = util.show_error(w, e)
        shot("dialog-error-engine", box)
        box.close()
    import traceback

    try:
        raise RuntimeError("CUDA error: device-side assert triggered")
    except RuntimeError as e:
        box = util.show_error(w, util.ErrorInfo(e, traceback.format_exc()))
        box.details_button.click()
        shot("dialog-unexpected-error-details", box)
        box.close()

    # -- the problem cases ---------------------------------------------------------------------
    from ftstudio.gui import util

    # the text column as the label: every row its own class
    w.show_page("data")
    dp.label_col.set_value("text")
    dp._mapping_changed()
    pump(until=lambda: not dp._timer.isActive() and dp.preview is not None
         and dp.preview_status.text() != dp.tr("Reading…") and not w.validation.pending, timeout=120)
    pump(1.0)
    shot("problem-label-is-text")
    box = util.show_error(w, "column 'text' has " + ", ".join(f"'review {i}'" for i in range(400)))
    shot("problem-long-error-dialog", box)
    box.close()
    dp.label_col.set_value("label")
    dp._mapping_changed()

    # a run no better than the majority baseline (the summary keys the engine writes)
    rp.refresh()
    last = dict(rp.records[0].summary)
    base = {"label": "negative", "accuracy": last.get("accuracy", 0.5)}
    page.begin("majority-class run")
    page.end("finished", {**last, "baseline": base, "beats_baseline": False})
    w.show_page("run")
    shot("problem-majority-class-run")

    # stop a run, resume it: the earlier curve stays, elapsed counts both sessions
    tp.select("lora")
    w.training_page.max_steps.setValue(args.steps)
    w.start()
    pump(until=lambda: page.progress.value() >= max(3, args.steps // 3) or w.session is None, timeout=600)
    w.stop()
    pump(until=lambda: w.session is None, timeout=300)
    shot("problem-stopped")
    stopped_at = page.progress.value()
    page.resume_button.click()
    pump(until=lambda: page.progress.value() >= stopped_at + 5 or w.session is None, timeout=600)
    shot("problem-resumed-run")
    pump(until=lambda: w.session is None, timeout=900)
    shot("problem-resumed-finished")

    # a small screen: 1024×640, every page
    w.resize(1024, 640)
    for key in w.pages:
        w.show_page(key)
        shot(f"small-1024x640-{key}")
    # 800×600: nothing scrolls sideways (panes stack, button rows wrap)
    w.resize(800, 600)
    for key in w.pages:
        w.show_page(key)
        shot(f"small-800x600-{key}")
    w.show_page("technique")
    tp.select("distillation")
    shot("small-800x600-technique-distillation")

    wait_for_jobs(30000)
    w.close()
    print(f"{len(shots)} screenshots in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
