"""Runs: history from the runs store, a run's curves/config/summary, comparison, delete, export."""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ftstudio.gui.pages.common import Lazy, flow_row, heading, memory_estimate_text, memory_ratio_text, status_name
from ftstudio.gui.util import fmt_bytes, fmt_count, fmt_metric, fmt_seconds, run_async, show_error


def _curves() -> QWidget:
    from ftstudio.gui.widgets.plots import TrainingPlots

    return TrainingPlots(live=False)


def _compare_curves() -> QWidget:
    from ftstudio.gui.widgets.plots import CompareCurves

    return CompareCurves()

COLUMNS = [  # header texts translated where shown (RunsPage context)
    QT_TRANSLATE_NOOP("RunsPage", "Run"),
    QT_TRANSLATE_NOOP("RunsPage", "Status"),
    QT_TRANSLATE_NOOP("RunsPage", "Technique"),
    QT_TRANSLATE_NOOP("RunsPage", "Model"),
    QT_TRANSLATE_NOOP("RunsPage", "Dataset"),
    QT_TRANSLATE_NOOP("RunsPage", "Started"),
    QT_TRANSLATE_NOOP("RunsPage", "Accuracy"),
    QT_TRANSLATE_NOOP("RunsPage", "Baseline"),
    QT_TRANSLATE_NOOP("RunsPage", "Macro-F1"),
    QT_TRANSLATE_NOOP("RunsPage", "Eval loss"),
    QT_TRANSLATE_NOOP("RunsPage", "Trainable"),
    QT_TRANSLATE_NOOP("RunsPage", "Peak memory"),
    QT_TRANSLATE_NOOP("RunsPage", "Memory est./measured"),
    QT_TRANSLATE_NOOP("RunsPage", "Time"),
]
SORT_ROLE = Qt.UserRole + 1  # a column's sort key (numbers sort as numbers, "—" last)


def baseline_text(s: dict) -> str:
    """'0.889 (always 'ham')' from summary.json's majority baseline."""
    b = s.get("baseline") if isinstance(s, dict) else None
    if not isinstance(b, dict) or b.get("accuracy") is None:
        return "—"
    return QCoreApplication.translate("RunsPage", "{acc} (always '{label}')").format(
        acc=fmt_metric(b["accuracy"]), label=b.get("label", "?"))


def accuracy_text(s: dict) -> str:
    """The accuracy, marked when it is no better than the majority baseline."""
    acc = s.get("accuracy")
    if acc is None:
        return "—"
    return fmt_metric(acc) + (QCoreApplication.translate("RunsPage", "  ✖ baseline")
                              if s.get("beats_baseline") is False else "")


class SortItem(QTableWidgetItem):
    """A cell that sorts by its key (numbers, times) rather than its text."""

    def __lt__(self, other: QTableWidgetItem) -> bool:  # noqa: D105
        a, b = self.data(SORT_ROLE), other.data(SORT_ROLE)
        if a is None or b is None:  # blanks ("—") last, whichever way the column is sorted
            t = self.tableWidget()
            desc = t is not None and t.horizontalHeader().sortIndicatorOrder() == Qt.DescendingOrder
            return (a is None and b is not None) if desc else (a is not None and b is None)
        try:
            return a < b
        except TypeError:
            return str(a) < str(b)


COMPARE_ROWS = [
    (QT_TRANSLATE_NOOP("RunsPage", "Technique"), lambda r: r.technique),
    (QT_TRANSLATE_NOOP("RunsPage", "Model"), lambda r: r.model),
    (QT_TRANSLATE_NOOP("RunsPage", "Dataset"), lambda r: getattr(r, "dataset", "") or "—"),
    (QT_TRANSLATE_NOOP("RunsPage", "Status"), lambda r: status_name(r.status)),
    (QT_TRANSLATE_NOOP("RunsPage", "Trainable %"), lambda r: _pct(r.summary)),
    (QT_TRANSLATE_NOOP("RunsPage", "Trainable params"), lambda r: fmt_count(r.summary.get("trainable_params"))),
    (QT_TRANSLATE_NOOP("RunsPage", "Peak memory"), lambda r: fmt_bytes(r.summary.get("peak_memory_bytes"))),
    (QT_TRANSLATE_NOOP("RunsPage", "Memory estimate"), lambda r: memory_estimate_text(r.summary) or "—"),
    (QT_TRANSLATE_NOOP("RunsPage", "Time"), lambda r: fmt_seconds(r.summary.get("wall_seconds"))),
    (QT_TRANSLATE_NOOP("RunsPage", "Samples/s"), lambda r: fmt_metric(r.summary.get("samples_per_second"))),
    (QT_TRANSLATE_NOOP("RunsPage", "Accuracy"), lambda r: accuracy_text(r.summary)),
    (QT_TRANSLATE_NOOP("RunsPage", "Majority baseline"), lambda r: baseline_text(r.summary)),
    (QT_TRANSLATE_NOOP("RunsPage", "Macro-F1"), lambda r: fmt_metric(r.summary.get("macro_f1"))),
    (QT_TRANSLATE_NOOP("RunsPage", "Eval loss"), lambda r: fmt_metric(r.summary.get("eval_loss"))),
    (QT_TRANSLATE_NOOP("RunsPage", "Perplexity"), lambda r: fmt_metric(r.summary.get("perplexity"))),
]


