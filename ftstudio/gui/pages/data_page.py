"""Data page: a file (picker or drag-and-drop), a built-in set or a hub name; column mapping with
dropdowns of the file's columns; a preview of the first rows; label distribution; inline problems."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTextEdit,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ftstudio.engine.config import DataConfig
from ftstudio.gui.pages.common import InlineProblem, MinimumColumn, ResponsiveRow, elide, field, heading
from ftstudio.gui.util import labelled_bar, run_async
from ftstudio.i18n import _t

DATA_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".parquet", ".txt")
# Translated where shown (DataPage context).
FILE_FILTER = QT_TRANSLATE_NOOP("DataPage", "Data files (*.csv *.tsv *.json *.jsonl *.parquet);;All files (*)")
MAX_LABELS_SHOWN = 20  # the distribution lists the top 20 labels, then "N others"
TEXT_GUESSES = ("text", "sentence", "content", "review", "document", "body", "message", "question")
LABEL_GUESSES = ("label", "labels", "class", "category", "target", "sentiment", "topic", "y")
TASK_LABELS = {"classification": QT_TRANSLATE_NOOP("DataPage", "Classification (text → label)"),
               "causal-lm": QT_TRANSLATE_NOOP("DataPage", "Text generation (causal LM)")}


def file_filter() -> str:
    return QCoreApplication.translate("DataPage", FILE_FILTER)


def builtin_datasets() -> list[str]:
    try:
        from ftstudio.engine import data

        names = getattr(data, "BUILTIN_DATASETS", None)
    except ImportError:
        names = None
    if not names:
        return ["builtin:sentiment"]
    return [n if str(n).startswith("builtin:") else f"builtin:{n}" for n in names]


class ColumnCombo(QComboBox):
    """Editable dropdown of the file's columns (a name typed by hand is kept)."""

    def __init__(self, optional: bool = False):
        super().__init__()
        self.optional = optional
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.NoInsert)
        self.setMinimumWidth(160)
        if optional:
            self.lineEdit().setPlaceholderText(self.tr("(none)"))

    def set_columns(self, cols: list[str]) -> None:
        cur = self.value()
        self.blockSignals(True)
        self.clear()
        if self.optional:
            self.addItem("")
        self.addItems(cols)
        self.blockSignals(False)
        self.set_value(cur)

    def value(self) -> str | None:
        t = self.currentText().strip()
        return t or None

    def set_value(self, v: str | None) -> None:
        self.blockSignals(True)
        i = self.findText(v or "")
        if i >= 0:
            self.setCurrentIndex(i)
        else:
            self.setEditText(v or "")
        self.blockSignals(False)


