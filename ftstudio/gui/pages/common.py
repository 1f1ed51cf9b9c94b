"""Bits the pages share: headings, inline problem labels, tolerant access to engine results."""
from __future__ import annotations

import dataclasses
from typing import Any

from typing import Callable

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


# Engine identifiers shown to users, translated in the "common" context.
TASK_NAMES = {"classification": QT_TRANSLATE_NOOP("common", "classification"),
              "causal-lm": QT_TRANSLATE_NOOP("common", "text generation")}
STATUS_NAMES = {"finished": QT_TRANSLATE_NOOP("common", "finished"),
                "failed": QT_TRANSLATE_NOOP("common", "failed"),
                "cancelled": QT_TRANSLATE_NOOP("common", "cancelled"),
                "running": QT_TRANSLATE_NOOP("common", "running"),
                "stopping": QT_TRANSLATE_NOOP("common", "stopping"),
                "interrupted": QT_TRANSLATE_NOOP("common", "interrupted")}


METRIC_NAMES = {"accuracy": QT_TRANSLATE_NOOP("common", "accuracy"),
                "macro_f1": QT_TRANSLATE_NOOP("common", "macro-F1"),
                "eval_loss": QT_TRANSLATE_NOOP("common", "eval loss"),
                "perplexity": QT_TRANSLATE_NOOP("common", "perplexity"),
                "loss": QT_TRANSLATE_NOOP("common", "loss")}


def metric_name(key: str) -> str:
    return QCoreApplication.translate("common", METRIC_NAMES[key]) if key in METRIC_NAMES else str(key)


def task_name(task: str | None) -> str:
    """'classification' → the user's word for it (the config keeps the identifier)."""
    return QCoreApplication.translate("common", TASK_NAMES[task]) if task in TASK_NAMES else str(task or "")


def status_name(status: str | None) -> str:
    return QCoreApplication.translate("common", STATUS_NAMES[status]) if status in STATUS_NAMES else str(status or "")


def heading(text: str, sub: str = "") -> QLabel:
    lab = QLabel(f"<h2 style='margin:0'>{text}</h2>" + (f"<div style='color:#555'>{sub}</div>" if sub else ""))
    lab.setWordWrap(True)
    lab.setTextFormat(Qt.RichText)
    return lab


class InlineProblem(QLabel):
    """A red one-liner shown next to the field it is about; hidden when empty."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setStyleSheet("color:#b00020;")
        self.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.hide()

    def set_problem(self, text: str | None) -> None:
        self.setText(text or "")
        self.setVisible(bool(text))


def field(obj: Any, *names: str, default: Any = None) -> Any:
    """First present attribute / key among ``names`` (engine result objects or dicts)."""
    for n in names:
        if isinstance(obj, dict):
            if n in obj and obj[n] is not None:
                return obj[n]
        elif hasattr(obj, n) and getattr(obj, n) is not None:
            return getattr(obj, n)
    return default


def as_dict(obj: Any) -> dict:
    if isinstance(obj, dict):
        return dict(obj)
    if dataclasses.is_dataclass(obj):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")} if hasattr(obj, "__dict__") else {}


def name_of(obj: Any) -> str:
    if isinstance(obj, str):
        return obj
    return str(field(obj, "id", "name", "source", "path", default=obj))


class Lazy(QWidget):
    """A placeholder that builds its real widget on first use (pyqtgraph costs ~0.4 s to import:
    the plots are built after the window is on screen, not before)."""

    def __init__(self, factory: Callable[[], QWidget], parent: QWidget | None = None):
        super().__init__(parent)
        self._factory = factory
        self._widget: QWidget | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)

    def get(self) -> QWidget:
        if self._widget is None:
            self._widget = self._factory()
            self.layout().addWidget(self._widget)
            self._widget.show()  # a child added to a shown parent stays hidden unless shown
        return self._widget

    def built(self) -> bool:
        return self._widget is not None

    def showEvent(self, e) -> None:  # noqa: N802, ANN001
        self.get()
        super().showEvent(e)