def open_url(url: str) -> None:
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QDesktopServices

    QDesktopServices.openUrl(QUrl(url))


def _pct(s: dict) -> str:
    tp, tot = s.get("trainable_params"), s.get("total_params")
    return f"{100 * tp / tot:.2f}%" if tp is not None and tot else "—"


class RunsPage(QWidget):
    resume_requested = Signal(str)
    load_setup_requested = Signal(str)
    runs_changed = Signal()

    def __init__(self, runs_dir: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.runs_dir = runs_dir  # callable → the runs directory in use
        lay = QVBoxLayout(self)
        lay.addWidget(heading(self.tr("Runs"), self.tr("Every run is kept on disk; select two or more to compare.")))

        self.refresh_button = QPushButton(self.tr("Refresh"))
        self.refresh_button.clicked.connect(self.refresh)
        self.compare_button = QPushButton(self.tr("Compare selected"))
        self.compare_button.setObjectName("compare_button")
        self.compare_button.clicked.connect(self.compare_selected)
        self.resume_button = QPushButton(self.tr("Resume"))
        self.resume_button.setToolTip(self.tr("Continue a stopped, failed or interrupted run from its last "
                                              "checkpoint"))
        self.resume_button.clicked.connect(self._resume)
        self.setup_button = QPushButton(self.tr("Use its setup"))
        self.setup_button.setToolTip(self.tr("Load this run's configuration into the setup pages"))
        self.setup_button.clicked.connect(self._use_setup)
        self.export_button = QPushButton(self.tr("Export…"))
        self.export_button.clicked.connect(self._export_menu)
        self.delete_button = QPushButton(self.tr("Delete"))
        self.delete_button.clicked.connect(self._delete)
        self.tensorboard_button = QPushButton(self.tr("Open in TensorBoard"))
        self.tensorboard_button.setObjectName("tensorboard_button")
        self.tensorboard_button.clicked.connect(self.open_tensorboard)
        self._tensorboard: tuple[Any, str] | None = None  # (process, url) while it runs
        lay.addWidget(flow_row([self.refresh_button, self.compare_button, self.resume_button, self.setup_button,
                                self.export_button, self.delete_button, self.tensorboard_button]))  # wraps
        self.where = QLabel("")
        self.where.setStyleSheet("color:#555")
        self.where.setMinimumWidth(40)  # a long runs path must not widen the page
        self.where.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        lay.addWidget(self.where)

        split = QSplitter(Qt.Vertical)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("runs_table")
        self.table.setHorizontalHeaderLabels([self.tr(c) for c in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        # the run's name is edited in place (double-click or F2); every other cell is read-only
        self.table.setEditTriggers(QAbstractItemView.DoubleClicked | QAbstractItemView.EditKeyPressed)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSortingEnabled(True)  # click a header to sort by it
        self.table.sortByColumn(COLUMNS.index("Started"), Qt.DescendingOrder)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.itemChanged.connect(self._item_changed)
        split.addWidget(self.table)

        self.tabs = QTabWidget()
        self._curves = Lazy(_curves)
        self.config_text = QPlainTextEdit()
        self.config_text.setReadOnly(True)
        self.summary_text = QPlainTextEdit()
        self.summary_text.setReadOnly(True)
        cmp = QWidget()
        cl = QVBoxLayout(cmp)
        self._compare_curves = Lazy(_compare_curves)
        self.compare_table = QTableWidget(0, 0)
        self.compare_table.setObjectName("compare_table")
        self.compare_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.compare_table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        csplit = QSplitter(Qt.Horizontal)
        csplit.addWidget(self._compare_curves)
        csplit.addWidget(self.compare_table)
        csplit.setSizes([700, 400])
        cl.addWidget(csplit)
        self.tabs.addTab(self._curves, self.tr("Curves"))
        self.tabs.addTab(self.config_text, self.tr("Config"))
        self.tabs.addTab(self.summary_text, self.tr("Summary"))
        self.tabs.addTab(cmp, self.tr("Compare"))
        split.addWidget(self.tabs)
        split.setSizes([260, 520])
        lay.addWidget(split, 1)
        self.records: list[Any] = []
        self.opened: Any = None
        self.compared: list[Any] = []
        self._selection_changed()
        self._tensorboard_tip()

    @property
    def curves(self) -> Any:
        return self._curves.get()

    @property
    def compare_curves(self) -> Any:
        return self._compare_curves.get()

    # -- TensorBoard ----------------------------------------------------------------------------------
    def _tensorboard_tip(self) -> None:
        from ftstudio.engine import tensorboard_events

        ok = tensorboard_events.available()
        self.tensorboard_button.setEnabled(ok and self.tensorboard_button.text() == self.tr("Open in TensorBoard"))
        self.tensorboard_button.setToolTip(
            self.tr("Start TensorBoard on the runs folder (every run writes its event files) and open it in "
                    "the browser")
            if ok else self.tr('TensorBoard is not installed: pip install "ftstudio[tensorboard]"'))

    def open_tensorboard(self) -> None:
        """One TensorBoard server per studio, on the runs folder; later clicks reopen the page."""
        if self._tensorboard and self._tensorboard[0].poll() is None:
            open_url(self._tensorboard[1])
            return
        from ftstudio.engine import tensorboard_events
        from ftstudio.engine.store import default_runs_dir

        logdir = Path(self.runs_dir() or default_runs_dir())
        self.tensorboard_button.setText(self.tr("Starting TensorBoard…"))
        self.tensorboard_button.setEnabled(False)

        def started(res: tuple[Any, str]) -> None:
            self._tensorboard = res
            self._tensorboard_done()
            from PySide6.QtWidgets import QApplication

            QApplication.instance().aboutToQuit.connect(res[0].terminate)
            self.where.setText(self.tr("TensorBoard: {res} (runs in {logdir})").format(
                                   res=res[1], logdir=logdir))
            open_url(res[1])

        def failed(info: Any) -> None:
            self._tensorboard_done()
            show_error(self, info)

        run_async(lambda: tensorboard_events.launch(logdir), started, failed, owner=self)

    def _tensorboard_done(self) -> None:
        self.tensorboard_button.setText(self.tr("Open in TensorBoard"))
        self._tensorboard_tip()

    # -- history --------------------------------------------------------------------------------------
    def refresh(self) -> None:
        from ftstudio.engine.store import list_runs

        d = self.runs_dir()
        try:
            recs = list_runs(Path(d) if d else None)
        except Exception as e:  # noqa: BLE001
            show_error(self, e)
            recs = []
        keep = {r.run_dir for r in self.selected()}
        self.records = recs
        self._filling = True
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(recs))
        for i, r in enumerate(recs):
            s = r.summary or {}
            tp, tot = s.get("trainable_params"), s.get("total_params")
            base = s.get("baseline") if isinstance(s.get("baseline"), dict) else {}
            cells = [
                (getattr(r, "display_name", r.name), getattr(r, "display_name", r.name).lower()),
                (status_name(r.status), r.status), (r.technique, r.technique), (r.model, r.model),
                (_short_data(getattr(r, "dataset", "")), getattr(r, "dataset", "")),
                (time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started)) if r.started else "—", r.started or 0),
                (accuracy_text(s), s.get("accuracy")), (baseline_text(s), base.get("accuracy")),
                (fmt_metric(s.get("macro_f1")), s.get("macro_f1")), (fmt_metric(s.get("eval_loss")), s.get("eval_loss")),
                (_pct(s), (tp / tot) if tp is not None and tot else None),
                (fmt_bytes(s.get("peak_memory_bytes")), s.get("peak_memory_bytes") or None),
                (memory_ratio_text(s), s.get("memory_estimate_ratio")),
                (fmt_seconds(s.get("wall_seconds")), s.get("wall_seconds")),
            ]
            for j, (text, key) in enumerate(cells):
                it = SortItem(str(text))
                it.setData(SORT_ROLE, key)
                if j == 0:
                    it.setData(Qt.UserRole, i)
                    it.setToolTip(self.tr("{run_dir}\nDouble-click to rename").format(run_dir=r.run_dir))
                    it.setFlags(it.flags() | Qt.ItemIsEditable)
                else:
                    it.setFlags(it.flags() & ~Qt.ItemIsEditable)
                if j == 4:
                    it.setToolTip(getattr(r, "dataset", ""))
                if j == COLUMNS.index("Memory est./measured") and memory_estimate_text(s):
                    it.setToolTip(memory_estimate_text(s))
                if j == COLUMNS.index("Accuracy") and s.get("beats_baseline") is False:
                    it.setForeground(Qt.darkYellow)
                    it.setToolTip(self.tr("no better than always answering '{value}'").format(
                                      value=base.get('label', '?')))
                self.table.setItem(i, j, it)
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()
        for j in range(self.table.columnCount()):
            self.table.setColumnWidth(j, min(self.table.columnWidth(j), 260))
        self._filling = False
        self.table.clearSelection()
        for row in range(self.table.rowCount()):
            if self.record_at(row).run_dir in keep:
                self.table.selectRow(row)
        from ftstudio.engine.store import default_runs_dir

        self.where.setText(self.tr("{n_recs} runs in {value}").format(
                               n_recs=len(recs), value=d or default_runs_dir()))
        self._selection_changed()

    def record_at(self, row: int) -> Any:
        """The record shown in table row ``row`` (rows move when the table is sorted)."""
        it = self.table.item(row, 0)
        i = it.data(Qt.UserRole) if it is not None else None
        return self.records[i] if isinstance(i, int) and i < len(self.records) else None

    def selected(self) -> list[Any]:
        rows = sorted({ix.row() for ix in self.table.selectionModel().selectedRows()})
        return [r for r in (self.record_at(row) for row in rows) if r is not None]

    def select_runs(self, run_dirs: list[Any]) -> None:
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.MultiSelection)
        want = {str(p) for p in run_dirs}
        for row in range(self.table.rowCount()):
            r = self.record_at(row)
            if r is not None and str(r.run_dir) in want:
                self.table.selectRow(row)
        self.table.setSelectionMode(mode)

    def rename(self, rec: Any, title: str) -> None:
        """Give a run a name (stored in its folder as title.txt)."""
        from ftstudio.engine.store import set_run_title

        try:
            set_run_title(rec.run_dir, title)
        except Exception as e:  # noqa: BLE001
            show_error(self, e)
        self.refresh()
        self.runs_changed.emit()

    def _item_changed(self, it: QTableWidgetItem) -> None:
        if getattr(self, "_filling", False) or it.column() != 0:
            return
        rec = self.record_at(it.row())
        if rec is not None and it.text().strip() != getattr(rec, "display_name", rec.name):
            from PySide6.QtCore import QTimer

            QTimer.singleShot(0, lambda: self.rename(rec, it.text().strip() if it.text().strip() != rec.name else ""))

    def _selection_changed(self) -> None:
        sel = self.selected()
        one = len(sel) == 1
        self.compare_button.setEnabled(len(sel) >= 2)
        # a finished run has nothing left to train: only stopped, failed or interrupted runs resume
        self.resume_button.setEnabled(one and sel[0].status in ("cancelled", "failed", "interrupted"))
        self.setup_button.setEnabled(one)
        self.export_button.setEnabled(one and sel[0].status == "finished")
        self.delete_button.setEnabled(bool(sel) and all(r.status != "running" for r in sel))
        if one:
            self.open_run(sel[0])

    # -- one run --------------------------------------------------------------------------------------
    def open_selected(self) -> None:
        sel = self.selected()
        if sel:
            self.open_run(sel[0])

    def open_run(self, rec: Any) -> None:
        from ftstudio.engine.store import read_metrics

        self.opened = rec
        self.curves.reset()
        self.curves.feed_all(read_metrics(rec.run_dir))
        try:
            self.config_text.setPlainText(rec.config_path.read_text(encoding="utf-8"))
        except OSError:
            self.config_text.setPlainText(self.tr("(config.yaml missing)"))
        import json

        self.summary_text.setPlainText(json.dumps(rec.summary, indent=2, default=str))
        if self.tabs.currentIndex() == 3:
            self.tabs.setCurrentIndex(0)

    # -- compare --------------------------------------------------------------------------------------
    def compare_selected(self) -> None:
        self.compare(self.selected())

    def compare(self, recs: list[Any]) -> None:
        from ftstudio.engine.store import read_metrics

        if len(recs) < 2:
            return
        self.compared = list(recs)
        self.compare_curves.set_runs([(short_label(r), read_metrics(r.run_dir)) for r in recs])
        t = self.compare_table
        t.setRowCount(len(COMPARE_ROWS))
        t.setColumnCount(len(recs))
        t.setHorizontalHeaderLabels([f"{r.technique}\n{getattr(r, 'display_name', r.name)[:18]}" for r in recs])
        for j, r in enumerate(recs):
            t.horizontalHeaderItem(j).setToolTip(str(r.run_dir))
        t.setVerticalHeaderLabels([self.tr(n) for n, _ in COMPARE_ROWS])
        for i, (_, fn) in enumerate(COMPARE_ROWS):
            for j, r in enumerate(recs):
                try:
                    v = fn(r)
                except Exception:  # noqa: BLE001
                    v = "—"
                t.setItem(i, j, QTableWidgetItem(str(v)))
        self.tabs.setCurrentIndex(3)

    # -- actions --------------------------------------------------------------------------------------
    def _resume(self) -> None:
        sel = self.selected()
        if len(sel) == 1:
            self.resume_requested.emit(str(sel[0].run_dir))

    def _use_setup(self) -> None:
        sel = self.selected()
        if len(sel) == 1:
            self.load_setup_requested.emit(str(sel[0].config_path))

    def _delete(self) -> None:
        sel = self.selected()
        if not sel:
            return
        names = "\n".join(r.name for r in sel)
        if QMessageBox.question(self, self.tr("Delete runs"), self.tr("Delete these runs and all their files?\n\n{names}").format(
                                                         names=names)) \
                != QMessageBox.Yes:
            return
        self.delete_runs(sel)

    def delete_runs(self, recs: list[Any]) -> None:
        from ftstudio.engine.store import delete_run

        for r in recs:
            try:
                delete_run(r.run_dir)
            except Exception as e:  # noqa: BLE001
                show_error(self, e)
        self.refresh()
        self.runs_changed.emit()

    def _export_menu(self) -> None:
        sel = self.selected()
        if len(sel) != 1:
            return
        rec = sel[0]
        menu = QMenu(self)
        kinds = export_kinds(rec)
        labels = {"adapter": self.tr("PEFT adapter / technique weights"), "merged": self.tr("Merged model"),
                  "model": self.tr("Full model folder"),
                  "delta": self.tr("Delta: only the trained tensors (biases + head), small; needs the base "
                                   "model")}
        for k in kinds:
            menu.addAction(labels.get(k, k), lambda k=k: self._export(rec, k))
        for fmt, title in engine_export_actions(rec, kinds):
            menu.addAction(title, lambda f=fmt: self._export_format(rec, f))
        if rec.task == "causal-lm":  # merged weights for llama.cpp / Ollama / LM Studio
            menu.addSeparator()
            for q, what in (("f16", "GGUF F16 (llama.cpp, Ollama, LM Studio)"),
                            ("q8_0", self.tr("GGUF Q8_0 (half the size)"))):
                menu.addAction(what, lambda q=q: self._export_gguf(rec, q))
        menu.exec(self.export_button.mapToGlobal(self.export_button.rect().bottomLeft()))

    def _export(self, rec: Any, kind: str) -> None:
        what = {"adapter": self.tr("adapter"), "merged": self.tr("merged model"), "model": self.tr("full model")}
        d = QFileDialog.getExistingDirectory(self, self.tr("Export {kind} to…").format(kind=what.get(kind, kind)))
        if d:
            self.export_run(rec, kind, Path(d) / f"{rec.name}-{kind}")

    def _export_format(self, rec: Any, fmt: str) -> None:
        d = QFileDialog.getExistingDirectory(self, self.tr("Export {fmt} to…").format(fmt=fmt))
        if d:
            self.export_format(rec, fmt, Path(d) / f"{rec.name}-{fmt}")

    def export_format(self, rec: Any, fmt: str, dest: Path, on_done: Any = None) -> None:
        """An export the engine builds (ONNX, a merge not written by the run), off the GUI thread."""
        self.where.setText(self.tr("exporting {name} as {fmt}…").format(name=rec.name, fmt=fmt))

        def job() -> str:
            from ftstudio.engine.run_export import export_run

            return str(export_run(rec.run_dir, fmt, dest))

        self._export_in_background(job, self.tr("exported to {p}"), on_done)

    def _export_gguf(self, rec: Any, quant: str) -> None:
        d = QFileDialog.getExistingDirectory(self, self.tr("Export GGUF ({value}) to…").format(
                                                       value=quant.upper()))
        if d:
            self.export_gguf(rec, quant, Path(d) / f"{rec.name}-gguf")

    def export_gguf(self, rec: Any, quant: str, dest: Path, on_done: Any = None) -> None:
        """Merge and write the run as GGUF (engine.export 'gguf'), then copy it with its Modelfile
        to ``dest``; off the GUI thread."""
        self.where.setText(self.tr("writing GGUF ({value})…").format(value=quant.upper()))

        def job() -> str:
            from ftstudio.engine.export import export_run

            paths = [Path(x) for x in export_run(rec.run_dir, "gguf", quant=quant)]
            dest.mkdir(parents=True, exist_ok=True)
            for x in paths:
                shutil.copy2(x, dest / x.name)
            return str(dest / paths[0].name)

        self._export_in_background(
            job, self.tr("exported to {p} (Modelfile beside it: ollama create NAME -f Modelfile)"), on_done)

    def export_run(self, rec: Any, kind: str, dest: Path, on_done: Any = None) -> None:
        """Copy the engine-written export (export/ or export/KIND/) to ``dest`` off the GUI thread."""

        def job() -> str:
            src = Path(rec.run_dir) / "export"
            if (src / kind).is_dir():
                src = src / kind
            if not src.is_dir():
                from ftstudio.engine.errors import UserError

                raise UserError(self.tr("run {name} has no export/ folder (did it finish?)").format(
                                    name=rec.name))
            if dest.exists():
                from ftstudio.engine.errors import UserError

                raise UserError(self.tr("{dest} already exists; choose another folder").format(dest=dest))
            shutil.copytree(src, dest)
            return str(dest)

        self._export_in_background(job, self.tr("exported to {p}"), on_done)

    def _export_in_background(self, job: Any, message: str, on_done: Any = None) -> None:
        """Run an export job off the GUI thread; ``message`` ({p} = where it went) reports it."""

        def done(p: str) -> None:
            self.where.setText(message.format(p=p))
            if on_done:
                on_done(p)

        def failed(e: Any) -> None:
            self.where.setText("")
            show_error(self, e)

        run_async(job, done, failed, owner=self)


