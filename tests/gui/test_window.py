"""The window: pages, the demo setup, the generated technique panels, YAML and settings."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from ftstudio.engine.config import RunConfig
from ftstudio.techniques import all_techniques, build_params, get_technique, param_specs


def test_window_opens_with_the_demo_selected(window):
    assert window.isVisible()
    assert window.model_page.model() == "builtin:minilm-l6"
    assert window.data_page.train_edit.text() == "builtin:sentiment"
    assert window.technique_page.technique() == "lora"
    assert window.training_page.lr.text() == "0.002"
    cfg = window.build_config()
    assert (cfg.model, cfg.data.train, cfg.technique.name) == ("builtin:minilm-l6", "builtin:sentiment", "lora")
    assert window.start_action.isEnabled()
    # every page is reachable from the navigation
    for key in ("model", "data", "technique", "training", "run", "runs", "playground"):
        window.show_page(key)
        assert window.stack.currentWidget().widget() is window.pages[key]


def test_window_shows_fast_without_heavy_imports():
    """Nothing heavy is imported, and no background job runs, before the window's first paint;
    the held jobs start right after it. Load-proof: a slow machine is simulated by letting the
    pages' 200-250 ms job timers fall due (sleep + processEvents) before the window is shown, and
    the time bound is the GUI thread's own CPU time, not the wall clock."""
    code = textwrap.dedent(
        """
        import os, sys, threading, time
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        t0 = time.thread_time()
        from PySide6.QtCore import QEvent, QObject
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from ftstudio.gui.main_window import MainWindow
        from ftstudio.gui import util
        HEAVY = ("torch", "transformers", "peft", "datasets")
        at_paint = []

        class FirstPaint(QObject):
            def eventFilter(self, obj, ev):
                if ev.type() == QEvent.Paint and not at_paint:
                    jobs = [t.name for t in threading.enumerate() if t.name.startswith("ftstudio-job")]
                    at_paint.append(([m for m in HEAVY if m in sys.modules], jobs, time.thread_time() - t0))
                return False

        w = MainWindow(restore=False)
        f = FirstPaint()
        w.installEventFilter(f)
        time.sleep(0.6)  # a loaded machine: the data preview and model facts timers are due now
        app.processEvents()
        w.show()
        w.after_shown()
        deadline = time.monotonic() + 30
        while not at_paint and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        heavy, jobs, cpu = at_paint[0]
        # after the paint the held jobs run: the data preview arrives
        while w.data_page.preview is None and time.monotonic() < deadline + 60:
            app.processEvents()
            time.sleep(0.02)
        print(f"{cpu:.3f} {','.join(heavy) or '-'} {','.join(jobs) or '-'} {w.data_page.preview is not None}")
        util.wait_for_jobs(30000)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    cpu, heavy, jobs, preview = out.stdout.split()[-4:]
    assert heavy == "-", f"heavy modules imported before the window painted: {heavy}"
    assert jobs == "-", f"background jobs started before the window painted: {jobs}"
    assert preview == "True", "the jobs held until the first paint never ran"
    assert float(cpu) < 2.0, f"the GUI thread spent {cpu} s of CPU before the first paint"  # ~0.5 s here


def test_every_technique_is_listed_with_a_card(window):
    page = window.technique_page
    names = [page.list.item(i).data(0x0100) for i in range(page.list.count())]
    assert names == [c.name for c in all_techniques()]
    assert len(names) >= 10
    for cls in all_techniques():
        page.select(cls.name)
        assert page.technique() == cls.name
        assert (cls.title or cls.name) in page.card.text()
        assert page.panels.currentWidget() is page.panel_by_name[cls.name]


@pytest.mark.parametrize("name", [c.name for c in all_techniques()])
def test_technique_panel_matches_its_params_dataclass(window, name):
    page = window.technique_page
    page.select(name)
    cls = get_technique(name)
    panel = page.panel_by_name[name]
    specs = param_specs(cls.Params)
    assert list(panel.editors) == [s.name for s in specs]
    for s in specs:
        w = panel.editors[s.name].widget
        assert w.toolTip() == (s.help or s.label)
        if s.name in ("teacher",):
            continue
        if s.choices:
            assert isinstance(w, QComboBox)
            assert [w.itemData(i) for i in range(w.count()) if w.itemData(i) is not None] == list(s.choices)
        elif s.type is bool:
            assert isinstance(w, QCheckBox)
        elif s.type is int:
            assert isinstance(w, QSpinBox)
            if s.min is not None:
                assert w.minimum() <= s.min and (w.minimum() == s.min or s.optional)
            if s.max is not None:
                assert w.maximum() == min(s.max, 2_000_000_000)
        elif s.type is float:
            assert isinstance(w, (QDoubleSpinBox, QLineEdit))
        else:
            assert isinstance(w, QLineEdit)
    # the defaults round-trip through the technique's own validation
    panel.restore_defaults()
    vals = panel.values()
    assert set(vals) == {s.name for s in specs}
    if name != "distillation":  # needs a teacher
        build_params(cls.Params, vals, name)
        assert panel.non_default_values() == {}


def test_param_panel_restore_defaults_and_values(window):
    page = window.technique_page
    page.select("lora")
    panel = page.panel_by_name["lora"]
    assert page.params() == {"alpha": 16}  # the demo sets alpha 16 (r 8 is the default)
    panel.restore_defaults()
    specs = {s.name: s for s in param_specs(get_technique("lora").Params)}
    int_name = next(n for n, s in specs.items() if s.type is int and not s.choices)
    ed = panel.editors[int_name]
    ed.set(specs[int_name].default + 1)
    assert page.params() == {int_name: specs[int_name].default + 1}
    assert window.build_config().technique.params[int_name] == specs[int_name].default + 1
    panel.restore_button.click()
    assert page.params() == {}
    assert ed.get() == specs[int_name].default


def test_setup_round_trips_through_yaml(window, tmp_path, qtbot):
    window.technique_page.select("bitfit")
    window.training_page.batch.setValue(7)
    window.training_page.lr.setText("3e-4")
    p = tmp_path / "setup.yaml"
    assert window.save_setup(str(p)) == str(p)
    cfg = RunConfig.from_yaml(p)
    assert cfg.technique.name == "bitfit"
    assert cfg.training.batch_size == 7 and cfg.training.learning_rate == pytest.approx(3e-4)
    # load it into a fresh window state
    window.load_config(RunConfig())
    assert window.technique_page.technique() == "lora"
    assert window.open_setup(str(p))
    assert window.technique_page.technique() == "bitfit"
    assert window.training_page.batch.value() == 7
    # copy command uses the saved path
    cmd = window.copy_command()
    from PySide6.QtGui import QGuiApplication

    assert cmd == f"ftstudio train {p}"
    assert QGuiApplication.clipboard().text() == cmd


def test_settings_persist_between_sessions(qtbot, settings):
    from ftstudio.gui.main_window import MainWindow

    w1 = MainWindow(settings=settings)
    qtbot.addWidget(w1)
    w1.technique_page.select("adapter")
    w1.training_page.seed.setValue(1234)
    w1.resize(701, 501)
    w1.show_page("training")
    w1.close()
    w2 = MainWindow(settings=settings)
    qtbot.addWidget(w2)
    assert w2.technique_page.technique() == "adapter"
    assert w2.training_page.seed.value() == 1234
    assert w2.current_page() == "training"
    assert w2.size().width() == 701


def test_bad_setup_file_shows_a_readable_message(window, tmp_path):
    from ftstudio.gui import util

    p = tmp_path / "bad.yaml"
    p.write_text("model: x\ntraining: {batch_size: -3}\n")
    n = len(util.last_error)
    assert not window.open_setup(str(p))
    assert "batch_size" in util.last_error[n]
    assert window.isVisible()


def test_task_sequence_editor_for_continual(window, tiny_csv):
    page = window.technique_page
    window.show_page("technique")
    page.select("continual")
    assert page.sequence.isVisibleTo(window)
    seq = page.sequence
    seq.add_task(str(tiny_csv))
    seq.add_task("builtin:topics")
    assert [t.name for t in seq.tasks()][-2:] == ["tiny", "topics"]
    seq.list.setCurrentRow(seq.list.count() - 1)
    seq.move_selected(-1)
    assert [t.name for t in seq.tasks()][-2:] == ["topics", "tiny"]
    seq.remove_selected()
    cfg = window.build_config()
    assert cfg.data is None and [t.name for t in cfg.tasks] == [t.name for t in seq.tasks()]
    page.select("lora")
    assert not page.sequence.isVisibleTo(window)


def test_distillation_has_a_teacher_picker(window):
    from ftstudio.gui.pages.technique_page import TeacherPicker

    page = window.technique_page
    page.select("distillation")
    ed = page.panel_by_name["distillation"].editors["teacher"]
    assert isinstance(ed.widget, TeacherPicker)
    ed.set("/some/teacher")
    assert page.params()["teacher"] == "/some/teacher"
    assert "Student" in page.student_note.text()


def test_picking_a_technique_prefills_its_learning_rate(window):
    window.technique_page.select("full")
    assert float(window.training_page.lr.text()) == get_technique("full").default_learning_rate
    window.technique_page.select("lora")
    assert float(window.training_page.lr.text()) == get_technique("lora").default_learning_rate
    # loading a setup keeps the setup's own rate
    cfg = RunConfig()
    cfg.technique.name = "bitfit"
    cfg.training.learning_rate = 7e-4
    window.load_config(cfg)
    assert float(window.training_page.lr.text()) == 7e-4


def test_yaml_only_speed_switches_survive_the_gui(window, tmp_path):
    """packing/compile have no widgets: a YAML that sets them keeps them through open + save."""
    src = tmp_path / "in.yaml"
    cfg = RunConfig()
    cfg.training.packing, cfg.training.compile = "off", "on"
    src.write_text(cfg.to_yaml(), encoding="utf-8")
    assert window.open_setup(str(src))
    out = tmp_path / "out.yaml"
    window.save_setup(str(out))
    again = RunConfig.from_yaml(out)
    assert (again.training.packing, again.training.compile) == ("off", "on")


def test_interval_fields_save_null_for_off_and_read_an_old_0_as_off(window, tmp_path):
    """The spin boxes' lowest value is their "off" text and is written as null, the config's only
    off; a file from when 0 meant off opens as off and the status bar says it was read as null."""
    import yaml

    tp = window.training_page
    tp.eval_every.setValue(0)
    tp.save_every.setValue(0)
    assert tp.eval_every.text() == "end of each epoch only" and tp.save_every.text() == "with each evaluation"
    p = tmp_path / "setup.yaml"
    assert window.save_setup(str(p))
    t = yaml.safe_load(p.read_text())["training"]
    assert t["eval_every"] is None and t["save_every"] is None
    tp.eval_every.setValue(25)
    tp.save_every.setValue(50)
    assert window.save_setup(str(p))
    t = yaml.safe_load(p.read_text())["training"]
    assert (t["eval_every"], t["save_every"]) == (25, 50)
    t.update(eval_every=0, save_every=0)
    d = yaml.safe_load(p.read_text())
    d["training"] = t
    p.write_text(yaml.safe_dump(d))
    assert window.open_setup(str(p))
    assert tp.eval_every.value() == 0 and tp.save_every.value() == 0
    assert "eval_every: 0, save_every: 0 read as null" in window.statusBar().currentMessage()
    t2 = tp.training_config()
    assert t2.eval_every is None and t2.save_every is None
