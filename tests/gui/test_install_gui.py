"""Install-related GUI: Runs page → "Open in TensorBoard" (one server on the runs folder, the browser), first-use progress."""
from __future__ import annotations

from pathlib import Path


class FakeProc:
    def __init__(self):
        self.terminated = False

    def poll(self):
        return 1 if self.terminated else None

    def terminate(self):
        self.terminated = True


def test_open_in_tensorboard_starts_once_and_opens_the_page(window, qtbot, monkeypatch, tmp_path):
    from ftstudio.engine import tensorboard_events
    from ftstudio.gui.pages import runs_page

    launched, opened = [], []
    proc = FakeProc()

    def fake_launch(logdir, port=None, wait_s=60.0):
        launched.append(Path(logdir))
        return proc, "http://127.0.0.1:6123/"

    monkeypatch.setattr(tensorboard_events, "available", lambda: True)
    monkeypatch.setattr(tensorboard_events, "launch", fake_launch)
    monkeypatch.setattr(runs_page, "open_url", opened.append)
    window.training_page.runs_dir.setText(str(tmp_path / "my-runs"))  # the folder chosen in the studio
    page = window.runs_page
    page._tensorboard_tip()
    assert page.tensorboard_button.isEnabled()
    page.tensorboard_button.click()
    qtbot.waitUntil(lambda: bool(opened), timeout=30000)
    assert launched == [tmp_path / "my-runs"]  # the runs folder in use, not the default one
    assert opened == ["http://127.0.0.1:6123/"] and page.tensorboard_button.isEnabled()
    page.tensorboard_button.click()  # still running: the same server, the page again
    assert len(launched) == 1 and len(opened) == 2
    proc.terminate()
    page.tensorboard_button.click()  # it ended: a new one
    qtbot.waitUntil(lambda: len(launched) == 2, timeout=30000)


def test_without_tensorboard_the_button_says_how_to_get_it(window, monkeypatch):
    from ftstudio.engine import tensorboard_events

    monkeypatch.setattr(tensorboard_events, "available", lambda: False)
    page = window.runs_page
    page._tensorboard_tip()
    assert not page.tensorboard_button.isEnabled()
    assert 'pip install "ftstudio[tensorboard]"' in page.tensorboard_button.toolTip()


def test_model_page_shows_first_use_progress(window, qtbot, monkeypatch):
    """A built-in model fetched or converted on first use: the facts job reports its progress."""
    import threading

    from ftstudio.engine import models

    release = threading.Event()

    def slow_info(source, progress=None):
        progress("Fetching built-in model builtin:x (1 MB, first time only)", 1, 2)
        release.wait(30)
        raise models.UserError("stop here")

    monkeypatch.setattr(models, "model_info", slow_info)
    page = window.model_page
    page.set_model("builtin:x")
    try:
        qtbot.waitUntil(lambda: page.info_status.text() == "Fetching built-in model builtin:x (1 MB, first time only)… 50%",
                        timeout=30000)
    finally:
        release.set()


def test_the_application_has_its_icon(qapp):
    from ftstudio.gui.app import _set_app_icon

    qapp.setWindowIcon(__import__("PySide6.QtGui", fromlist=["QIcon"]).QIcon())
    _set_app_icon(qapp)
    sizes = qapp.windowIcon().availableSizes()
    assert sizes and max(s.width() for s in sizes) == 256
    assert qapp.desktopFileName() == "ftstudio"  # matches the .desktop entry (Wayland app id)
