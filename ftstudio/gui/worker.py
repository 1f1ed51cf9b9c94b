"""The training worker: a QObject moved onto a QThread that calls ``engine.runner.train``.

Engine events arrive on the training thread and are re-emitted through ``event`` (a
``Signal(object)``) which the window connects with ``Qt.QueuedConnection`` — so the GUI only
ever touches them on its own thread, and the training loop never waits for a redraw.
"""
from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Qt, Signal, Slot

from ftstudio.gui.util import write_crash_log


class _FallbackToken:
    """Used only with injected train functions (tests) when the engine has no CancelToken."""

    def __init__(self) -> None:
        self._ev = threading.Event()

    def cancel(self) -> None:
        self._ev.set()

    @property
    def cancelled(self) -> bool:
        return self._ev.is_set()

    def is_set(self) -> bool:
        return self._ev.is_set()


class TrainWorker(QObject):
    event = Signal(object)  # an engine Event, emitted on the training thread
    done = Signal(object)  # the summary dict
    failed = Signal(str, str, str)  # kind ('user' | 'crash'), readable message, traceback

    def __init__(self, cfg: Any, resume: str | None = None, train_fn: Callable | None = None):
        super().__init__()
        self.cfg = cfg
        self.resume = resume
        self.train_fn = train_fn
        self.token = self._make_token()

    @staticmethod
    def _make_token() -> Any:
        try:
            from ftstudio.engine.runner import CancelToken  # light module: no torch at import
        except ImportError:
            return _FallbackToken()
        return CancelToken()

    def cancel(self) -> None:
        """Thread-safe: sets the token; the loop stops within one step and checkpoints."""
        self.token.cancel()

    @Slot()
    def run(self) -> None:
        from ftstudio.engine.errors import UserError

        try:
            from ftstudio.gui.util import warm_imports

            warm_imports()
            fn = self.train_fn
            if fn is None:
                from ftstudio.engine.runner import train as fn
            summary = fn(self.cfg, subscribers=[self.event.emit], cancel=self.token, resume=self.resume)
        except UserError as e:
            self.failed.emit("user", str(e), "")
        except BaseException as e:  # noqa: BLE001 - shown in the window, logged to file
            tb = traceback.format_exc()
            write_crash_log(tb)
            self.failed.emit("crash", f"{type(e).__name__}: {e}", tb)
        else:
            self.done.emit(summary if isinstance(summary, dict) else {})


class TrainingSession(QObject):
    """Owns one QThread + TrainWorker; re-emits everything on the GUI thread."""

    event = Signal(object)
    done = Signal(object)
    failed = Signal(str, str, str)
    ended = Signal()  # thread finished (after done/failed)

    def __init__(self, cfg: Any, resume: str | None = None, train_fn: Callable | None = None, parent=None):
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("ftstudio-train")
        self.worker = TrainWorker(cfg, resume, train_fn)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        q = Qt.QueuedConnection
        self.worker.event.connect(self.event, q)
        self.worker.done.connect(self.done, q)
        self.worker.failed.connect(self.failed, q)
        self.worker.done.connect(self.thread.quit)
        self.worker.failed.connect(self.thread.quit)
        self.thread.finished.connect(self.ended, q)

    def start(self) -> None:
        self.thread.start()

    def cancel(self) -> None:
        self.worker.cancel()

    def is_running(self) -> bool:
        return self.thread.isRunning()

    def wait(self, ms: int = 30000) -> bool:
        return self.thread.wait(ms)
