"""Compare techniques: tick techniques (each with its panel), set the shared budget, Start. Arms
run one after another through the ordinary training worker (``engine.study.run_study``); the
queue shows done / running / waiting with per-arm and total ETA, the running arm's loss is
plotted live, and the chart and table fill in as arms finish.

Model and data come from the setup pages; what each arm shares is set here."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ftstudio.engine.errors import UserError
from ftstudio.gui.pages.common import (
    InlineProblem, Lazy, MinimumRow, ResponsiveSplitter, WrappedCheckBox, flow_row, heading, status_name,
)
from ftstudio.gui.util import fmt_count, fmt_seconds, run_async, show_error
from ftstudio.i18n import _t

RESULT_COLUMNS = [  # translated where shown (ComparePage context)
    QT_TRANSLATE_NOOP("ComparePage", "arm"),
    QT_TRANSLATE_NOOP("ComparePage", "status"),
    QT_TRANSLATE_NOOP("ComparePage", "quality"),
    QT_TRANSLATE_NOOP("ComparePage", "macro-F1"),
    QT_TRANSLATE_NOOP("ComparePage", "baseline"),
    QT_TRANSLATE_NOOP("ComparePage", "trainable"),
    QT_TRANSLATE_NOOP("ComparePage", "trainable %"),
    QT_TRANSLATE_NOOP("ComparePage", "peak MiB"),
    QT_TRANSLATE_NOOP("ComparePage", "arm MiB"),
    QT_TRANSLATE_NOOP("ComparePage", "train s"),
    QT_TRANSLATE_NOOP("ComparePage", "samples/s"),
    QT_TRANSLATE_NOOP("ComparePage", "export MiB"),
]


def _loss_plot() -> QWidget:
    from ftstudio.gui.widgets.plots import SeriesGroup, make_plot

    w = make_plot(QCoreApplication.translate("ComparePage", "Running arm: training loss"),
                  QCoreApplication.translate("ComparePage", "loss"))
    w.series = SeriesGroup(w)  # type: ignore[attr-defined]
    return w


def _study_fn(study: Any, subscribers: Any = (), cancel: Any = None, resume: Any = None) -> dict:
    """The worker's train function for a study: ``resume`` carries the study folder."""
    from ftstudio.engine.study import run_study

    return run_study(study, subscribers=subscribers, cancel=cancel, study_dir=resume)


class ChartLabel(QLabel):
    """The study's chart, scaled to the room it is given. Its size never follows its pixmap (scaled
    in a big window, the pixmap became the label's minimum and a smaller window stacked the panes
    and scrolled); it asks for a chart's worth of room and fits a 1024×640 window with 160 px."""

    source: QPixmap | None = None  # the chart as drawn; shown scaled to the label's size

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(640, 320)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(200, 160)

    def setText(self, text: str) -> None:  # noqa: N802
        self.source = None  # a message (a new study, an error) replaces the chart for good
        super().setText(text)

    def fit(self) -> None:
        if self.source is not None and not self.source.isNull():
            self.setPixmap(self.source.scaled(self.size(), Qt.KeepAspectRatio, Qt.SmoothTransformation))

    def resizeEvent(self, e: Any) -> None:  # noqa: N802
        super().resizeEvent(e)
        self.fit()  # its own size: the page's resize came before the layout had shrunk the label


