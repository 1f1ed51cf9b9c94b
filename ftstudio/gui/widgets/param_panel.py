"""A parameter panel generated from a technique's params dataclass (``param_specs``).

bool → QCheckBox, int → QSpinBox (range from min/max), float → QDoubleSpinBox or, for learning
rates and wide log-scale ranges, a line edit accepting 1e-4 style values, choices → QComboBox,
str → QLineEdit, list → comma-separated QLineEdit. The tooltip is the help text. ``values()``
returns a dict ready for ``TechniqueConfig.params``.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ftstudio.engine.errors import UserError

INT_LIMIT = 2_000_000_000


def is_log_float(spec: Any) -> bool:
    """Learning-rate-like floats get a text field (1e-4) instead of a fixed-decimals spin box."""
    name = spec.name.lower()
    if "lr" in name.split("_") or "learning_rate" in name or name.endswith("_lr") or name == "lr":
        return True
    d = spec.default
    if isinstance(d, (int, float)) and d and 0 < abs(d) < 1e-3:
        return True
    if spec.min is not None and spec.max is not None and spec.min > 0 and spec.max / spec.min >= 1e4:
        return True
    return False


def short_help(text: str, limit: int = 220) -> str:
    """The help's first sentence (the tooltip keeps all of it)."""
    if "。" in text:  # Chinese: a full stop with no space after it
        first = text.split("。")[0].strip()
        if len(first) > limit:
            first = first[: limit - 1] + "…"
        return first if first.endswith(("。", "…", "）", ")")) else first + "。"
    first = text.split(". ")[0].strip()
    if len(first) > limit:
        first = first[: limit - 1].rsplit(" ", 1)[0] + "…"
    return first if first.endswith((".", "…", ")")) else first + "."


class Editor:
    """One parameter's widget with get/set in the params' own types."""

    def __init__(self, spec: Any, widget: QWidget, get: Callable[[], Any], set_: Callable[[Any], None]):
        self.spec, self.widget, self.get, self.set = spec, widget, get, set_


def make_editor(spec: Any, on_change_: Callable[[], None]) -> Editor:
    tip = spec.help or spec.label

    def on_change(*_: Any) -> None:
        on_change_()
    if spec.choices:
        w = QComboBox()
        for c in spec.choices:
            w.addItem(str(c), c)
        if spec.optional:
            w.insertItem(0, QCoreApplication.translate("param_panel", "(none)"), None)

        def get() -> Any:
            return w.currentData()

        def set_(v: Any) -> None:
            i = w.findData(v)
            if i < 0:
                i = w.findText(str(v))
            w.setCurrentIndex(max(i, 0))

        w.currentIndexChanged.connect(on_change)
    elif spec.type is bool:
        w = QCheckBox()

        def get() -> Any:
            return w.isChecked()

        def set_(v: Any) -> None:
            w.setChecked(bool(v))

        w.toggled.connect(on_change)
    elif spec.type is int:
        w = QSpinBox()
        lo = int(spec.min) if spec.min is not None else -INT_LIMIT
        hi = int(min(spec.max, INT_LIMIT)) if spec.max is not None else INT_LIMIT
        if spec.optional:
            lo -= 1  # the value below the range means "none"
            w.setSpecialValueText(QCoreApplication.translate("param_panel", "none"))
        w.setRange(lo, hi)
        if spec.step:
            w.setSingleStep(int(spec.step))
        w.setMinimumWidth(110)

        def get() -> Any:
            return None if spec.optional and w.value() == w.minimum() else w.value()

        def set_(v: Any) -> None:
            w.setValue(w.minimum() if v is None else int(v))

        w.valueChanged.connect(on_change)
    elif spec.type is float and is_log_float(spec):
        w = QLineEdit()
        v = QDoubleValidator(w)
        v.setNotation(QDoubleValidator.ScientificNotation)
        if spec.min is not None:
            v.setBottom(float(spec.min))
        if spec.max is not None:
            v.setTop(float(spec.max))
        w.setValidator(v)
        w.setPlaceholderText("e.g. 1e-4" if not spec.optional else "none")
        w.setMinimumWidth(110)

        def get() -> Any:
            t = w.text().strip()
            if not t:
                if spec.optional:
                    return None
                raise UserError(QCoreApplication.translate("param_panel", "{label}: enter a number (e.g. 1e-4)").format(label=spec.label))
            try:
                return float(t)
            except ValueError:
                raise UserError(QCoreApplication.translate("param_panel", "{label}: '{t}' is not a number").format(label=spec.label, t=t)) from None

        def set_(v: Any) -> None:
            w.setText("" if v is None else f"{float(v):g}")

        w.textChanged.connect(on_change)
    elif spec.type is float:
        w = QDoubleSpinBox()
        decimals = 4
        if spec.step:
            decimals = max(1, min(6, -int(math.floor(math.log10(spec.step))) + 1 if spec.step < 1 else 1))
        w.setDecimals(decimals)
        lo = float(spec.min) if spec.min is not None else -1e9
        hi = float(spec.max) if spec.max is not None else 1e9
        if spec.optional:
            w.setSpecialValueText(QCoreApplication.translate("param_panel", "none"))
            lo -= 10 ** -decimals
        w.setRange(lo, hi)
        w.setSingleStep(float(spec.step) if spec.step else (0.1 if hi - lo <= 10 else 1.0))
        w.setMinimumWidth(110)

        def get() -> Any:
            return None if spec.optional and w.value() == w.minimum() else w.value()

        def set_(v: Any) -> None:
            w.setValue(w.minimum() if v is None else float(v))

        w.valueChanged.connect(on_change)
    elif spec.type is list:
        w = QLineEdit()
        w.setPlaceholderText(QCoreApplication.translate("param_panel", "comma-separated; empty = default")
                             if spec.optional else QCoreApplication.translate("param_panel", "comma-separated"))

        def get() -> Any:
            items = [x.strip() for x in w.text().split(",") if x.strip()]
            if not items and spec.optional:
                return None
            return items

        def set_(v: Any) -> None:
            w.setText("" if v is None else ", ".join(str(x) for x in v))

        w.textChanged.connect(on_change)
    else:
        w = QLineEdit()
        if spec.optional:
            w.setPlaceholderText(QCoreApplication.translate("param_panel", "none"))

        def get() -> Any:
            t = w.text().strip()
            return None if (not t and spec.optional) else t

        def set_(v: Any) -> None:
            w.setText("" if v is None else str(v))

        w.textChanged.connect(on_change)
    w.setToolTip(tip)
    w.setObjectName(f"param_{spec.name}")
    ed = Editor(spec, w, get, set_)
    ed.set(spec.default)
    return ed


