"""Model page: built-in models, a local folder, a hub id, models in the local HF cache; facts."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QT_TRANSLATE_NOOP, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ftstudio.gui.pages.common import InlineProblem, as_dict, field, heading, name_of
from ftstudio.gui.util import fmt_bytes, fmt_count, run_async
from ftstudio.i18n import _t

INFO_ROWS = [  # titles translated where shown (ModelPage context)
    (QT_TRANSLATE_NOOP("ModelPage", "Architecture"), ("architecture", "model_type", "arch")),
    (QT_TRANSLATE_NOOP("ModelPage", "Family"), ("family",)),
    (QT_TRANSLATE_NOOP("ModelPage", "Parameters"), ("num_parameters", "parameters", "total_params", "params")),
    (QT_TRANSLATE_NOOP("ModelPage", "Layers"), ("num_layers", "layers", "n_layers")),
    (QT_TRANSLATE_NOOP("ModelPage", "Hidden size"), ("hidden_size", "hidden")),
    (QT_TRANSLATE_NOOP("ModelPage", "Size (fp32)"), ("size_bytes", "size", "disk_bytes")),
    (QT_TRANSLATE_NOOP("ModelPage", "Bias terms"), ("bias_terms", "num_bias_params", "bias_params", "has_bias")),
    (QT_TRANSLATE_NOOP("ModelPage", "Max length"), ("max_length", "max_position_embeddings")),
    (QT_TRANSLATE_NOOP("ModelPage", "Vocabulary"), ("vocab_size",)),
    (QT_TRANSLATE_NOOP("ModelPage", "Source"), ("source", "path")),
]


_INFO_CACHE: dict[str, Any] = {}  # source -> ModelInfo, for this session


class ModelPage(QWidget):
    changed = Signal()
    info_changed = Signal(object)  # the model facts of the chosen model (ModelInfo)
    info_progress = Signal(str, str)  # model, "what done/total" from the facts job's thread

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.addWidget(heading(self.tr("Model"), self.tr("The pretrained model to fine-tune.")))
        row = QHBoxLayout()
        outer.addLayout(row, 1)

        pick = QGroupBox(self.tr("Choose a model"))
        pl = QVBoxLayout(pick)
        self.list = QListWidget()
        self.list.setObjectName("model_list")
        self.list.setStyleSheet("QListWidget::item{padding:4px 2px;}")
        self.list.itemClicked.connect(self._picked)
        self.list.itemActivated.connect(self._picked)
        pl.addWidget(self.list, 1)
        b = QHBoxLayout()
        self.folder_button = QPushButton(self.tr("Local folder…"))
        self.folder_button.setToolTip(self.tr("A folder with config.json and weights (save_pretrained "
                                              "output)"))
        self.folder_button.clicked.connect(self._browse)
        self.refresh_button = QPushButton(self.tr("Rescan cache"))
        self.refresh_button.clicked.connect(self.refresh_sources)
        b.addWidget(self.folder_button)
        b.addWidget(self.refresh_button)
        b.addStretch(1)
        pl.addLayout(b)
        form = QFormLayout()
        self.model_edit = QLineEdit()
        self.model_edit.setObjectName("model_edit")
        self.model_edit.setPlaceholderText(self.tr("builtin:NAME, a folder, or a hub id like "
                                                   "prajjwal1/bert-tiny"))
        self.model_edit.setToolTip(self.tr("Type a Hugging Face hub id or a path, or pick from the list"))
        self.model_edit.editingFinished.connect(self._edited)
        form.addRow(self.tr("Model:"), self.model_edit)
        pl.addLayout(form)
        hint = QLabel(
            self.tr("Built-in models work offline. A folder needs config.json, a tokenizer and .safetensors "
                    "weights. A hub id (owner/name) is used from the local Hugging Face cache, or downloaded "
                    "when online.")
        )
        hint.setWordWrap(True)
        hint.setStyleSheet("color:#666")
        pl.addWidget(hint)
        self.problem = InlineProblem()
        pl.addWidget(self.problem)
        row.addWidget(pick, 3)

        info = QGroupBox(self.tr("About this model"))
        il = QVBoxLayout(info)
        self.info_form = QFormLayout()
        self.info_labels: dict[str, QLabel] = {}
        for title, _ in INFO_ROWS:
            lab = QLabel("—")
            lab.setTextInteractionFlags(Qt.TextSelectableByMouse)
            lab.setWordWrap(True)
            self.info_labels[title] = lab
            self.info_form.addRow(self.tr("{title}:").format(title=self.tr(title)), lab)
        il.addLayout(self.info_form)
        self.info_status = QLabel("")
        self.info_progress.connect(lambda name, text: name == self.model() and self.info_status.setText(text))
        self.info_status.setStyleSheet("color:#555")
        il.addWidget(self.info_status)
        il.addStretch(1)
        row.addWidget(info, 2)

        self._info_timer = QTimer(self)
        self._info_timer.setSingleShot(True)
        self._info_timer.setInterval(250)
        self._info_timer.timeout.connect(self._request_info)
        self._info_for: str | None = None
        self.info: Any = None
        self._sources_loaded = False

    # -- sources ------------------------------------------------------------------------------
    def refresh_sources(self) -> None:
        def load() -> tuple[list, list]:
            from ftstudio.engine import models

            builtin = getattr(models, "BUILTIN_MODELS", {}) or {}
            b = [(f"builtin:{k}" if not str(k).startswith("builtin:") else str(k), v) for k, v in
                 (builtin.items() if isinstance(builtin, dict) else [(x, None) for x in builtin])]
            try:
                found = list(models.list_models())
            except Exception:  # noqa: BLE001 - an unreadable cache must not hide built-ins
                found = []
            return b, found

        run_async(load, self._fill_sources, lambda e: self.problem.set_problem(e.message), owner=self)

    def _fill_sources(self, res: tuple[list, list]) -> None:
        builtin, found = res
        self.list.clear()
        self._section(self.tr("Built-in (ready offline)"))
        for name, meta in builtin:
            desc = field(meta, "description", "title", default="") if meta is not None else ""
            self._item(name, f"{name}" + (f" — {_t(desc)}" if desc else ""))
        cached = [m for m in found if not name_of(m).startswith("builtin:")]
        self._section(self.tr("In your Hugging Face cache") if cached else
                      self.tr("In your Hugging Face cache (none found)"))
        for m in cached:
            n = name_of(m)
            size = field(m, "size_bytes", "size")
            self._item(n, n + (f"  ({fmt_bytes(size)})" if size else ""))
        self._sources_loaded = True
        self._select_current()

    def _section(self, text: str) -> None:
        it = QListWidgetItem(text)
        it.setFlags(Qt.ItemIsEnabled)  # a heading: readable, not selectable
        f = it.font()
        f.setBold(True)
        it.setFont(f)
        self.list.addItem(it)

    def _item(self, name: str, text: str) -> None:
        it = QListWidgetItem("   " + text)
        it.setData(Qt.UserRole, name)
        self.list.addItem(it)

    def _select_current(self) -> None:
        cur = self.model()
        for i in range(self.list.count()):
            it = self.list.item(i)
            if it.data(Qt.UserRole) == cur:
                self.list.setCurrentItem(it)
                return
        self.list.clearSelection()

    # -- selection ----------------------------------------------------------------------------
    def _picked(self, item: QListWidgetItem) -> None:
        name = item.data(Qt.UserRole)
        if name:
            self.set_model(name)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, self.tr("Choose a model folder"))
        if d:
            self.set_model(d)

    def _edited(self) -> None:
        if self.model_edit.text().strip() != self._info_for:
            self._select_current()
            self.changed.emit()
            self._info_timer.start()

    def model(self) -> str:
        return self.model_edit.text().strip()

    def set_model(self, name: str) -> None:
        self.model_edit.setText(name)
        self._select_current()
        self.changed.emit()
        self._info_timer.start()

    # -- info ------------------------------------------------------------------------------------
    def _request_info(self) -> None:
        name = self.model()
        if not name:
            return
        self._info_for = name
        self.problem.set_problem(None)
        if name in _INFO_CACHE:
            self.show_info(_INFO_CACHE[name])
            return
        self.info_status.setText(self.tr("Reading model facts (loads the weights once)…"))

        def progress(what: str, done: int, total: int) -> None:  # first use: fetch / convert
            pct = f" {100 * done // total}%" if total > 1 else ""
            self.info_progress.emit(name, f"{what}…{pct}")

        def get() -> Any:
            from ftstudio.engine.models import model_info

            return model_info(name, progress)

        def done(info: Any) -> None:
            _INFO_CACHE[name] = info
            if name != self.model():
                return
            self.show_info(info)

        def error(e: Any) -> None:
            if name != self.model():
                return
            self.info_status.setText("")
            for lab in self.info_labels.values():
                lab.setText("—")
            self.problem.set_problem(e.message)

        run_async(get, done, error, owner=self)

    def show_info(self, info: Any) -> None:
        self.info = info
        d = as_dict(info)
        if "size_bytes" not in d and isinstance(d.get("total_params"), int):
            d["size_bytes"] = 4 * d["total_params"]  # the weights as loaded for training (fp32)
        for title, keys in INFO_ROWS:
            v = field(d, *keys)
            if v is None:
                text = "—"
            elif title == "Parameters" and isinstance(v, (int, float)):
                text = f"{fmt_count(v)}  ({int(v):,})"
            elif title.startswith("Size") and isinstance(v, (int, float)):
                text = fmt_bytes(v)
            elif title == "Bias terms" and isinstance(v, bool):
                text = self.tr("yes") if v else self.tr("no (BitFit has nothing to train)")
            elif title == "Bias terms" and isinstance(v, (int, float)):
                text = (self.tr("{n} parameters").format(n=fmt_count(v)) if v else
                        self.tr("none (BitFit has nothing to train)"))
            else:
                text = str(v)
            self.info_labels[title].setText(text)
        self.info_status.setText("")
        self.info_changed.emit(info)