class DataPage(QWidget):
    changed = Signal()
    task_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        outer = QVBoxLayout(self)
        outer.addWidget(heading(self.tr("Data"), self.tr("What the model learns from. Drop a CSV, TSV, JSON, JSONL or Parquet file here.")))

        src = QGroupBox(self.tr("Source"))
        g = QGridLayout(src)
        self.task_combo = QComboBox()
        self.task_combo.setObjectName("task_combo")
        for k, v in TASK_LABELS.items():
            self.task_combo.addItem(self.tr(v), k)
        self.task_combo.currentIndexChanged.connect(self._task_changed)
        g.addWidget(QLabel(self.tr("Task:")), 0, 0)
        g.addWidget(self.task_combo, 0, 1, 1, 2)
        self.train_edit = QLineEdit()
        self.train_edit.setObjectName("train_edit")
        self.train_edit.setPlaceholderText(self.tr("a file, builtin:NAME or hub:NAME"))
        self.train_edit.editingFinished.connect(self._source_edited)
        self.browse_button = QPushButton(self.tr("Browse…"))
        self.browse_button.clicked.connect(self._browse_train)
        g.addWidget(QLabel(self.tr("Training data:")), 1, 0)
        g.addWidget(self.train_edit, 1, 1)
        g.addWidget(self.browse_button, 1, 2)
        self.source_problem = InlineProblem()
        self.source_problem.setObjectName("source_problem")
        g.addWidget(self.source_problem, 2, 1, 1, 2)
        self.builtin_combo = QComboBox()
        self.builtin_combo.addItem(self.tr("— built-in datasets —"), None)
        for n in builtin_datasets():
            self.builtin_combo.addItem(n, n)
        self.builtin_combo.activated.connect(self._builtin_picked)
        self.hub_edit = QLineEdit()
        self.hub_edit.setPlaceholderText(self.tr("hub dataset name, e.g. stanfordnlp/sst2"))
        self.hub_edit.returnPressed.connect(self._hub_picked)
        hub_button = QPushButton(self.tr("Use hub dataset"))
        hub_button.clicked.connect(self._hub_picked)
        row = QHBoxLayout()
        row.addWidget(self.builtin_combo)
        row.addWidget(self.hub_edit, 1)
        row.addWidget(hub_button)
        g.addWidget(QLabel(self.tr("Or:")), 3, 0)
        g.addLayout(row, 3, 1, 1, 2)
        self.eval_edit = QLineEdit()
        self.eval_edit.setPlaceholderText(self.tr("optional; empty = hold out a share of the training data"))
        self.eval_edit.editingFinished.connect(self.changed.emit)
        eval_browse = QPushButton(self.tr("Browse…"))
        eval_browse.clicked.connect(self._browse_eval)
        g.addWidget(QLabel(self.tr("Evaluation data:")), 4, 0)
        g.addWidget(self.eval_edit, 4, 1)
        g.addWidget(eval_browse, 4, 2)
        g.setColumnStretch(1, 1)
        outer.addWidget(src)

        mid = ResponsiveRow()  # side by side, stacked in a narrow window
        cols = QGroupBox(self.tr("Columns"))
        self.col_form = QFormLayout(cols)
        self.text_col = ColumnCombo()
        self.label_col = ColumnCombo()
        self.pair_col = ColumnCombo(optional=True)
        self.prompt_col = ColumnCombo(optional=True)
        self.response_col = ColumnCombo(optional=True)
        self.template_edit = QLineEdit()
        self.template_edit.setPlaceholderText(
            self.tr("optional, e.g. ### Instruction:\\n{instruction}\\n### Response:\\n"))
        from ftstudio.engine.textformats import FORMAT_TITLES, FORMATS

        self.format_combo = QComboBox()
        for f in FORMATS:
            self.format_combo.addItem(self.tr("detect from the columns") if f == "auto" else _t(FORMAT_TITLES[f]), f)
        self.format_combo.setToolTip(self.tr("How rows become training text; detected from the column names "
                                             "by default"))
        self.chat_template_edit = QLineEdit()
        self.chat_template_edit.setPlaceholderText(
            self.tr("empty: the model's chat template (or the default); 'default'; or a Jinja template"))
        self.loss_combo = QComboBox()
        self.loss_combo.addItem(self.tr("the answers only (assistant turns)"), "answer")
        self.loss_combo.addItem(self.tr("the whole text (prompt too)"), "all")
        self.loss_combo.setToolTip(self.tr("Which tokens the loss is taken on; answers only is the usual "
                                           "choice"))
        self.problems: dict[str, InlineProblem] = {}
        for key, title, w in (
            ("text_column", self.tr("Text column"), self.text_col),
            ("label_column", self.tr("Label column"), self.label_col),
            ("text_pair_column", self.tr("Second text (pairs)"), self.pair_col),
            ("prompt_column", self.tr("Prompt column"), self.prompt_col),
            ("response_column", self.tr("Response column"), self.response_col),
            ("template", self.tr("Prompt template"), self.template_edit),
            ("format", self.tr("Text format"), self.format_combo),
            ("chat_template", self.tr("Chat template"), self.chat_template_edit),
            ("loss_on", self.tr("Loss on"), self.loss_combo),
        ):
            w.setObjectName(key)
            p = InlineProblem()
            p.setObjectName(f"{key}_problem")
            self.problems[key] = p
            box = QVBoxLayout()
            box.setSpacing(1)
            box.addWidget(w)
            box.addWidget(p)
            self.col_form.addRow(self.tr("{title}:").format(title=title), box)
            if isinstance(w, QComboBox):
                (w.currentIndexChanged if not w.isEditable() else w.currentTextChanged).connect(self._mapping_changed)
            else:
                w.editingFinished.connect(self._mapping_changed)
        mid.addWidget(cols, 1)
        self.dist_box = dist = QGroupBox(self.tr("Label distribution"))
        self.dist_layout = QFormLayout(dist)
        self.dist_note = QLabel("—")
        self.dist_layout.addRow(self.dist_note)
        mid.addWidget(dist, 1)
        # text generation: the detected format and the first example as the model will see it
        self.format_box = QGroupBox(self.tr("First example, as the model is trained on it"))
        fl = MinimumColumn(self.format_box)  # a wrapped label over a text box: asks for its minimum
        self.format_facts = QLabel("")
        self.format_facts.setObjectName("format_facts")
        self.format_facts.setWordWrap(True)
        fl.addWidget(self.format_facts)
        self.example_view = QTextEdit()
        self.example_view.setObjectName("example_view")
        self.example_view.setReadOnly(True)
        self.example_view.setMinimumHeight(120)
        fl.addWidget(self.example_view, 1)
        self.format_box.hide()
        mid.addWidget(self.format_box, 1)
        outer.addWidget(mid)

        prev = QGroupBox(self.tr("Preview"))
        pl = MinimumColumn(prev)  # the wrapped status line must not make the table's height a minimum
        self.preview_status = QLabel("")
        self.preview_status.setStyleSheet("color:#555")
        pl.addWidget(self.preview_status)
        self.table = QTableWidget(0, 0)
        self.table.setObjectName("preview_table")
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(False)
        pl.addWidget(self.table)
        outer.addWidget(prev, 1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(200)
        self._timer.timeout.connect(self.refresh_preview)
        self.preview: Any = None
        self.preview_error: str | None = None
        self._seq = 0
        self._loading = False
        self._extra: dict = {}
        self.label_names: list[str] | None = None  # labels.txt beside the data, when there is one
        self.guessed: dict[str, str] = {}  # column fields set from the file (the named one was absent)
        self.model_source: Any = None  # set by the window: () -> the chosen model (its chat template)
        self._tokenizers: dict[str, Any] = {}
        self._task_changed()

    # -- config in/out -------------------------------------------------------------------------
    def task(self) -> str:
        return self.task_combo.currentData()

    def data_config(self) -> DataConfig:
        return DataConfig(
            train=self.train_edit.text().strip(),
            eval=self.eval_edit.text().strip() or None,
            text_column=self.text_col.value() or "text",
            label_column=self.label_col.value() or "label",
            text_pair_column=self.pair_col.value(),
            prompt_column=self.prompt_col.value(),
            response_column=self.response_col.value(),
            template=(self.template_edit.text().replace("\\n", "\n") or None),
            format=self.format_combo.currentData() or "auto",
            chat_template=(self.chat_template_edit.text().replace("\\n", "\n") or None),
            loss_on=self.loss_combo.currentData() or "answer",
            eval_fraction=self._extra.get("eval_fraction", 0.1),
            max_train_samples=self._extra.get("max_train_samples"),
            max_eval_samples=self._extra.get("max_eval_samples"),
        )

    def set_config(self, task: str, data: DataConfig | None) -> None:
        self._loading = True
        i = self.task_combo.findData(task)
        self.task_combo.setCurrentIndex(max(i, 0))
        d = data or DataConfig()
        self.train_edit.setText(d.train)
        self.eval_edit.setText(d.eval or "")
        self.text_col.set_value(d.text_column)
        self.label_col.set_value(d.label_column)
        self.pair_col.set_value(d.text_pair_column)
        self.prompt_col.set_value(d.prompt_column)
        self.response_col.set_value(d.response_column)
        self.template_edit.setText((d.template or "").replace("\n", "\\n"))
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(d.format)))
        self.chat_template_edit.setText((d.chat_template or "").replace("\n", "\\n"))
        self.loss_combo.setCurrentIndex(max(0, self.loss_combo.findData(d.loss_on)))
        self._extra = {
            "eval_fraction": d.eval_fraction,
            "max_train_samples": d.max_train_samples,
            "max_eval_samples": d.max_eval_samples,
        }
        self._loading = False
        self._task_changed()
        self._timer.start()

    # -- user actions -------------------------------------------------------------------------------
    def _task_changed(self) -> None:
        lm = self.task() == "causal-lm"
        for key, vis in (
            ("text_column", not lm),  # text generation reads prompt/response (or the template)
            ("label_column", not lm),
            ("text_pair_column", not lm),
            ("prompt_column", lm),
            ("response_column", lm),
            ("template", lm),
            ("format", lm),
            ("chat_template", lm),
            ("loss_on", lm),
        ):
            self._set_row_visible(key, vis)
        self.dist_box.setVisible(not lm)
        self.format_box.setVisible(lm)
        if not self._loading:
            self.task_changed.emit(self.task())
            self.changed.emit()
            self._timer.start()

    def _set_row_visible(self, key: str, visible: bool) -> None:
        for r in range(self.col_form.rowCount()):
            item = self.col_form.itemAt(r, QFormLayout.FieldRole)
            lay = item.layout() if item else None
            if lay is not None and lay.itemAt(0) and lay.itemAt(0).widget().objectName() == key:
                self.col_form.setRowVisible(r, visible)
                return

    def _browse_train(self) -> None:
        p, _ = QFileDialog.getOpenFileName(self, self.tr("Choose training data"), "", file_filter())
        if p:
            self.set_source(p)

    def _browse_eval(self) -> None:
        p, _ = QFileDialog.getOpenFileName(self, self.tr("Choose evaluation data"), "", file_filter())
        if p:
            self.eval_edit.setText(p)
            self.changed.emit()

    def _builtin_picked(self) -> None:
        n = self.builtin_combo.currentData()
        if n:
            self.set_source(n)
        self.builtin_combo.setCurrentIndex(0)

    def _hub_picked(self) -> None:
        n = self.hub_edit.text().strip()
        if n:
            self.set_source(n if n.startswith("hub:") else f"hub:{n}")

    def _source_edited(self) -> None:
        self.changed.emit()
        self._timer.start()

    def _mapping_changed(self, *_: Any) -> None:
        if self._loading:
            return
        self.changed.emit()
        self._timer.start()

    def set_source(self, path: str) -> None:
        self.train_edit.setText(str(path))
        self.changed.emit()
        self.refresh_preview()

    # drag and drop
    def dragEnterEvent(self, e: Any) -> None:  # noqa: N802
        if self._dropped_file(e.mimeData()):
            e.acceptProposedAction()

    def dropEvent(self, e: Any) -> None:  # noqa: N802
        p = self._dropped_file(e.mimeData())
        if p:
            e.acceptProposedAction()
            self.set_source(p)

    @staticmethod
    def _dropped_file(mime: Any) -> str | None:
        if not mime.hasUrls():
            return None
        for u in mime.urls():
            p = u.toLocalFile()
            if p and Path(p).suffix.lower() in DATA_SUFFIXES:
                return p
        return None

    # -- preview -----------------------------------------------------------------------------------
    def refresh_preview(self) -> None:
        self._timer.stop()
        cfg = self.data_config()
        if not cfg.train:
            self._show_problem("source", self.tr("choose a file, a built-in dataset or a hub dataset"))
            return
        self._seq += 1
        seq = self._seq
        task = self.task()
        self.preview_status.setText(self.tr("Reading…"))

        model = self.model_source() if callable(self.model_source) and task == "causal-lm" else None

        def get() -> Any:
            from ftstudio.engine.data import label_names_file, preview, resolve_data_files

            pv = preview(cfg, task, n=20, tokenizer=self._tokenizer_for(model))
            try:
                names = label_names_file(resolve_data_files(cfg.train, None)[0])
            except Exception:  # noqa: BLE001 - names are a nicety
                names = None
            return pv, names

        def done(res: Any) -> None:
            if seq == self._seq:
                pv, names = res
                self.show_preview(pv, names)

        def error(e: Any) -> None:
            if seq == self._seq:
                self.show_error(e.message)

        run_async(get, done, error, owner=self)

    def _tokenizer_for(self, model: str | None) -> Any:
        """The chosen model's tokenizer (job thread), for its chat template; None if unknown."""
        if not model:
            return None
        if model not in self._tokenizers:
            try:
                from ftstudio.engine.models import load_tokenizer, resolve_model_path

                if not (model.startswith("builtin:") or Path(model).expanduser().exists()):
                    from ftstudio.engine.models import hf_cache_models

                    if model not in hf_cache_models():
                        return None  # never download for a preview
                self._tokenizers[model] = load_tokenizer(resolve_model_path(model), False)
            except Exception:  # noqa: BLE001 - the preview falls back to the default template
                self._tokenizers[model] = None
        return self._tokenizers[model]

    def _show_text_format(self, tf: dict | None) -> None:
        import html

        if not tf:
            self.format_facts.setText("")
            self.example_view.clear()
            return
        self.format_facts.setText(self.tr("<b>Format:</b> {format}<br><b>Template:</b> {template} · <b>loss "
                                          "on:</b> {loss_on} (highlighted)").format(
            format=html.escape(tf["title"]), template=html.escape(tf["template"]), loss_on=html.escape(tf["loss_on"])))
        parts = []
        for seg in tf.get("example") or []:
            t = html.escape(seg["text"][:3000]).replace("\n", "<br>")
            parts.append(f'<span style="background:#c8efc8">{t}</span>' if seg["answer"]
                         else f'<span style="color:#555">{t}</span>')
        self.example_view.setHtml('<div style="font-family:monospace">' + "".join(parts) + "</div>")

    def _clear_problems(self) -> None:
        self.source_problem.set_problem(None)
        for p in self.problems.values():
            p.set_problem(None)

    def _show_problem(self, key: str, msg: str) -> None:
        (self.source_problem if key == "source" else self.problems[key]).set_problem(msg)

    def problem_field(self, msg: str) -> str:
        """Which field a problem message is about (so it shows next to that field)."""
        low = msg.lower()
        d = self.data_config()
        checks = [
            ("label_column", d.label_column),
            ("text_pair_column", d.text_pair_column),
            ("prompt_column", d.prompt_column),
            ("response_column", d.response_column),
            ("text_column", d.text_column),
        ]
        if "column" in low or "列" in low:  # engine messages may be in Chinese
            for key, col in checks:
                if col and re.search(rf"['\"`“]{re.escape(col.lower())}['\"`”]", low):
                    return key
            for key, col in checks:
                if key.split("_")[0] in low and self._row_visible(key):
                    return key
        if "template" in low or "模板" in low:
            return "template"
        return "source"

    def _row_visible(self, key: str) -> bool:
        w = self.findChild(QWidget, key)
        return w is not None and not w.isHidden()

    def show_error(self, msg: str) -> None:
        self.preview = None
        self.preview_error = msg
        self._clear_problems()
        self._show_problem(self.problem_field(msg), msg)
        self.preview_status.setText("")
        self.table.setRowCount(0)
        self._show_text_format(None)

    def label_name(self, value: Any) -> str:
        """'1' → 'positive' when labels.txt names the integer labels."""
        names = self.label_names
        k = str(value)
        if names and k.isdigit() and int(k) < len(names):
            return names[int(k)]
        return k

    def _guess_columns(self, columns: list[str], rows: list[dict]) -> dict[str, str]:
        """The default mapping ('text'/'label') naming a column the file does not have is replaced
        by the file's most likely column (and said so). A column the user named stays, with its
        problem shown next to it; nothing is guessed when the named column exists. (Text generation
        finds its columns through engine.textformats' format detection.)"""
        if not columns:
            return {}
        lm = self.task() == "causal-lm"
        out: dict[str, str] = {}

        def strings(c: str) -> list[str]:
            return [str(r.get(c)) for r in rows if isinstance(r, dict) and r.get(c) is not None]

        def avg_len(c: str) -> float:
            v = strings(c)
            return sum(map(len, v)) / len(v) if v else 0.0

        if not lm and self.text_col.value() in (None, "text") and "text" not in columns:
            c = next((c for c in TEXT_GUESSES if c in columns), None) or max(columns, key=avg_len)
            out["text_column"] = c
        if not lm and self.label_col.value() in (None, "label") and "label" not in columns:
            text = out.get("text_column") or self.text_col.value()
            c = next((c for c in LABEL_GUESSES if c in columns and c != text), None)
            if c is None:
                cands = [c for c in columns if c != text and 2 <= len(set(strings(c))) < max(3, len(rows))]
                c = min(cands, key=lambda c: len(set(strings(c)))) if cands else None
            if c:
                out["label_column"] = c
        return out

    def show_preview(self, pv: Any, label_names: list[str] | None = None) -> None:
        self.preview = pv
        self.preview_error = None
        self.label_names = label_names
        self._clear_problems()
        columns = list(field(pv, "columns", default=[]) or [])
        rows = list(field(pv, "rows", default=[]) or [])
        for c in (self.text_col, self.label_col, self.pair_col, self.prompt_col, self.response_col):
            c.set_columns(columns)
        for c in (self.pair_col, self.prompt_col, self.response_col):  # no phantom names
            if c.value() is not None and c.value() not in columns:
                c.set_value(None)
        guessed = self._guess_columns(columns, rows)
        if guessed:
            combos = {"text_column": self.text_col, "label_column": self.label_col,
                      "prompt_column": self.prompt_col, "response_column": self.response_col}
            for k, v in guessed.items():
                combos[k].set_value(v)
            self.guessed.update(guessed)
            self.changed.emit()
            self._timer.start()  # read again with the columns the file has
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels(columns)
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            vals = [r.get(c) for c in columns] if isinstance(r, dict) else list(r)
            for j, v in enumerate(vals[: len(columns)]):
                text = "" if v is None else str(v)
                if columns[j] == self.label_col.value() and self.task() == "classification" \
                        and self.label_name(text) != text:
                    text = f"{text} ({self.label_name(text)})"
                it = QTableWidgetItem(text if len(text) < 300 else text[:300] + "…")
                it.setToolTip(text[:2000])
                self.table.setItem(i, j, it)
        # the longest column (the text) takes the spare width; the others fit their contents
        widths = [self.table.sizeHintForColumn(j) for j in range(len(columns))]
        hdr = self.table.horizontalHeader()
        hdr.setStretchLastSection(False)
        for j in range(len(columns)):
            hdr.setSectionResizeMode(j, QHeaderView.Interactive)
            self.table.setColumnWidth(j, min(300, max(80, widths[j] + 16)))
        if widths:
            hdr.setSectionResizeMode(max(range(len(widths)), key=widths.__getitem__), QHeaderView.Stretch)
        total = field(pv, "num_rows", "total_rows", "n_rows")
        note = ""
        if guessed:
            note = self.tr(" · set from the file: {fields}").format(
                fields=", ".join(f"{k.replace('_', ' ')} = '{v}'" for k, v in guessed.items()))
        self.preview_status.setWordWrap(True)
        if not columns:
            self.preview_status.setText("")
        elif isinstance(total, int):
            self.preview_status.setText(self.tr("First {n} rows of {total:,} · {n_columns} columns").format(
                n=len(rows), total=total, n_columns=len(columns)) + note)
        else:
            self.preview_status.setText(self.tr("First {n} rows · {n_columns} columns").format(
                n=len(rows), n_columns=len(columns)) + note)
        probs = field(pv, "problems", "warnings", default=[]) or []
        if isinstance(probs, dict):
            for k, m in probs.items():
                self._show_problem(k if k in self.problems else "source", str(m))
        else:
            for m in probs:
                m = str(m)
                self._show_problem(self.problem_field(m), m)
        self._show_distribution(field(pv, "label_counts", "label_distribution", "labels", default={}) or {})
        self._show_text_format(field(pv, "text_format", default=None))

    def _show_distribution(self, counts: Any) -> None:
        while self.dist_layout.rowCount():
            self.dist_layout.removeRow(0)
        if not isinstance(counts, dict) or not counts:
            lab = QLabel("—" if self.task() == "classification" else self.tr("Labels are not used for text generation."))
            self.dist_layout.addRow(lab)
            return
        total = sum(v for v in counts.values() if isinstance(v, (int, float))) or 1
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])
        items = ranked[:MAX_LABELS_SHOWN]
        def share(n: int) -> str:  # one row of 520 is "<1%", not "0%"
            pct = 100 * n / total
            return f"{n:,}  ({pct:.0f}%)" if pct >= 0.5 or not n else f"{n:,}  (<1%)"

        for name, n in items:
            full = self.label_name(name)
            shown = full if full == str(name) else f"{full} ({name})"
            lab = QLabel(elide(shown, 32) + ":")
            lab.setToolTip(shown)
            self.dist_layout.addRow(lab, labelled_bar(n / total, share(n)))
        rest = ranked[len(items):]
        if rest:
            n = sum(v for _, v in rest)
            self.dist_layout.addRow(QLabel(self.tr("{n_rest:,} others:").format(n_rest=len(rest))),
                                    labelled_bar(n / total, share(n), "#9e9e9e"))