class ParamPanel(QWidget):
    """Editors for every field of a params dataclass, plus 'Restore defaults'."""

    changed = Signal()

    def __init__(
        self,
        specs: list[Any],
        values: dict | None = None,
        custom: dict[str, Callable[[Any, Callable[[], None]], Editor]] | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        # Label and help in the studio's language (the dataclass's English is the msgid).
        self.specs = [s.localized() if hasattr(s, "localized") else s for s in specs]
        self.editors: dict[str, Editor] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        # label | editor | the help's first sentence (the whole help is the tooltip)
        main = QGridLayout()
        adv_box = QGroupBox(self.tr("Advanced"))
        adv = QGridLayout(adv_box)
        for grid in (main, adv):
            grid.setColumnStretch(2, 1)
            grid.setHorizontalSpacing(12)
            grid.setVerticalSpacing(8)
        for spec in self.specs:
            factory = (custom or {}).get(spec.name)
            emit = lambda *_: self.changed.emit()  # noqa: E731
            ed = factory(spec, emit) if factory else make_editor(spec, emit)
            self.editors[spec.name] = ed
            grid = adv if spec.advanced else main
            r = grid.rowCount()
            label = QLabel(self.tr("{label}:").format(label=spec.label))
            label.setToolTip(spec.help)
            label.setBuddy(ed.widget)
            grid.addWidget(label, r, 0, Qt.AlignTop | Qt.AlignLeft)
            if isinstance(ed.widget, QLineEdit) or not isinstance(ed.widget, (QSpinBox, QDoubleSpinBox, QCheckBox, QComboBox)):
                ed.widget.setMinimumWidth(220)
            grid.addWidget(ed.widget, r, 1, Qt.AlignTop)
            if spec.help:
                hint = QLabel(short_help(spec.help))
                hint.setWordWrap(True)
                hint.setStyleSheet("color:#666;")
                hint.setToolTip(spec.help)
                grid.addWidget(hint, r, 2, Qt.AlignTop)
        outer.addLayout(main)
        if adv.rowCount() > 1 or adv.itemAtPosition(0, 0) is not None:
            outer.addWidget(adv_box)
        else:
            adv_box.deleteLater()
        outer.addStretch(1)  # keep the rows together at the top
        row = QHBoxLayout()
        row.addStretch(1)
        self.restore_button = QPushButton(self.tr("Restore defaults"))
        self.restore_button.setToolTip(self.tr("Put every parameter of this technique back to its default"))
        self.restore_button.clicked.connect(self.restore_defaults)
        row.addWidget(self.restore_button)
        outer.addLayout(row)
        if values:
            self.set_values(values)

    def values(self) -> dict:
        """Current values in the params' own types (raises UserError on an unparsable field)."""
        return {name: ed.get() for name, ed in self.editors.items()}

    def non_default_values(self) -> dict:
        out = {}
        for name, ed in self.editors.items():
            v = ed.get()
            if v != ed.spec.default:
                out[name] = v
        return out

    def set_values(self, values: dict) -> None:
        for k, v in (values or {}).items():
            if k in self.editors:
                self.editors[k].set(v)
        self.changed.emit()

    def restore_defaults(self) -> None:
        for ed in self.editors.values():
            ed.set(ed.spec.default)
        self.changed.emit()
