"""Live training plots (pyqtgraph), fed with event dicts, redrawn at most ~10×/s.

``TrainingPlots.feed(d)`` only appends numbers to lists (cheap, any rate); a QTimer redraws the
curves that changed. The same widget shows a finished run's curves from ``store.read_metrics``.
"""
from __future__ import annotations

import math
import time
from collections import defaultdict
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGraphicsItem,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

# No antialiasing: on a 2-core CPU a smooth repaint of six plots took >100 ms of the GUI thread
# (and the GIL, which the training thread needs too).
pg.setConfigOptions(antialias=False, background="w", foreground="#333")

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
REDRAW_MS = 100  # the timer; each plot has its own slower pace (SeriesGroup.every)
LOSS_EVERY_S = 0.5
OTHER_EVERY_S = 1.0
EMA = 0.9


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


# Curve names (series keys) as the legend shows them; other names (task names, custom groups) as is.
SERIES_LABELS = {
    "raw": QT_TRANSLATE_NOOP("plots", "raw"), "smoothed": QT_TRANSLATE_NOOP("plots", "smoothed"), "eval loss": QT_TRANSLATE_NOOP("plots", "eval loss"),
    "accuracy": QT_TRANSLATE_NOOP("plots", "accuracy"), "macro_f1": QT_TRANSLATE_NOOP("plots", "macro-F1"), "perplexity": QT_TRANSLATE_NOOP("plots", "perplexity"),
    "majority_baseline": QT_TRANSLATE_NOOP("plots", "majority baseline"), "loss": QT_TRANSLATE_NOOP("plots", "loss"),
    "samples/s": QT_TRANSLATE_NOOP("plots", "samples/s"), "grad norm": QT_TRANSLATE_NOOP("plots", "grad norm"),
    "rss": QT_TRANSLATE_NOOP("plots", "process memory (RSS)"), "cuda_allocated": QT_TRANSLATE_NOOP("plots", "GPU allocated"),
    "cuda_reserved": QT_TRANSLATE_NOOP("plots", "GPU reserved"), "main": QT_TRANSLATE_NOOP("plots", "all weights"),
    "main/no_decay": QT_TRANSLATE_NOOP("plots", "biases and norms (no decay)"), "head": QT_TRANSLATE_NOOP("plots", "task head"),
    "embeddings": QT_TRANSLATE_NOOP("plots", "embeddings"), "prompt": QT_TRANSLATE_NOOP("plots", "soft prompt"), "prefix": QT_TRANSLATE_NOOP("plots", "prefix"),
    "task_loss": QT_TRANSLATE_NOOP("plots", "task loss"), "ewc_penalty": QT_TRANSLATE_NOOP("plots", "EWC penalty"),
    "kd_loss": QT_TRANSLATE_NOOP("plots", "KD loss"), "ce_loss": QT_TRANSLATE_NOOP("plots", "CE loss"), "hidden_loss": QT_TRANSLATE_NOOP("plots", "hidden-state loss"),
}


def series_label(name: str) -> str:
    """'layer 3/no_decay (sst2)' → its words in the user's language (the key stays as it is)."""
    import re

    m = re.match(r"^(.*?)( \(.*\))?$", name)
    base, suffix = m.group(1), m.group(2) or ""
    decay = base.endswith("/no_decay") and base != "main/no_decay"
    if decay:
        base = base[: -len("/no_decay")]
    if base in SERIES_LABELS:
        text = QCoreApplication.translate("plots", SERIES_LABELS[base])
    elif re.fullmatch(r"layer \d+", base):
        text = QCoreApplication.translate("plots", "layer {n}").format(n=base.split()[1])
    else:
        text = base
    if decay:
        text = QCoreApplication.translate("plots", "{group} (no decay)").format(group=text)
    return text + suffix