class ComparePage(QWidget):
    changed = Signal()
    study_ended = Signal(str)  # finished | stopped | failed

    def __init__(self, base_config: Callable[[], Any], is_busy: Callable[[], bool] = lambda: False,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.base_config = base_config  # the setup pages' RunConfig (model, data, runs dir)
        self.is_busy = is_busy
        self.session: Any = None
        self.study_dir: Path | None = None
        self.results: dict = {}
        self.queue: list[dict] = []     # id, label, status, eta
        self.estimates: dict[str, float] = {}
        self.running_eta: float | None = None
        self._prefilled = False
        self._step = 0
        outer = QVBoxLayout(self)
        outer.addWidget(heading(self.tr("Compare techniques"), self.tr("One model, one dataset, several techniques under the "
                                                      "same budget: what each buys and what it costs.")))
        split = ResponsiveSplitter(Qt.Horizontal, stacked=[(340, None), (420, None)])  # setup above results
        outer.addWidget(split, 1)

        # -- left: techniques, budget, buttons
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 6, 0)
        tech_box = QGroupBox(self.tr("Techniques (each at its default learning rate)"))
        tl = QVBoxLayout(tech_box)
        self.arms: dict[str, tuple[QCheckBox, Any, QWidget]] = {}
        from ftstudio.techniques import all_techniques, param_specs
        from ftstudio.gui.widgets.param_panel import ParamPanel

        for cls in all_techniques():
            seq = self.tr(" — task sequences only") if cls.needs_task_sequence else ""
            choice = WrappedCheckBox(self.tr("{title}   (learning rate {lr:g}){seq}").format(
                title=_t(cls.title), lr=cls.default_learning_rate, seq=seq))  # wraps in a narrow pane
            cb = choice.box
            cb.setObjectName(f"arm_{cls.name}")
            choice.setToolTip(_t(cls.card))
            panel = ParamPanel(param_specs(cls.Params))
            box = QGroupBox(self.tr("{title} parameters").format(title=_t(cls.title)))
            QVBoxLayout(box).addWidget(panel)
            box.hide()
            more = QPushButton(self.tr("Parameters ▸"))
            more.setObjectName(f"arm_params_{cls.name}")
            more.setFlat(True)
            more.setCheckable(True)
            more.setEnabled(False)
            more.setToolTip(self.tr("This technique's own parameters for its arm (defaults unless changed)"))
            more.toggled.connect(box.setVisible)
            cb.toggled.connect(more.setEnabled)
            cb.toggled.connect(lambda on, m=more: m.setChecked(False) if not on else None)
            cb.toggled.connect(lambda *_: self.changed.emit())
            line = QHBoxLayout()
            line.addWidget(choice, 1)
            line.addWidget(more, 0, Qt.AlignTop)
            tl.addLayout(line)
            tl.addWidget(box)
            self.arms[cls.name] = (cb, panel, box)
        ll.addWidget(tech_box)
        budget = QGroupBox(self.tr("Shared budget (the same for every arm)"))
        form = QFormLayout(budget)
        self.epochs = QDoubleSpinBox()
        self.epochs.setRange(0.01, 1000)
        self.epochs.setDecimals(2)
        self.epochs.setValue(1.0)
        self.max_steps = QSpinBox()
        self.max_steps.setRange(0, 10_000_000)
        self.max_steps.setSpecialValueText(self.tr("— (use epochs)"))
        self.batch = QSpinBox()
        self.batch.setRange(1, 4096)
        self.batch.setValue(32)
        self.max_length = QSpinBox()
        self.max_length.setRange(8, 32768)
        self.max_length.setValue(128)
        self.seeds = QLineEdit("42")
        self.seeds.setToolTip(self.tr("One seed, or several separated by commas (mean ± spread; a lead "
                                      "within the spread "
                              "is shown as a tie)"))
        form.addRow(self.tr("Epochs:"), self.epochs)
        form.addRow(self.tr("Max steps:"), self.max_steps)
        form.addRow(self.tr("Batch size:"), self.batch)
        form.addRow(self.tr("Max length:"), self.max_length)
        form.addRow(self.tr("Seed(s):"), self.seeds)
        note = QLabel(self.tr("Same examples in the same order and the same eval set for every arm; each "
                              "technique at "
                      "its default learning rate."))
        note.setWordWrap(True)
        note.setStyleSheet("color:#555")
        form.addRow(note)
        ll.addWidget(budget)
        self.problem = InlineProblem()
        ll.addWidget(self.problem)
        self.preflight_label = QLabel("")
        self.preflight_label.setObjectName("study_preflight")
        self.preflight_label.setWordWrap(True)
        ll.addWidget(self.preflight_label)

        self.preflight_button = QPushButton(self.tr("Pre-flight"))
        self.preflight_button.setToolTip(self.tr("Estimate the study's total time and its largest arm's "
                                                 "peak memory"))
        self.preflight_button.clicked.connect(self.run_preflight)
        self.start_button = QPushButton(self.tr("▶  Start study"))
        self.start_button.setObjectName("study_start")
        self.start_button.setStyleSheet("QPushButton{background:#2e7d32;color:white;font-weight:bold;padding:5px 12px;}"
                                        "QPushButton:disabled{background:#9e9e9e;}")
        self.start_button.clicked.connect(lambda: self.start())
        self.continue_button = QPushButton(self.tr("↻ Continue"))
        self.continue_button.setToolTip(self.tr("Run the arms not finished yet (the stopped one resumes)"))
        self.continue_button.setEnabled(False)
        self.continue_button.clicked.connect(lambda: self.start(continue_=True))
        self.stop_button = QPushButton(self.tr("■ Stop"))
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        ll.addWidget(flow_row([self.preflight_button, self.start_button, self.continue_button, self.stop_button]))

        self.save_button = QPushButton(self.tr("Save study…"))
        self.save_button.clicked.connect(self._save_dialog)
        self.open_button = QPushButton(self.tr("Open study…"))
        self.open_button.clicked.connect(self._open_dialog)
        self.png_button = QPushButton(self.tr("Export chart PNG…"))
        self.png_button.clicked.connect(lambda: self._export("png"))
        self.csv_button = QPushButton(self.tr("Export table CSV…"))
        self.csv_button.clicked.connect(lambda: self._export("csv"))
        ll.addWidget(flow_row([self.open_button, self.save_button, self.png_button, self.csv_button]))
        ll.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(left)
        scroll.setMinimumWidth(420)
        split.addWidget(scroll)

        # -- right: queue + live plot, chart, table
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(6, 0, 0, 0)
        top = MinimumRow()  # the wrapped study line must not make the plot's preferred height a minimum
        qcol = QVBoxLayout()
        self.total_label = QLabel(self.tr("No study yet."))
        self.total_label.setObjectName("study_total")
        self.total_label.setWordWrap(True)  # a long ETA note wraps instead of widening the pane
        qcol.addWidget(self.total_label)
        self.queue_table = QTableWidget(0, 3)
        self.queue_table.setObjectName("study_queue")
        self.queue_table.setHorizontalHeaderLabels([self.tr("arm"), self.tr("status"), self.tr("ETA")])
        self.queue_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        for c in (1, 2):  # as wide as their short texts: at 1024×640 the queue is ~175 px wide, and
            # two 100 px columns left the stretched arm column stale and off the view (a blank header)
            self.queue_table.horizontalHeader().setSectionResizeMode(c, QHeaderView.ResizeToContents)
        self.queue_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.queue_table.verticalHeader().hide()
        qcol.addWidget(self.queue_table)
        top.addLayout(qcol, 1)
        self._plot = Lazy(_loss_plot)
        top.addWidget(self._plot, 1)
        rl.addLayout(top, 2)
        self.chart = ChartLabel(self.tr("The chart appears here as arms finish."))
        self.chart.setObjectName("study_chart")
        self.chart.setAlignment(Qt.AlignCenter)
        self.chart.setStyleSheet("QLabel{background:white;border:1px solid #ddd;color:#777}")
        rl.addWidget(self.chart, 3)
        self.reading = QLabel("")
        self.reading.setObjectName("study_reading")
        self.reading.setWordWrap(True)
        self.reading.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.reading.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        # four lines, scrolling when longer: a wrapped label in a narrow pane would claim ever more
        # height and squeeze the chart (the page fits 1024×640); shown with the study's reading
        self.reading_box = QScrollArea()
        self.reading_box.setFrameShape(QScrollArea.NoFrame)
        self.reading_box.setWidgetResizable(True)
        self.reading_box.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.reading_box.setWidget(self.reading)
        self.reading_box.setFixedHeight(4 * self.reading.fontMetrics().lineSpacing() + 6)
        self.reading_box.hide()
        rl.addWidget(self.reading_box)
        self.table = QTableWidget(0, len(RESULT_COLUMNS))
        self.table.setObjectName("study_results")
        self.table.setHorizontalHeaderLabels([self.tr(c) for c in RESULT_COLUMNS])
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        rl.addWidget(self.table, 2)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        self._pixmap: QPixmap | None = None
        self._redraw = QTimer(self)
        self._redraw.setInterval(500)
        self._redraw.timeout.connect(self._redraw_plot)
        self._redraw.start()
        self._eta_timer = QTimer(self)
        self._eta_timer.setInterval(1000)
        self._eta_timer.timeout.connect(self._show_queue)

    @property
    def plot(self) -> Any:
        return self._plot.get()

    # -- the study this page describes --------------------------------------------------------------
    def showEvent(self, e: Any) -> None:  # noqa: N802
        if not self._prefilled:
            self._prefilled = True
            try:
                t = self.base_config().training  # start from the setup's budget
                self.epochs.setValue(t.epochs)
                self.max_steps.setValue(t.max_steps or 0)
                self.batch.setValue(t.batch_size)
                self.max_length.setValue(t.max_length)
                self.seeds.setText(str(t.seed))
            except Exception:  # noqa: BLE001 - an unfinished setup: keep the page's defaults
                pass
        super().showEvent(e)

    def ticked(self) -> list[str]:
        return [n for n, (cb, _p, _b) in self.arms.items() if cb.isChecked()]

    def set_ticked(self, names: list[str]) -> None:
        for n, (cb, _p, _b) in self.arms.items():
            cb.setChecked(n in names)

    def study_config(self) -> Any:
        """The StudyConfig: the setup pages' model and data + this page's arms and budget."""
        from ftstudio.engine.study import StudyConfig

        names = self.ticked()
        if not names:
            raise UserError(self.tr("tick at least one technique to compare"))
        cfg = self.base_config()
        base = cfg.to_dict()
        for k in ("technique", "output_dir"):
            base.pop(k, None)
        if cfg.tasks:
            base.pop("data", None)
        else:
            base.pop("tasks", None)
        t = base["training"]
        t.pop("learning_rate", None)  # each arm at its technique's default
        t.update(epochs=float(self.epochs.value()), max_steps=self.max_steps.value() or None,
                 batch_size=self.batch.value(), max_length=self.max_length.value())
        seeds = self._seeds()
        t["seed"] = seeds[0]
        arms = [{"name": n, **({"params": p} if (p := self.arms[n][1].non_default_values()) else {})} for n in names]
        return StudyConfig.from_dict({**base, "arms": arms, **({"seeds": seeds} if len(seeds) > 1 else {})})

    def _seeds(self) -> list[int]:
        try:
            seeds = [int(s) for s in self.seeds.text().replace(" ", "").split(",") if s]
        except ValueError:
            raise UserError(self.tr("seeds must be whole numbers separated by commas; got '{value}'").format(
                                value=self.seeds.text())) from None
        if not seeds:
            raise UserError(self.tr("give at least one seed"))
        return seeds

    def load_study(self, study: Any) -> None:
        self.set_ticked([a.name for a in study.arms])
        for a in study.arms:
            if a.name in self.arms:
                self.arms[a.name][1].restore_defaults()
                self.arms[a.name][1].set_values(a.params)
        t = study.base.get("training") or {}
        self.epochs.setValue(float(t.get("epochs", 1.0)))
        self.max_steps.setValue(int(t.get("max_steps") or 0))
        self.batch.setValue(int(t.get("batch_size", 32)))
        self.max_length.setValue(int(t.get("max_length", 128)))
        self.seeds.setText(", ".join(map(str, study.seeds or [t.get("seed", 42)])))
        self._prefilled = True

    def save_study(self, path: str) -> str | None:
        try:
            self.study_config().save(path)
        except Exception as e:  # noqa: BLE001
            self.problem.set_problem(str(e))
            return None
        self.problem.set_problem(None)
        return path

    def _save_dialog(self) -> None:
        p, _ = QFileDialog.getSaveFileName(self, self.tr("Save the study"), str(Path.home() / "ftstudio-study.yaml"),
                                           self.tr("Study (*.yaml)"))
        if p:
            self.save_study(p)

    def _open_dialog(self) -> None:
        p, _ = QFileDialog.getOpenFileName(self, self.tr("Open a study"), "", self.tr("Study (*.yaml *.yml)"))
        if p:
            from ftstudio.engine.study import StudyConfig

            try:
                self.load_study(StudyConfig.from_yaml(p))
            except Exception as e:  # noqa: BLE001
                show_error(self, e)

    # -- pre-flight -----------------------------------------------------------------------------------
    def run_preflight(self) -> None:
        try:
            study = self.study_config()
        except UserError as e:
            self.problem.set_problem(str(e))
            return
        self.problem.set_problem(None)
        self.preflight_label.setText(self.tr("Pre-flight: measuring one step per arm…"))
        self.preflight_button.setEnabled(False)

        def job() -> Any:
            from ftstudio.engine.study import study_preflight

            return study_preflight(study)

        def done(rep: Any) -> None:
            self.preflight_button.setEnabled(True)
            self.estimates = {a["label"]: a["seconds"] for a in rep.arms if a["seconds"] is not None}
            self.preflight_label.setText(rep.text() + "".join(f"\n⚠ {w}" for w in rep.warnings[:3]))

        def failed(info: Any) -> None:
            self.preflight_button.setEnabled(True)
            self.preflight_label.setText("")
            self.problem.set_problem(info.message)

        run_async(job, done, failed, owner=self)

    # -- running --------------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.session is not None

    def start(self, continue_: bool = False, train_fn: Callable | None = None) -> bool:
        if self.session is not None:
            return False
        if self.is_busy():
            self.problem.set_problem(self.tr("a training run is in progress: stop it or wait for it to "
                                             "finish"))
            return False
        try:
            if continue_ and self.study_dir is not None:
                from ftstudio.engine.study import StudyConfig

                study = StudyConfig.from_yaml(self.study_dir / "study.yaml")
            else:
                study = self.study_config()
                self.study_dir = study.study_dir()
            runs = study.expand()
        except UserError as e:
            self.problem.set_problem(str(e))
            return False
        self.problem.set_problem(None)
        from ftstudio.gui.worker import TrainingSession

        done = {r["id"]: r for r in (self.results.get("arms", []) if continue_ else [])}
        self.queue = [{"id": r.id, "label": r.label, "status": done.get(r.id, {}).get("status", "waiting"),
                       "eta": None} for r in runs]
        if not continue_:
            self.results = {}
            self._show_results()
            self.chart.setText(self.tr("The chart appears here as arms finish."))
            self._pixmap = None
        self.started = time.time()
        s = TrainingSession(study, str(self.study_dir), train_fn or _study_fn, parent=self)
        s.event.connect(self.on_event)
        s.done.connect(self._on_done)
        s.failed.connect(self._on_failed)
        s.ended.connect(self._on_ended)
        self.session = s
        self._set_buttons(running=True)
        self._eta_timer.start()
        self._show_queue()
        s.start()
        return True

    def stop(self) -> None:
        if self.session is not None:
            self.session.cancel()
            self.stop_button.setEnabled(False)
            self.total_label.setText(self.tr("Stopping after a checkpoint…"))

    def _set_buttons(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.continue_button.setEnabled(not running and bool(self.results) and self.results.get("status") != "finished")
        self.preflight_button.setEnabled(not running)

    def on_event(self, ev: Any) -> None:
        kind = ev.kind
        if kind == "arm_started":
            self._mark(ev.arm_id, "running")
            self.running_eta = None
            self.arm_started = time.time()
            self.plot.series.clear()
            self.plot.setTitle(self.tr("Running arm: {label} — training loss").format(label=ev.label), size="10pt")
        elif kind == "step":
            self._step = ev.step
            self.running_eta = ev.eta
            self.plot.series.add("loss", ev.step, ev.loss)
            self.plot.total = ev.total_steps
        elif kind == "arm_finished":
            self._mark(ev.arm_id, ev.row.get("status", "?"))
            self._reload()
        elif kind == "study_finished":
            self.results = ev.results
            self._show_results()

    def _mark(self, arm_id: str, status: str) -> None:
        for q in self.queue:
            if q["id"] == arm_id:
                q["status"] = status
        self._show_queue()

    def _eta_for(self, q: dict) -> float | None:
        if q["status"] == "running" and self.running_eta is not None:
            return self.running_eta  # the arm's own ETA once it trains; until then, like a waiting arm
        if q["status"] not in ("running", "waiting"):
            return None
        if q["label"] in self.estimates:
            return self.estimates[q["label"]]
        done = [r.get("train_seconds") for r in self.results.get("arms", []) if r.get("status") == "finished"
                and r.get("train_seconds")]
        return sum(done) / len(done) if done else None

    def _show_queue(self) -> None:
        self.queue_table.setRowCount(len(self.queue))
        total, unknown = 0.0, False
        for i, q in enumerate(self.queue):
            eta = self._eta_for(q)
            if q["status"] in ("running", "waiting"):
                if eta is None:
                    unknown = True
                else:
                    total += eta
            icon = {"finished": self.tr("✓ done"), "running": self.tr("▶ running"),
                    "waiting": self.tr("… waiting")}.get(q["status"]) or status_name(q["status"])
            for c, text in enumerate((q["label"], icon, fmt_seconds(eta) if eta is not None else "—")):
                self.queue_table.setItem(i, c, QTableWidgetItem(text))
        n_done = sum(q["status"] == "finished" for q in self.queue)
        if self.session is not None:
            self.total_label.setText(self.tr("{n_done}/{n_queue} arms done · total ETA {eta}{note}").format(
                n_done=n_done, n_queue=len(self.queue), eta=fmt_seconds(total) if not unknown else "—",
                note="" if not unknown else self.tr(" (known after the first arm or a pre-flight)")))

    def _reload(self) -> None:
        if self.study_dir is None:
            return
        try:
            self.results = json.loads((self.study_dir / "results.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        self._show_results()

    def _show_results(self) -> None:
        from ftstudio.engine.study import quality_key

        rows = self.results.get("arms", [])
        metric, _ = quality_key(self.results.get("kind", "single"), self.results.get("task", "classification"))
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            def num(k: str, fmt: str, scale: float = 1.0) -> str:
                v = r.get(k)
                return fmt.format(v * scale) if isinstance(v, (int, float)) else "—"

            cells = [r.get("label", "?"), status_name(r.get("status")) or "?",
                     num(metric, "{:.2f}%", 100) if metric != "eval_loss" else num(metric, "{:.4f}"),
                     num("macro_f1", "{:.3f}"), num("baseline_accuracy", "{:.2f}%", 100),
                     fmt_count(r.get("trainable_params")) if r.get("trainable_params") else "—",
                     num("trainable_percent", "{:.3g}%"), num("peak_memory_bytes", "{:.0f}", 2**-20),
                     num("arm_memory_bytes", "{:.0f}", 2**-20),
                     num("train_seconds", "{:.1f}"), num("samples_per_second", "{:.1f}"),
                     num("export_bytes", "{:.2f}", 2**-20)]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if r.get("error") and c == 1:
                    item.setToolTip(r["error"])
                self.table.setItem(i, c, item)
        self.table.resizeColumnsToContents()
        chart = self.results.get("chart") or {}
        self.reading.setText(chart.get("reading", "") + ("\n" + self.results["held_equal"]
                                                         if self.results.get("held_equal") else ""))
        self.reading_box.setVisible(bool(self.reading.text().strip()))
        if chart.get("path") and Path(chart["path"]).exists():
            self._pixmap = QPixmap(chart["path"])
            self._fit_chart()
        elif chart.get("error"):
            self.chart.setText(chart["error"])

    def _fit_chart(self) -> None:
        self.chart.source = self._pixmap
        self.chart.fit()

    def _redraw_plot(self) -> None:
        if self._plot.built() and self.session is not None:
            self.plot.series.redraw(getattr(self.plot, "total", 0))

    def chart_filled(self) -> bool:
        return self._pixmap is not None and not self._pixmap.isNull()

    def _on_done(self, results: dict) -> None:
        self.results = results or self.results
        self._show_results()
        self.total_label.setText(self.tr("Study {value} · {study_dir}").format(  # the folder's name; the path in its tip
                                     value=status_name(self.results.get("status")) or "?",
                                     study_dir=self.study_dir.name if self.study_dir else "?"))
        self.total_label.setToolTip(str(self.study_dir or ""))

    def _on_failed(self, kind: str, message: str, tb: str) -> None:
        self.problem.set_problem(message.splitlines()[0] if message else self.tr("the study failed"))
        self.total_label.setText(self.tr("Study failed."))
        self.results.setdefault("status", "failed")

    def _on_ended(self) -> None:
        s, self.session = self.session, None
        if s is not None:
            s.thread.wait(2000)
            s.deleteLater()
        self._eta_timer.stop()
        if self._plot.built():
            self.plot.series.redraw(getattr(self.plot, "total", 0))
        self._set_buttons(running=False)
        self.study_ended.emit(str(self.results.get("status", "failed")))

    # -- export ---------------------------------------------------------------------------------------
    def export(self, kind: str, dest: str) -> str | None:
        src = self.study_dir / ("chart.png" if kind == "png" else "results.csv") if self.study_dir else None
        if src is None or not src.exists():
            self.problem.set_problem(self.tr("no study results yet: run a study first"))
            return None
        shutil.copyfile(src, dest)
        return dest

    def _export(self, kind: str) -> None:
        flt = self.tr("PNG image (*.png)") if kind == "png" else self.tr("CSV table (*.csv)")
        p, _ = QFileDialog.getSaveFileName(self, self.tr("Export"), str(Path.home() / f"study.{kind}"), flt)
        if p:
            self.export(kind, p)