def _short_data(spec: str) -> str:
    """'sst2/train.csv' for a long path; builtin:/hub: names as they are."""
    if not spec or spec.startswith(("builtin:", "hub:")) or "/" not in spec:
        return spec or "—"
    parts = Path(spec).parts
    return "/".join(parts[-2:])


def short_label(rec: Any) -> str:
    """'lora 00:16:55' for a run folder named 20261126-001655-lora-minilm-l6 (legends stay short)."""
    if getattr(rec, "title", ""):
        return rec.title[:24]
    n = rec.name
    if len(n) > 15 and n[8] == "-" and n[:8].isdigit() and n[9:15].isdigit():
        return f"{rec.technique} {n[9:11]}:{n[11:13]}:{n[13:15]}"
    return n


def engine_export_actions(rec: Any, copied: list[str]) -> list[tuple[str, str]]:
    """(format, menu title) for exports the engine builds on demand: ONNX for classification runs
    (only when the onnx extra is installed: the title says so otherwise), and a merged model when
    the run did not write one."""
    try:
        from ftstudio.engine.run_export import formats_for, onnx_available

        formats = formats_for(rec.run_dir)
    except Exception:  # noqa: BLE001 - an unreadable run offers only what is on disk
        return []
    out = []
    if "onnx" in formats:
        missing = onnx_available()
        out.append(("onnx", QCoreApplication.translate("RunsPage", "ONNX model (onnxruntime)")
                    + (QCoreApplication.translate("RunsPage", " — needs the onnx extra") if missing else "")))
    if "merged" in formats and not {"merged", "model"} & set(copied):
        out.append(("merged", QCoreApplication.translate("RunsPage", "Merged model (built now)")))
    return out


def export_kinds(rec: Any) -> list[str]:
    """What the run wrote, to copy: the technique's main export kind (export/ itself) and the
    others that exist on disk as export/KIND/ (a LoRA run's merged/ only when it wrote one:
    offering it otherwise copied the adapter under the merged model's name)."""
    try:
        from ftstudio.techniques import get_technique

        kinds = list(get_technique(rec.technique).export_kinds)
    except Exception:  # noqa: BLE001
        kinds = []
    ex = Path(rec.run_dir) / "export"
    return [k for i, k in enumerate(kinds) if i == 0 or (ex / k).is_dir()] or ["model"]