def make_plot(title: str, y_label: str = "", x_label: str | None = None, log_y: bool = False) -> pg.PlotWidget:
    w = pg.PlotWidget()
    w.setTitle(title, size="10pt")
    w.setLabel("bottom", QCoreApplication.translate("plots", "step") if x_label is None else x_label)
    if y_label:
        w.setLabel("left", y_label)
    w.showGrid(x=True, y=True, alpha=0.25)
    w.setLogMode(y=log_y)
    for side in ("left", "bottom"):
        w.getAxis(side).enableAutoSIPrefix(False)  # "loss (x0.001)" with ticks 687…698 reads wrong
    w.addLegend(offset=(-6, 6), labelTextSize="8pt", brush=pg.mkBrush(255, 255, 255, 210),
                pen=pg.mkPen("#ccc"))
    w.setMinimumHeight(150)
    w.getPlotItem().setDownsampling(auto=True, mode="peak")
    w.getPlotItem().setClipToView(True)
    # Axis text is the costly part of a repaint (~4 ms an axis here); cached as a pixmap, an axis
    # whose range did not move is blitted instead of re-laid-out and re-drawn.
    for side in ("left", "bottom"):
        w.getAxis(side).setCacheMode(QGraphicsItem.DeviceCoordinateCache)
    return w


def _to_view(v: float, log: bool) -> float | None:
    if not log:
        return v
    return math.log10(v) if v > 0 else None


class RangeFollower:
    """Keeps a live plot's view on its data without pyqtgraph's auto-range.

    Auto-range moves both axes with every new point, so every repaint re-lays-out and redraws the
    axes' tick text — most of a repaint's cost, and on a 2-core CPU that is time taken from
    training. Here x spans the whole run (0 … total steps) from the start, and y changes only when
    data leaves the view or fills less than 35% of it, with a margin so it rarely has to move.
    A user who pans/zooms takes over; pyqtgraph's "A" button hands the plot back to its own
    auto-range (both are respected: we only follow while auto-range is off and nobody panned)."""

    def __init__(self, plot: pg.PlotWidget, zero_based: bool = False):
        self.plot = plot
        self.zero_based = zero_based  # rates, memory, speed, norms: 0 … max reads right and rarely moves
        self.vb = plot.getViewBox()
        self.vb.disableAutoRange()
        self.user = False
        self.vb.sigRangeChangedManually.connect(self._manual)
        self.x_total = 0.0

    def _manual(self, *_: Any) -> None:
        self.user = True

    def _following(self) -> bool:
        return not self.user and not any(self.vb.autoRangeEnabled())

    def _logs(self) -> tuple[bool, bool]:
        ctrl = self.plot.getPlotItem().ctrl
        return ctrl.logXCheck.isChecked(), ctrl.logYCheck.isChecked()

    def reset(self) -> None:
        self.user = False
        self.x_total = 0.0
        self.vb.disableAutoRange()

    def fit(self, series: list[Series], total: float) -> None:
        if not self._following():
            return
        pts = [s for s in series if s.x]
        if not pts:
            return
        logx, logy = self._logs()
        x_hi = max(total, max(s.x[-1] for s in pts), 1.0)
        if x_hi != self.x_total:
            self.x_total = x_hi
            hi = _to_view(x_hi, logx)
            lo = _to_view(1.0, logx) if logx else 0.0
            if hi is not None and lo is not None and hi > lo:
                self.vb.setXRange(lo, hi, padding=0.02)
        lo_y = min(s.lo for s in pts)
        hi_y = max(s.hi for s in pts)
        if logy:
            pos = [s.lo_pos for s in pts if s.lo_pos is not None]
            if not pos:
                return
            lo_y = min(pos)
        elif self.zero_based:
            lo_y, hi_y = min(lo_y, 0.0), max(hi_y, 0.0)
        a, b = _to_view(lo_y, logy), _to_view(hi_y, logy)
        if a is None or b is None:
            return
        span = b - a
        (v0, v1) = self.vb.viewRange()[1]
        if a >= v0 and b <= v1 and span >= 0.35 * (v1 - v0):
            return  # data inside and filling the view: leave the axes (and their cached text) alone
        margin = 0.2 * span if span > 0 else max(abs(a) * 0.05, 1e-6)
        # zero-based: a sliver below 0 so the axis still labels its "0"
        bottom = -0.04 * (b - a) if self.zero_based and not logy and a == 0.0 else a - margin
        self.vb.setYRange(bottom, b + margin, padding=0)


