"""A parameter panel generated from a technique's params dataclass (``param_specs``).

bool → QCheckBox, int → QSpinBox (range from min/max), float → QDoubleSpinBox or, for learning
rates and wide log-scale ranges, a line edit accepting 1e-4 style values, choices → QComboBox,
str → QLineEdit, list → comma-separated QLineEdit. The tooltip is the help text. ``values()``
returns a dict ready for ``TechniqueConfig.params``.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt, Signal
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
# plain words for choices whose values are jargon (parameter name -> value -> what the list shows)
CHOICE_TEXT = {
    "fisher": {"true": QT_TRANSLATE_NOOP("param_panel", "from the model's own predictions (true Fisher)"),
               "empirical": QT_TRANSLATE_NOOP("param_panel", "from the correct answers (empirical Fisher)")},
}


def range_text(spec: Any) -> str:
    """'Range 1–256.' for a numeric parameter with bounds (shown, so a limit is never a surprise)."""
    if spec.type not in (int, float) or spec.choices or (spec.min is None and spec.max is None):
        return ""
    f = (lambda v: f"{int(v):,}") if spec.type is int else (lambda v: f"{float(v):g}")
    if spec.min is not None and spec.max is not None:
        return QCoreApplication.translate("param_panel", "Range {lo}–{hi}.").format(lo=f(spec.min), hi=f(spec.max))
    return (QCoreApplication.translate("param_panel", "At least {lo}.").format(lo=f(spec.min)) if spec.min is not None
            else QCoreApplication.translate("param_panel", "At most {hi}.").format(hi=f(spec.max)))


def out_of_range(spec: Any, v: Any) -> str | None:
    """What to tell the user when a value (from a setup file) lies outside the field's range."""
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) or spec.choices:
        return None
    if spec.max is not None and v > spec.max:
        return QCoreApplication.translate("param_panel", "{label}: {v:g} is above the maximum {max:g}; it "
                                                         "was set to {max:g}").format(
            label=spec.label, v=v, max=spec.max)
    if spec.min is not None and v < spec.min:
        return QCoreApplication.translate("param_panel", "{label}: {v:g} is below the minimum {min:g}; it "
                                                         "was set to {min:g}").format(
            label=spec.label, v=v, min=spec.min)
    return None


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
        w.setMinimumWidth(120)  # its whole text where there is room, but a long choice never widens the page
        names = CHOICE_TEXT.get(spec.name, {})
        for c in spec.choices:
            w.addItem(QCoreApplication.translate("param_panel", names[str(c)]) if str(c) in names else str(c), c)
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
        w.setPlaceholderText(QCoreApplication.translate("param_panel", "e.g. 1e-4") if not spec.optional
                             else QCoreApplication.translate("param_panel", "none"))
        w.setMinimumWidth(110)

        def get() -> Any:
            t = w.text().strip()
            if not t:
                if spec.optional:
                    return None
                raise UserError(QCoreApplication.translate("param_panel", "{label}: enter a number (e.g. 1e-4)").format(
                    label=spec.label), where="technique", field=f"technique.params.{spec.name}")
            try:
                return float(t)
            except ValueError:
                raise UserError(QCoreApplication.translate("param_panel", "{label}: '{t}' is not a number").format(
                    label=spec.label, t=t), where="technique", field=f"technique.params.{spec.name}") from None

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
        self.notes = QLabel("")  # values from a setup that had to be changed to fit a field
        self.notes.setObjectName("param_notes")
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color:#8a5a00;")
        self.notes.hide()
        outer.addWidget(self.notes)
        # label | editor, and the whole help wrapped on the row below (it stays readable in a
        # narrow window instead of being pushed out of view to the right)
        main = QGridLayout()
        adv_box = QGroupBox(self.tr("Advanced"))
        adv = QGridLayout(adv_box)
        for grid in (main, adv):
            grid.setColumnStretch(1, 1)
            grid.setHorizontalSpacing(12)
            grid.setVerticalSpacing(2)
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
            grid.addWidget(ed.widget, r, 1, Qt.AlignTop | Qt.AlignLeft)
            if spec.help or range_text(spec):
                # the whole help, wrapped (never cut mid-sentence, nothing hidden behind a hover)
                hint = QLabel(" ".join(x for x in (spec.help, range_text(spec)) if x))
                hint.setObjectName(f"help_{spec.name}")
                hint.setWordWrap(True)
                hint.setStyleSheet("color:#666; margin-bottom:8px;")
                hint.setToolTip(spec.help)
                grid.addWidget(hint, r + 1, 0, 1, 2, Qt.AlignTop)
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
        notes = []
        for k, v in (values or {}).items():
            if k in self.editors:
                msg = out_of_range(self.editors[k].spec, v)
                if msg:
                    notes.append(msg)
                self.editors[k].set(v)
        self.notes.setText("\n".join(notes))
        self.notes.setVisible(bool(notes))
        self.changed.emit()

    def restore_defaults(self) -> None:
        self.notes.hide()
        for ed in self.editors.values():
            ed.set(ed.spec.default)
        self.changed.emit()
