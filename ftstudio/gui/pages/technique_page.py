"""Technique page: the techniques with plain-language cards and generated parameter panels;
a task-sequence editor for continual learning / EWC; a teacher picker for distillation."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QStyledItemDelegate,
    QVBoxLayout,
    QWidget,
)

from ftstudio.engine.config import DataConfig, TaskSpec
from ftstudio.gui.pages.common import CurrentStack, ResponsiveSplitter, flow_row, heading, task_name
from ftstudio.gui.pages.data_page import builtin_datasets, file_filter
from ftstudio.gui.widgets.param_panel import Editor, ParamPanel
from ftstudio.i18n import _t

TEACHER_FIELDS = ("teacher", "teacher_model", "teacher_path", "teacher_run")


class _TaskDelegate(QStyledItemDelegate):
    """'1. name   source' rows; only the name is edited."""

    def initStyleOption(self, option, index):  # noqa: N802, ANN001
        super().initStyleOption(option, index)
        src = index.data(Qt.UserRole + 1)
        if src:
            option.text = f"{index.row() + 1}.  {option.text}      ({src})"


class TaskSequenceEditor(QGroupBox):
    """Add, remove and reorder the datasets of a task sequence (continual learning, EWC)."""

    changed = Signal()

    def __init__(self, base_data: Callable[[], DataConfig], parent: QWidget | None = None):
        super().__init__(parent)
        self.setTitle(self.tr("Task sequence — trained in this order"))
        self.base_data = base_data
        lay = QVBoxLayout(self)
        self.list = QListWidget()
        self.list.setObjectName("task_list")
        self.list.setDragDropMode(QAbstractItemView.InternalMove)
        self.list.model().rowsMoved.connect(lambda *a: self.changed.emit())
        self.list.itemChanged.connect(lambda *a: self.changed.emit())
        self.list.setMinimumHeight(90)
        self.list.setMaximumHeight(150)
        self.list.setItemDelegate(_TaskDelegate(self.list))
        lay.addWidget(self.list)
        add_file = QPushButton(self.tr("Add file…"))
        add_file.clicked.connect(self._add_file)
        self.builtin = QComboBox()
        self.builtin.addItem(self.tr("Add built-in…"), None)
        for n in builtin_datasets():
            self.builtin.addItem(n, n)
        self.builtin.activated.connect(self._add_builtin)
        self.add_current = QPushButton(self.tr("Add current data"))
        self.add_current.setToolTip(self.tr("Add the dataset chosen on the Data page"))
        self.add_current.clicked.connect(lambda: self.add_task(self.base_data().train))
        self.remove_button = QPushButton(self.tr("Remove"))
        self.remove_button.clicked.connect(self.remove_selected)
        self.up_button = QPushButton("▲")
        self.up_button.setToolTip(self.tr("Move up (earlier)"))
        self.up_button.clicked.connect(lambda: self.move_selected(-1))
        self.down_button = QPushButton("▼")
        self.down_button.setToolTip(self.tr("Move down (later)"))
        self.down_button.clicked.connect(lambda: self.move_selected(1))
        lay.addWidget(flow_row([add_file, self.builtin, self.add_current, self.remove_button, self.up_button,
                                self.down_button]))  # wraps in a narrow window
        hint = QLabel(self.tr("Double-click a task to rename it. Columns follow the Data page's mapping."))
        hint.setWordWrap(True)
        hint.setStyleSheet("color:#555")
        lay.addWidget(hint)

    def _add_file(self) -> None:
        p, _ = QFileDialog.getOpenFileName(self, self.tr("Add a task's data"), "", file_filter())
        if p:
            self.add_task(p)

    def _add_builtin(self) -> None:
        n = self.builtin.currentData()
        self.builtin.setCurrentIndex(0)
        if n:
            self.add_task(n)

    def add_task(self, source: str, name: str | None = None, data: DataConfig | None = None) -> None:
        if not source:
            return
        if data is None:
            data = copy.deepcopy(self.base_data())
            data.train = source
            data.eval = None
        name = name or self._default_name(source)
        it = QListWidgetItem(name)
        it.setFlags(it.flags() | Qt.ItemIsEditable)
        it.setData(Qt.UserRole, data)
        it.setToolTip(source)
        self.list.addItem(it)
        self._relabel()
        self.changed.emit()

    def _default_name(self, source: str) -> str:
        base = source.split(":", 1)[1] if source.startswith(("builtin:", "hub:")) else Path(source).stem
        names = {self.list.item(i).text() for i in range(self.list.count())}
        n, i = base, 2
        while n in names:
            n, i = f"{base}-{i}", i + 1
        return n

    def _relabel(self) -> None:
        for i in range(self.list.count()):
            it = self.list.item(i)
            src = it.data(Qt.UserRole).train
            it.setToolTip(self.tr("task {value}: {src}").format(value=i + 1, src=src))
            it.setData(Qt.UserRole + 1, src)

    def remove_selected(self) -> None:
        r = self.list.currentRow()
        if r >= 0:
            self.list.takeItem(r)
            self._relabel()
            self.changed.emit()

    def move_selected(self, delta: int) -> None:
        r = self.list.currentRow()
        t = r + delta
        if r < 0 or not (0 <= t < self.list.count()):
            return
        it = self.list.takeItem(r)
        self.list.insertItem(t, it)
        self.list.setCurrentRow(t)
        self._relabel()
        self.changed.emit()

    def tasks(self) -> list[TaskSpec]:
        return [
            TaskSpec(name=self.list.item(i).text().strip() or f"task{i + 1}", data=self.list.item(i).data(Qt.UserRole))
            for i in range(self.list.count())
        ]

    def set_tasks(self, tasks: list[TaskSpec] | None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        self.list.blockSignals(False)
        for t in tasks or []:
            self.add_task(t.data.train, t.name, t.data)


class TeacherPicker(QWidget):
    """Distillation teacher: a finished run, a model folder, or any model id."""

    def __init__(self, on_change: Callable[[], None], parent: QWidget | None = None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.setMinimumWidth(200)  # as wide as its text where there is room; never wider than the page
        self.combo.lineEdit().setPlaceholderText(self.tr("a finished run, a model folder or a model id"))
        self.combo.currentTextChanged.connect(lambda *_: on_change())
        lay.addWidget(self.combo, 1)
        browse = QPushButton(self.tr("Folder…"))
        browse.clicked.connect(self._browse)
        lay.addWidget(browse)
        self.refresh_runs()

    def refresh_runs(self) -> None:
        cur = self.combo.currentText()
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItem("")
        try:
            from ftstudio.engine.store import list_runs

            for r in list_runs():
                if r.status == "finished":
                    self.combo.addItem(f"{r.run_dir}", str(r.run_dir))
                    self.combo.setItemData(self.combo.count() - 1,
                                           self.tr("run {name}: {technique} on {model}").format(
                                               name=r.name, technique=r.technique, model=r.model), Qt.ToolTipRole)
        except Exception:  # noqa: BLE001 - an unreadable runs folder leaves the list empty
            pass
        self.combo.setEditText(cur)
        self.combo.blockSignals(False)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, self.tr("Teacher: a finished run or a model folder"))
        if d:
            self.combo.setEditText(d)

    def value(self) -> str | None:
        return self.combo.currentText().strip() or None

    def set_value(self, v: Any) -> None:
        self.combo.setEditText("" if v is None else str(v))


def _teacher_editor(spec: Any, on_change: Callable[[], None]) -> Editor:
    w = TeacherPicker(on_change)
    w.setToolTip(spec.help)
    w.setObjectName(f"param_{spec.name}")
    ed = Editor(spec, w, w.value, w.set_value)
    ed.set(spec.default)
    return ed


class TechniquePage(QWidget):
    changed = Signal()
    technique_changed = Signal(str)
    go_to_model = Signal()

    def __init__(self, base_data: Callable[[], DataConfig], current_model: Callable[[], str],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.current_model = current_model
        outer = QVBoxLayout(self)
        outer.addWidget(heading(self.tr("Technique"), self.tr("How the model is fine-tuned: what trains, what it costs.")))
        # the list above the parameters in a narrow window (a short list, room for the parameters)
        split = ResponsiveSplitter(Qt.Horizontal, stacked=[(120, 170), (420, None)])
        outer.addWidget(split, 1)
        self.list = QListWidget()
        self.list.setObjectName("technique_list")
        self.list.setMinimumWidth(230)
        self.list.setStyleSheet("QListWidget::item{padding:6px 4px;}")
        self.list.currentRowChanged.connect(self._row_changed)
        split.addWidget(self.list)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(6, 0, 0, 0)
        self.card = QLabel()
        self.card.setObjectName("technique_card")
        self.card.setWordWrap(True)
        self.card.setTextFormat(Qt.RichText)
        self.card.setStyleSheet("QLabel{background:#f4f7fb;border:1px solid #d5dee9;border-radius:6px;padding:10px;}")
        self.card.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        rl.addWidget(self.card)
        self.student_note = QLabel()
        self.student_note.setWordWrap(True)
        self.student_note.linkActivated.connect(lambda *_: self.go_to_model.emit())
        rl.addWidget(self.student_note)
        self.sequence = TaskSequenceEditor(base_data)
        self.sequence.changed.connect(self.changed.emit)
        rl.addWidget(self.sequence)
        box = QGroupBox(self.tr("Parameters"))
        bl = QVBoxLayout(box)
        self.panels = CurrentStack()
        self.params_scroll = scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.panels)
        scroll.setFrameShape(QScrollArea.NoFrame)
        bl.addWidget(scroll)
        rl.addWidget(box, 1)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([220, 800])

        self.classes: list[type] = []
        self.panel_by_name: dict[str, ParamPanel] = {}
        self._load()

    def _load(self) -> None:
        from ftstudio.techniques import all_techniques, param_specs

        self.classes = list(all_techniques())
        for cls in self.classes:
            it = QListWidgetItem(_t(cls.title) or cls.name)
            it.setData(Qt.UserRole, cls.name)
            it.setToolTip(_t(cls.card or "").split("\n")[0])
            self.list.addItem(it)
            specs = param_specs(cls.Params)
            custom = {s.name: _teacher_editor for s in specs if s.name in TEACHER_FIELDS}
            panel = ParamPanel(specs, custom=custom)
            panel.setObjectName(f"panel_{cls.name}")
            panel.changed.connect(self.changed.emit)
            self.panel_by_name[cls.name] = panel
            self.panels.addWidget(panel)

    # -- selection ------------------------------------------------------------------------------
    def _row_changed(self, row: int) -> None:
        if not (0 <= row < len(self.classes)):
            return
        cls = self.classes[row]
        panel = self.panel_by_name[cls.name]
        self.panels.setCurrentWidget(panel)
        self.panels.updateGeometry()
        # the scroll area hides its panel's width from the splitter: say it, so a narrow window
        # puts the list above the parameters instead of cutting them off at the right
        sb = self.params_scroll.style().pixelMetric(self.params_scroll.style().PixelMetric.PM_ScrollBarExtent)
        self.params_scroll.setMinimumWidth(panel.minimumSizeHint().width() + sb + 4)
        self.card.setText(card_html(cls))
        seq = bool(getattr(cls, "needs_task_sequence", False))
        self.sequence.setVisible(seq)
        if seq and not self.sequence.list.count():
            self.sequence.add_task(self.sequence.base_data().train)
        if cls.name == "distillation":
            self.student_note.setText(
                self.tr("<b>Student:</b> the model chosen on the <a href='#'>Model page</a> "
                        "(<code>{model}</code>). <b>Teacher:</b> pick a finished run or folder below.").format(
                    model=self.current_model() or '—')
            )
            self.student_note.show()
            for ed in self.panel_by_name[cls.name].editors.values():
                if isinstance(ed.widget, TeacherPicker):
                    ed.widget.refresh_runs()
        else:
            self.student_note.hide()
        self.technique_changed.emit(cls.name)
        self.changed.emit()

    def technique(self) -> str:
        it = self.list.currentItem()
        return it.data(Qt.UserRole) if it else "lora"

    def technique_class(self) -> type | None:
        return next((c for c in self.classes if c.name == self.technique()), None)

    def select(self, name: str) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.UserRole) == name:
                self.list.setCurrentRow(i)
                return

    def params(self) -> dict:
        panel = self.panel_by_name.get(self.technique())
        return panel.non_default_values() if panel else {}

    def set_params(self, name: str, params: dict) -> None:
        panel = self.panel_by_name.get(name)
        if panel:
            panel.restore_defaults()
            panel.set_values(params or {})

    def set_model_info(self, info: Any) -> None:
        """Fields whose default depends on the model say what it is for this model (LoRA's
        target modules: query, value on BERT; c_attn on GPT-2; q_proj, v_proj on Llama)."""
        from ftstudio.engine.arch import LORA_TARGETS, normalize_family

        fam = normalize_family(getattr(info, "family", None) or (info.get("family") if isinstance(info, dict) else None))
        panel = self.panel_by_name.get("lora")
        ed = panel.editors.get("target_modules") if panel else None
        if ed is None or not hasattr(ed.widget, "setPlaceholderText"):
            return
        if fam in LORA_TARGETS:
            ed.widget.setPlaceholderText(self.tr("empty = {lora_targets} (the default for this {fam} model)").format(
                                             lora_targets=', '.join(LORA_TARGETS[fam]), fam=fam))
        else:
            ed.widget.setPlaceholderText(self.tr("empty = the default for the model (none known for this "
                                                 "one: name them)"))

    def needs_sequence(self) -> bool:
        cls = self.technique_class()
        return bool(cls and getattr(cls, "needs_task_sequence", False))


def card_html(cls: type) -> str:
    title = _t(cls.title) or cls.name
    body = _t(cls.card or "").strip()
    parts = [p.strip() for p in body.split("\n") if p.strip()]
    html = f"<h3 style='margin:0 0 4px 0'>{title}</h3>"
    if parts:
        html += "".join(f"<p style='margin:2px 0'>{_bold_lead(p)}</p>" for p in parts)
    else:
        html += "<p><i>" + QCoreApplication.translate("TechniquePage", "No description.") + "</i></p>"
    sep = QCoreApplication.translate("TechniquePage", ", ")  # a list separator: "、" in Chinese
    tasks = sep.join(task_name(t) for t in getattr(cls, "tasks", ()) or ())
    exports = sep.join(_tp(EXPORT_NAMES.get(k, k)) for k in getattr(cls, "export_kinds", ()) or ())
    lr = getattr(cls, "default_learning_rate", None)
    lr_note = QCoreApplication.translate("TechniquePage", " · Learning rate set when picked: {lr:g}").format(
        lr=lr) if lr else ""
    html += "<p style='color:#555;margin-top:6px'>" + QCoreApplication.translate(
        "TechniquePage", "Tasks: {tasks} · Export: {exports}").format(tasks=tasks, exports=exports) + lr_note + "</p>"
    return html


def _tp(text: str) -> str:
    """A string marked with QT_TRANSLATE_NOOP in the TechniquePage context, translated."""
    return QCoreApplication.translate("TechniquePage", text)


# Export kinds as the card names them (translated in the TechniquePage context).
EXPORT_NAMES = {"model": QT_TRANSLATE_NOOP("TechniquePage", "full model"),
                "adapter": QT_TRANSLATE_NOOP("TechniquePage", "adapter"),
                "merged": QT_TRANSLATE_NOOP("TechniquePage", "merged model"),
                "delta": QT_TRANSLATE_NOOP("TechniquePage", "changed weights only")}


def _bold_lead(p: str) -> str:
    """'What trains: ...' → '<b>What trains:</b> ...'."""
    import html as h

    for colon in (":", "："):  # Chinese cards use the full-width colon
        if colon in p[:40]:
            lead, rest = p.split(colon, 1)
            return f"<b>{h.escape(lead)}{colon}</b>{h.escape(rest)}"
    return h.escape(p)