class Series:
    """One curve's data + its PlotDataItem; ``dirty`` until the next redraw."""

    def __init__(self, plot: pg.PlotWidget, name: str, pen: Any, symbol: str | None = None):
        self.x: list[float] = []
        self.y: list[float] = []
        kw: dict[str, Any] = {"name": series_label(name), "pen": pen}
        if symbol:
            kw.update(symbol=symbol, symbolSize=6, symbolBrush=pen.color() if hasattr(pen, "color") else pen)
        self.item = plot.plot([], [], **kw)
        self.dirty = False
        self.lo = math.inf  # running extremes, so following the data costs O(1) per point
        self.hi = -math.inf
        self.lo_pos: float | None = None  # smallest positive value (log axes)

    def add(self, x: float, y: float) -> None:
        if y is None or (isinstance(y, float) and not math.isfinite(y)):
            return
        y = float(y)
        self.x.append(float(x))
        self.y.append(y)
        self.lo = min(self.lo, y)
        self.hi = max(self.hi, y)
        if y > 0 and (self.lo_pos is None or y < self.lo_pos):
            self.lo_pos = y
        self.dirty = True

    def clear(self) -> None:
        self.x.clear()
        self.y.clear()
        self.lo, self.hi, self.lo_pos = math.inf, -math.inf, None
        self.dirty = True

    def redraw(self) -> None:
        if self.dirty:
            self.item.setData(self.x, self.y)
            self.dirty = False


class SeriesGroup:
    """Curves of one plot created on demand by name (one per lr group, memory kind, metric...)."""

    def __init__(self, plot: pg.PlotWidget, symbol: str | None = None, width: float = 1.6,
                 zero_based: bool = False):
        self.plot = plot
        self.symbol = symbol
        self.width = width
        self.series: dict[str, Series] = {}
        self.follow = RangeFollower(plot, zero_based)
        self.every = OTHER_EVERY_S  # live: seconds between repaints of this plot
        self.drawn_at = -math.inf

    def get(self, name: str, pen: Any = None) -> Series:
        s = self.series.get(name)
        if s is None:
            pen = pen or pg.mkPen(color(len(self.series)), width=self.width)
            s = self.series[name] = Series(self.plot, name, pen, self.symbol)
        return s

    def add(self, name: str, x: float, y: float) -> None:
        self.get(name).add(x, y)

    def redraw(self, total: float = 0.0) -> None:
        for s in self.series.values():
            s.redraw()
        self.follow.fit(list(self.series.values()), total)

    def points(self) -> int:
        return sum(len(s.x) for s in self.series.values())

    def clear(self) -> None:
        for s in self.series.values():
            self.plot.removeItem(s.item)
        self.series.clear()
        self.follow.reset()
        if self.plot.plotItem.legend is not None:
            self.plot.plotItem.legend.clear()


