"""The setup's validation pass (``engine.validate``) run in the background as the setup changes.

The window asks ``ValidationController.schedule()`` whenever a setup page changes; after a short
pause (debounce) the current RunConfig is validated on a job thread, an older pass still running
is cancelled, and ``updated`` hands the newest ``Validation`` to the window, which shows each
problem on its page and disables Start with the first error's reason. Warnings never block.
"""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ftstudio.gui.util import run_async

DEBOUNCE_MS = 400
PAGE_OF = {"model": "model", "data": "data", "technique": "technique", "training": "training",
           "output": "training"}  # a problem's `where` → the setup page that shows it


def page_of_error(e: BaseException) -> str:
    """The page a config error (raised before validation could run) belongs to: the ``where``
    its raiser gave it (never its wording, which may be in any language)."""
    return getattr(e, "where", None) or "training"


class _Token:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def is_set(self) -> bool:
        return self.cancelled


class ValidationController(QObject):
    """Debounced background validation; only the newest pass is ever reported."""

    updated = Signal(object)  # the newest Validation
    busy_changed = Signal(bool)

    def __init__(self, build_config: Callable[[], Any], validate_fn: Callable | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.build_config = build_config
        self.validate_fn = validate_fn
        self.result: Any = None
        self.pending = False
        self.active = False  # off until the window is on screen (activate): its heavy imports
        # must not compete with the window's first paint
        self._seq = 0
        self._token: _Token | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.run_now)

    def activate(self) -> None:
        self.active = True
        self.schedule()

    def schedule(self) -> None:
        self.pending = True
        if self.active:
            self._timer.start()

    def run_now(self) -> None:
        self._timer.stop()
        self._seq += 1
        seq = self._seq
        if self._token is not None:
            self._token.cancel()  # the setup changed again: the older pass's answer is moot
        from ftstudio.engine.errors import UserError
        from ftstudio.engine.validate import Validation

        try:
            cfg = self.build_config()
        except UserError as e:  # the pages do not even make a config: that is the first error
            v = Validation()
            v.error(page_of_error(e), getattr(e, "field", None), str(e))
            self._deliver(seq, v)
            return
        except Exception as e:  # noqa: BLE001
            v = Validation()
            v.error("training", None, f"{type(e).__name__}: {e}")
            self._deliver(seq, v)
            return
        token = self._token = _Token()
        self.busy_changed.emit(True)
        fn = self.validate_fn

        def job() -> Any:
            f = fn
            if f is None:
                from ftstudio.engine.validate import validate as f
            return f(cfg, cancel=token)

        def fail(e: Any) -> None:
            v = Validation()
            v.error(page_of_error(e.exc), getattr(e.exc, "field", None), e.message)
            self._deliver(seq, v)

        run_async(job, lambda v: self._deliver(seq, v), fail, owner=self)

    def adopt(self, v: Any) -> None:
        """A pass run elsewhere on the current setup (the pre-flight's): it is the newest answer,
        so a scheduled or running pass is dropped and ``updated`` hands this one on."""
        self._timer.stop()
        self._seq += 1
        if self._token is not None:
            self._token.cancel()
        self.pending = False
        self.result = v
        self.busy_changed.emit(False)
        self.updated.emit(v)

    def _deliver(self, seq: int, v: Any) -> None:
        if seq != self._seq:
            return  # superseded
        self.pending = self._timer.isActive()
        self.result = v
        self.busy_changed.emit(False)
        self.updated.emit(v)


class ProblemsPanel(QWidget):
    """A page's validation problems: errors in red, warnings in amber; hidden when none."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 2, 0, 4)
        lay.setSpacing(2)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.RichText)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.label.setStyleSheet("QLabel{background:#fbf3f3;border:1px solid #ebcaca;border-radius:4px;padding:6px;}")
        lay.addWidget(self.label)
        self.problems: list[Any] = []
        self.hide()

    def set_problems(self, problems: list[Any]) -> None:
        import html

        self.problems = list(problems)
        rows = []
        for p in sorted(self.problems, key=lambda p: p.severity != "error"):
            err = p.severity == "error"
            color, mark = ("#b00020", "✖") if err else ("#8a5a00", "⚠")
            rows.append(f"<div style='color:{color}'>{mark} {html.escape(p.message)}</div>")
        self.label.setText("".join(rows))
        warn_only = self.problems and all(p.severity != "error" for p in self.problems)
        self.label.setStyleSheet(
            "QLabel{background:%s;border:1px solid %s;border-radius:4px;padding:6px;}"
            % (("#fdf8ec", "#ecdcb0") if warn_only else ("#fbf3f3", "#ebcaca")))
        self.setVisible(bool(self.problems))

    def text(self) -> str:
        return "\n".join(p.message for p in self.problems)