class AccuracyMatrix(QWidget):
    """Continual learning: accuracy on task j (columns) after training task i (rows); ACC/BWT."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.title = title = QLabel(self.tr(self.TITLES["accuracy"]))
        title.setWordWrap(True)
        lay.addWidget(title)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.table.setMinimumHeight(140)
        lay.addWidget(self.table, 1)
        self.summary = QLabel(self.tr("ACC —    BWT —"))
        f = QFont()
        f.setPointSize(f.pointSize() + 1)
        f.setBold(True)
        self.summary.setFont(f)
        lay.addWidget(self.summary)
        self.explain = QLabel(
            self.tr("ACC: the average accuracy over all tasks after the last one. BWT (backward transfer): "
                    "how "
            "much the earlier tasks' accuracy changed by learning the later ones — below 0 means forgetting."))
        self.explain.setObjectName("acc_bwt_explained")
        self.explain.setWordWrap(True)
        self.explain.setStyleSheet("color:#555")
        lay.addWidget(self.explain)
        self.task_names: list[str] = []

    TITLES = {
        "accuracy": QT_TRANSLATE_NOOP(
            "AccuracyMatrix", "<b>Accuracy matrix</b> — row: after training task i; column: evaluated on task j"),
        "eval_loss": QT_TRANSLATE_NOOP(
            "AccuracyMatrix", "<b>Eval loss matrix</b> (perplexity in brackets) — row: after training task i; "
                              "column: evaluated on task j; lower is better, a rise down a column is forgetting"),
    }

    def set_matrix(self, matrix: list[list[Any]], names: list[str], metrics: dict,
                   metric: str = "accuracy") -> None:
        import math

        self.metric = metric
        self.title.setText(self.tr(self.TITLES.get(metric, self.TITLES["accuracy"])))
        lm = metric == "eval_loss"
        vals = [float(v) for r in matrix for v in r if v is not None]
        lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
        n = max(len(matrix), max((len(r) for r in matrix), default=0), len(names))
        names = list(names) + [self.tr("task {n}").format(n=i + 1) for i in range(len(names), n)]
        self.table.setRowCount(n)
        self.table.setColumnCount(n)
        self.table.setHorizontalHeaderLabels([self.tr("on {task}").format(task=x) for x in names[:n]])
        self.table.setVerticalHeaderLabels([self.tr("after {task}").format(task=x) for x in names[:n]])
        for i in range(n):
            row = matrix[i] if i < len(matrix) else []
            for j in range(n):
                v = row[j] if j < len(row) else None
                text = "" if v is None else (f"{v:.3f}  ({math.exp(min(float(v), 50.0)):.1f})" if lm else f"{v:.3f}")
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignCenter)
                if v is not None:  # loss: the matrix's own range, low = green
                    heat = (hi - float(v)) / (hi - lo) if lm and hi > lo else (1.0 if lm else float(v))
                    item.setBackground(QBrush(heat_color(heat)))
                    item.setForeground(QBrush(QColor("#000")))
                self.table.setItem(i, j, item)
        fmt = lambda v: "—" if v is None else f"{v:.3f}"  # noqa: E731
        if lm:
            f = metrics.get("mean_forgetting")
            self.summary.setText(self.tr("mean loss {loss}    perplexity {ppl}    forgetting (loss rise) "
                                         "{rise}").format(
                loss=fmt(metrics.get("mean_loss")), ppl=fmt(metrics.get("mean_perplexity")),
                rise="—" if f is None else f"{f:+.3f}"))
            return
        acc, bwt = metrics.get("acc"), metrics.get("bwt")
        self.summary.setText(self.tr("ACC {value}    BWT {value2}").format(
                                 value=fmt(acc), value2=fmt(bwt)))

    def filled(self) -> int:
        return sum(
            1
            for i in range(self.table.rowCount())
            for j in range(self.table.columnCount())
            if self.table.item(i, j) is not None and self.table.item(i, j).text()
        )


def heat_color(v: float) -> QColor:
    """0 → red-ish, 1 → green-ish; light enough to read black text on."""
    v = max(0.0, min(1.0, v))
    r = int(255 * (1 - v) * 0.9 + 25)
    g = int(200 * v + 40)
    b = 110
    return QColor(min(r, 255), min(g, 255), b).lighter(135)


class LayerStrip(QWidget):
    """Layer-wise: one chip per parameter group, green when trainable now, with its lr."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel(self.tr("<b>Layer groups</b> — green: trainable now, grey: frozen (learning "
                                     "rate below)")))
        self.row = QHBoxLayout()
        self.row.setSpacing(3)
        lay.addLayout(self.row)
        self.chips: dict[str, QLabel] = {}
        self.trainable: list[str] = []

    def set_state(self, trainable: list[str], lr_per_group: dict[str, float], all_groups: list[str] | None = None) -> None:
        names = list(all_groups or []) or list(dict.fromkeys(list(lr_per_group) + list(trainable)))
        for n in names:
            if n not in self.chips:
                chip = QLabel()
                chip.setAlignment(Qt.AlignCenter)
                chip.setMinimumWidth(48)
                chip.setMinimumHeight(40)
                chip.setWordWrap(True)
                self.chips[n] = chip
                self.row.addWidget(chip)
        self.trainable = list(trainable)
        for n, chip in self.chips.items():
            on = n in trainable
            lr = lr_per_group.get(n)
            chip.setText(series_label(n) + (f"<br><small>{lr:.1e}</small>" if lr else ""))
            chip.setStyleSheet(
                "border-radius:4px; padding:3px; "
                + ("background:#7cc47c; color:#000;" if on else "background:#ddd; color:#666;")
            )
            state = self.tr("trainable") if on else self.tr("frozen")
            chip.setToolTip(self.tr("{group}: {state}").format(group=series_label(n), state=state)
                            + (self.tr(", learning rate {lr:.2e}").format(lr=lr) if lr else ""))


class TrainingPlots(QWidget):
    """Loss (raw + smoothed, eval loss), eval metric, learning rate, memory, samples/s, and the
    technique views (extra series, layer strip, accuracy matrix) shown when their events arrive."""

    def __init__(self, parent: QWidget | None = None, live: bool = True):
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(6)
        self.loss_plot = make_plot(self.tr("Training loss"), self.tr("loss"))
        self.metric_plot = make_plot(self.tr("Evaluation"), self.tr("metric"))
        self.lr_plot = make_plot(self.tr("Learning rate"), self.tr("learning rate"))
        self.mem_plot = make_plot(self.tr("Memory"), "MiB")
        self.speed_plot = make_plot(self.tr("Throughput"), self.tr("samples/s"))
        self.grad_plot = make_plot(self.tr("Gradient norm"), self.tr("norm"))
        self.extra_plot = make_plot(self.tr("Technique losses"), self.tr("value"))
        grid.addWidget(self.loss_plot, 0, 0)
        grid.addWidget(self.metric_plot, 0, 1)
        grid.addWidget(self.lr_plot, 0, 2)
        grid.addWidget(self.mem_plot, 1, 0)
        grid.addWidget(self.speed_plot, 1, 1)
        grid.addWidget(self.grad_plot, 1, 2)
        # technique views: a third row, shown only when the run's events call for it
        self.layers = LayerStrip()
        self.matrix = AccuracyMatrix()
        self.state_label = QLabel()
        self.state_label.setObjectName("technique_state")
        self.state_label.setWordWrap(True)
        self.state_label.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.state_label.setStyleSheet("QLabel{background:#f4f7fb;border:1px solid #d5dee9;padding:6px;}")
        self.state_label.hide()
        self.tech_row = QWidget()
        tr = QHBoxLayout(self.tech_row)
        tr.setContentsMargins(0, 0, 0, 0)
        tr.addWidget(self.extra_plot, 1)
        tr.addWidget(self.matrix, 1)
        tr.addWidget(self.layers, 2)
        tr.addWidget(self.state_label, 1)
        self.tech_row.setMaximumHeight(250)  # the six main plots keep most of the room
        grid.addWidget(self.tech_row, 2, 0, 1, 3)
        for c in range(3):
            grid.setColumnStretch(c, 1)
        self.tech_row.hide()
        self.extra_plot.hide()
        self.layers.hide()
        self.matrix.hide()

        self.loss = SeriesGroup(self.loss_plot)
        self.loss_raw = self.loss.get("raw", pg.mkPen("#9ecae1", width=1))
        self.loss_smooth = self.loss.get("smoothed", pg.mkPen("#08519c", width=2.2))
        self.eval_loss = self.loss.get("eval loss", pg.mkPen("#d62728", width=1.6))
        self.metrics = SeriesGroup(self.metric_plot, symbol="o")
        self.lrs = SeriesGroup(self.lr_plot, zero_based=True)
        self.mem = SeriesGroup(self.mem_plot, zero_based=True)
        self.speed = SeriesGroup(self.speed_plot, zero_based=True)
        self.grad = SeriesGroup(self.grad_plot, zero_based=True)
        self.extra = SeriesGroup(self.extra_plot, width=1.8)
        self._ema: float | None = None
        self.total_steps = 0
        self._next_group = 0
        self.loss.every = LOSS_EVERY_S
        self.metrics.every = 0.0  # evaluations are rare and the point people wait for
        self._groups = [self.loss, self.metrics, self.lrs, self.mem, self.speed, self.grad, self.extra]
        self.last_step = 0
        self.task_names: list[str] = []
        self.redraws = 0
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self.redraw)
        if live:
            self._timer.start()

    # -- data in ---------------------------------------------------------------------------
    def reset(self) -> None:
        for g in (self.metrics, self.lrs, self.mem, self.speed, self.grad, self.extra):
            g.clear()
        for s in (self.loss_raw, self.loss_smooth, self.eval_loss):
            s.clear()
        self.loss.follow.reset()
        self._ema = None
        self.last_step = 0
        self.total_steps = 0
        self.task_names = []
        self.extra_plot.hide()
        self.tech_row.hide()
        self.layers.hide()
        for chip in self.layers.chips.values():
            chip.deleteLater()
        self.layers.chips.clear()
        self.matrix.hide()
        self.state_label.hide()
        self.matrix.table.setRowCount(0)
        self.matrix.summary.setText(self.tr("ACC —    BWT —"))
        self.redraw()

    def feed(self, d: dict) -> None:
        kind = d.get("event")
        if kind == "step":
            self._step(d)
        elif kind == "eval":
            step = d.get("step", self.last_step)
            suffix = self._task_suffix(d.get("task", 0))
            for k, v in (d.get("metrics") or {}).items():
                if not isinstance(v, (int, float)) or isinstance(v, bool):
                    continue
                if k in ("eval_loss", "loss"):
                    self.eval_loss.add(step, v)
                elif k not in ("perplexity", "eval_runtime", "samples", "epoch", "step"):
                    self.metrics.add(k + suffix, step, v)
                elif k == "perplexity":
                    self.metrics.add("perplexity" + suffix, step, v)
        elif kind == "technique_state":
            st = d.get("state") or {}
            if "trainable_groups" in st or "lr_per_group" in st:
                self.tech_row.show()
                self.layers.show()
                self.layers.set_state(
                    list(st.get("trainable_groups") or []),
                    dict(st.get("lr_per_group") or {}),
                    list(st.get("all_groups") or []),
                )
            else:  # any other technique state (replay memory, EWC importance...): shown as text
                self.tech_row.show()
                self.state_label.show()
                self.state_label.setText(self.tr("<b>Technique state</b> (step {step})").format(step=d.get("step", "?"))
                                         + "<br>" + "<br>".join(f"{k}: {_fmt_state(v)}" for k, v in st.items()))
        elif kind == "task_finished":
            self.tech_row.show()
            self.matrix.show()
            name = d.get("task_name") or self.tr("task {n}").format(n=d.get("task", 0) + 1)
            idx = int(d.get("task", len(self.task_names)))
            while len(self.task_names) <= idx:
                self.task_names.append(self.tr("task {n}").format(n=len(self.task_names) + 1))
            self.task_names[idx] = name
            self.matrix.set_matrix(d.get("acc_matrix") or [], self.task_names, d.get("metrics") or {},
                                   d.get("matrix_metric") or "accuracy")
        elif kind == "run_started":
            self._note_total(d)
            names = [t.get("name") for t in ((d.get("config") or {}).get("tasks") or []) if isinstance(t, dict)]
            if names:
                self.task_names = [n or self.tr("task {n}").format(n=i + 1) for i, n in enumerate(names)]

    def _note_total(self, d: dict) -> None:
        total = d.get("total_steps")
        if isinstance(total, (int, float)) and total > 0:
            self.total_steps = int(total)  # the x axes span the whole run

    def _task_suffix(self, task: int) -> str:
        if not task and len(self.task_names) <= 1:
            return ""
        name = self.task_names[task] if task < len(self.task_names) else self.tr("task {n}").format(n=task + 1)
        return f" ({name})"

    def _step(self, d: dict) -> None:
        step = d.get("step", 0)
        self.last_step = step
        self._note_total(d)
        loss = d.get("loss")
        if isinstance(loss, (int, float)) and math.isfinite(loss):
            self.loss_raw.add(step, loss)
            self._ema = loss if self._ema is None else EMA * self._ema + (1 - EMA) * loss
            self.loss_smooth.add(step, self._ema)
        lrs = d.get("lr") or {}
        for name, lr in lrs.items():
            base = name[: -len("/no_decay")] if name.endswith("/no_decay") else None
            if base is not None and base in lrs and lrs[base] == lr:
                continue  # same rate as its group: one curve per group is enough
            self.lrs.add(name, step, lr)
        for name, b in (d.get("memory") or {}).items():
            if isinstance(b, (int, float)):
                self.mem.add(name, step, b / 2**20)
        sps = d.get("samples_per_second")
        if isinstance(sps, (int, float)):
            self.speed.add("samples/s", step, sps)
        gn = d.get("grad_norm")
        if isinstance(gn, (int, float)) and gn >= 0:
            self.grad.add("grad norm", step, gn)
        extra = d.get("extra") or {}
        if extra:
            if self.extra_plot.isHidden():
                self.tech_row.show()
                self.extra_plot.show()
                self.extra_plot.setTitle(extra_title(extra), size="10pt")
            for k, v in extra.items():
                if isinstance(v, (int, float)):
                    self.extra.add(k, step, v)

    def feed_all(self, events: list[dict]) -> None:
        for d in events:
            self.feed(d)
        self.redraw(all_groups=True)

    # -- drawing -----------------------------------------------------------------------------
    def redraw(self, all_groups: bool = False) -> None:
        """Hand new points to pyqtgraph. Live, a tick repaints at most one plot (round robin), and
        each plot at most every ``g.every`` seconds: every repaint is CPU the training thread
        shares, and a loss curve twice a second, the rest once a second, reads as live."""
        n = len(self._groups)
        start = self._next_group
        now = time.monotonic()
        drew = False
        for k in range(n):
            g = self._groups[(start + k) % n]
            if not any(s.dirty for s in g.series.values()):
                continue
            if not all_groups and now - g.drawn_at < g.every:
                continue
            g.redraw(self.total_steps)
            g.drawn_at = now
            drew = True
            if not all_groups:
                self._next_group = (start + k + 1) % n
                break
        if drew:
            self.redraws += 1

    def point_counts(self) -> dict[str, int]:
        return {
            "loss": len(self.loss_raw.x),
            "loss_smoothed": len(self.loss_smooth.x),
            "eval_loss": len(self.eval_loss.x),
            "metric": self.metrics.points(),
            "lr": self.lrs.points(),
            "memory": self.mem.points(),
            "speed": self.speed.points(),
            "grad_norm": self.grad.points(),
            "extra": self.extra.points(),
        }

    def drawn_points(self, group: str = "loss") -> int:
        """Points actually handed to pyqtgraph (after redraws), for tests."""
        item = {"loss": self.loss_raw.item}.get(group)
        if item is None:
            return 0
        x, _ = item.getOriginalDataset()
        return 0 if x is None else len(x)


def _fmt_state(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt_state(x)}" for k, x in list(v.items())[:8])
    if isinstance(v, list):
        return ", ".join(_fmt_state(x) for x in v[:8]) + (" …" if len(v) > 8 else "")
    return str(v)


def extra_title(extra: dict) -> str:
    keys = set(extra)
    if {"task_loss", "ewc_penalty"} & keys:
        return QCoreApplication.translate("plots", "EWC: task loss vs penalty")
    if {"kd_loss", "ce_loss"} & keys:
        return QCoreApplication.translate("plots", "Distillation: KD vs CE loss")
    return QCoreApplication.translate("plots", "Technique series")


class CompareCurves(QWidget):
    """Several runs' loss and eval metric overlaid."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.loss_plot = make_plot(self.tr("Training loss (smoothed)"), self.tr("loss"))
        self.metric_plot = make_plot(self.tr("Evaluation metric"), self.tr("metric"))
        lay.addWidget(self.loss_plot)
        lay.addWidget(self.metric_plot)
        self.curves: dict[str, int] = defaultdict(int)

    def set_runs(self, runs: list[tuple[str, list[dict]]]) -> None:
        self.loss_plot.clear()
        self.metric_plot.clear()
        for pw in (self.loss_plot, self.metric_plot):
            if pw.plotItem.legend is not None:
                pw.plotItem.legend.clear()
        self.curves.clear()
        for i, (name, events) in enumerate(runs):
            pen = pg.mkPen(color(i), width=2)
            xs, ys, ema = [], [], None
            mx, my, metric_name = [], [], None
            for d in events:
                if d.get("event") == "step" and isinstance(d.get("loss"), (int, float)):
                    ema = d["loss"] if ema is None else EMA * ema + (1 - EMA) * d["loss"]
                    xs.append(d["step"])
                    ys.append(ema)
                elif d.get("event") == "eval":
                    m = d.get("metrics") or {}
                    metric_name = metric_name or next(
                        (k for k in ("accuracy", "macro_f1", "perplexity", "eval_loss") if k in m), None
                    )
                    if metric_name and isinstance(m.get(metric_name), (int, float)):
                        mx.append(d.get("step", 0))
                        my.append(m[metric_name])
            if xs:
                self.loss_plot.plot(xs, ys, pen=pen, name=name)
                self.curves["loss"] += 1
            if mx:
                self.metric_plot.plot(mx, my, pen=pen, symbol="o", symbolSize=5, symbolBrush=color(i),
                                      name=f"{name} {series_label(metric_name)}")
                self.curves["metric"] += 1
