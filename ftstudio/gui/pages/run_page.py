"""The live training view: status, progress bar (step/total, elapsed, ETA), plots, technique
views and a log panel. Fed with engine events (already on the GUI thread)."""
from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ftstudio.gui.pages.common import Lazy, metric_name
from ftstudio.gui.util import fmt_bytes, fmt_count, fmt_metric, fmt_seconds


def _training_plots() -> QWidget:
    from ftstudio.gui.widgets.plots import TrainingPlots

    return TrainingPlots()


STEP_VIEW_MS = 100  # the step bar and labels refresh at most this often

STATUS_STYLE = {
    "idle": "#555",
    "starting": "#1f5fa8",
    "running": "#1f5fa8",
    "stopping": "#8a5a00",
    "finished": "#1b7f3b",
    "cancelled": "#8a5a00",
    "failed": "#b00020",
}


class RunPage(QWidget):
    stop_requested = Signal()
    resume_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        top = QHBoxLayout()
        self.status = QLabel(self.tr("No run yet — press Start."))
        self.status.setObjectName("run_status")
        f = QFont()
        f.setPointSize(f.pointSize() + 2)
        f.setBold(True)
        self.status.setFont(f)
        top.addWidget(self.status, 1)
        self.stop_button = QPushButton(self.tr("■ Stop"))
        self.stop_button.setObjectName("stop_button")
        self.stop_button.setToolTip(self.tr("Stop within one step; the checkpoint is kept and the run can "
                                            "be resumed"))
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(lambda *_: self.stop_requested.emit())
        self.resume_button = QPushButton(self.tr("↻ Resume"))
        self.resume_button.setObjectName("resume_button")
        self.resume_button.setToolTip(self.tr("Continue this run from its last checkpoint"))
        self.resume_button.setEnabled(False)
        self.resume_button.clicked.connect(lambda: self.resume_requested.emit(self.run_dir or ""))
        top.addWidget(self.resume_button)
        top.addWidget(self.stop_button)
        lay.addLayout(top)
        self.facts = QLabel("")
        self.facts.setStyleSheet("color:#444")
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.facts)
        prow = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setObjectName("run_progress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)  # the step count is in the label beside it
        prow.addWidget(self.progress, 1)
        self.timing = QLabel(self.tr("elapsed —   ETA —"))
        self.timing.setMinimumWidth(380)
        prow.addWidget(self.timing)
        lay.addLayout(prow)
        self.activity = QLabel("")
        self.activity.setStyleSheet("color:#555")
        lay.addWidget(self.activity)

        split = QSplitter(Qt.Vertical)
        self._plots = Lazy(_training_plots)
        split.addWidget(self._plots)
        self.log = QPlainTextEdit()
        self.log.setObjectName("run_log")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setFont(QFont("DejaVu Sans Mono", 9))
        split.addWidget(self.log)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        split.setSizes([620, 140])
        lay.addWidget(split, 1)

        self.run_dir: str | None = None
        self.state = "idle"
        self.events = 0
        self._started_wall = 0.0
        self._last_step: dict = {}
        self._pending_log: list[str] = []
        self._log_timer = QTimer(self)
        self._log_timer.setInterval(150)
        self._log_timer.timeout.connect(self._flush_log)
        self._log_timer.start()
        self._step_shown_at = -1e9
        self._step_timer = QTimer(self)
        self._step_timer.setSingleShot(True)
        self._step_timer.timeout.connect(self._show_step)

    @property
    def plots(self) -> Any:
        """The TrainingPlots (built on first use)."""
        return self._plots.get()

    # -- lifecycle ---------------------------------------------------------------------------------
    def begin(self, description: str, resume: str | None = None) -> None:
        self.plots.reset()
        self.log.clear()
        self.events = 0
        self.run_dir = resume
        self._last_step = {}
        self._step_timer.stop()
        self._step_shown_at = -1e9
        self._started_wall = time.time()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.timing.setText(self.tr("elapsed —   ETA —"))
        self.facts.setText(description)
        self.activity.setText(self.tr("Loading the model and data…"))
        self.set_state("starting")
        self.append_log(self.tr("Resuming {run}").format(run=resume) if resume else
                        self.tr("Starting: {description}").format(description=description))
        self.stop_button.setEnabled(True)
        self.resume_button.setEnabled(False)

    def set_state(self, state: str, message: str = "") -> None:
        self.state = state
        text = {
            "idle": self.tr("No run yet — press Start."),
            "starting": self.tr("Starting…"),
            "running": self.tr("Training"),
            "stopping": self.tr("Stopping after this step…"),
            "finished": self.tr("Finished"),
            "cancelled": self.tr("Stopped — checkpoint kept; Resume continues it"),
            "failed": self.tr("Failed"),
        }.get(state, state)
        if message:
            text = self.tr("{state}: {message}").format(state=text, message=message)
        self.status.setText(text)
        self.status.setStyleSheet(f"color:{STATUS_STYLE.get(state, '#333')}")
        busy = state in ("starting", "running", "stopping")
        self.stop_button.setEnabled(busy and state != "stopping")
        self.resume_button.setEnabled(not busy and bool(self.run_dir) and state in ("cancelled", "failed", "finished"))

    def end(self, status: str, summary: dict | None, message: str = "") -> None:
        summary = summary or {}
        if self._step_timer.isActive():
            self._show_step()  # the last step, not one 100 ms old
        if summary.get("run_dir"):
            self.run_dir = str(summary["run_dir"])
        self.activity.setText("")
        if status == "finished":
            metrics = {k: summary.get(k) for k in ("accuracy", "macro_f1", "eval_loss", "perplexity") if summary.get(k) is not None}
            msg = "  ".join(f"{metric_name(k)} {fmt_metric(v)}" for k, v in metrics.items())
            self.set_state("finished", msg)
            if self.progress.maximum() > 1:
                self.progress.setValue(self.progress.maximum())
        elif status == "cancelled":
            self.set_state("cancelled")
        else:
            self.set_state("failed", message.splitlines()[0] if message else "")
        if message:
            self.append_log(self.tr("ERROR: {message}").format(message=message) if status == "failed" else message)
        self.plots.redraw(all_groups=True)  # the run is over: draw every pending point now
        self._flush_log()

    # -- events --------------------------------------------------------------------------------------
    def on_event(self, ev: Any) -> None:
        """An engine Event (or its dict) on the GUI thread."""
        d = ev if isinstance(ev, dict) else ev.to_dict()
        self.events += 1
        kind = d.get("event")
        self.plots.feed(d)
        if kind == "step":
            self._last_step = d
            if self.state == "starting":
                self.set_state("running")
            # A small model on a GPU can log dozens of steps a second: the bar and labels show the
            # latest step at most every STEP_VIEW_MS (the first one at once), never a backlog.
            wait = STEP_VIEW_MS - 1000 * (time.monotonic() - self._step_shown_at)
            if wait <= 0:
                self._show_step()
            elif not self._step_timer.isActive():
                self._step_timer.start(int(wait) + 1)
        elif kind == "run_started":
            self.run_dir = d.get("run_dir")
            self.set_state("running")
            total = int(d.get("total_steps") or 0)
            if total:
                self.progress.setRange(0, total)
                self.progress.setValue(int(d.get("resumed_from_step") or 0))
            tp, tot = d.get("trainable_params") or 0, d.get("total_params") or 0
            cfg = d.get("config") or {}
            self.facts.setText(
                self.tr("{technique} on {model} · trainable {trainable} of {params} ({pct:.2f}%) · {device} "
                        "{precision} · {total} steps · {run_dir}").format(
                    technique=cfg.get("technique", {}).get("name", "?"), model=cfg.get("model", "?"),
                    trainable=fmt_count(tp), params=fmt_count(tot), pct=100 * tp / tot if tot else 0,
                    device=d.get("device"), precision=d.get("precision"), total=total, run_dir=d.get("run_dir"))
            )
            self.activity.setText("")
            self.append_log(self.tr("run folder: {path}").format(path=d.get("run_dir")))
        elif kind == "eval":
            m = d.get("metrics") or {}
            self.append_log(self.tr("eval @ step {step}: {metrics}").format(
                step=d.get("step"), metrics=", ".join(f"{metric_name(k)}={fmt_metric(v)}" for k, v in m.items())))
        elif kind == "progress":
            done, total = d.get("done", 0), d.get("total", 0)
            self.activity.setText(f"{d.get('what', '')}: {done}/{total}" if total else str(d.get("what", "")))
        elif kind == "log":
            lvl = d.get("level", "info")
            text = str(d.get("message", ""))
            self.append_log(text if lvl == "info" else self.tr("WARNING: {message}").format(message=text)
                            if lvl == "warning" else f"{lvl.upper()}: {text}")
        elif kind == "checkpoint":
            self.append_log(self.tr("checkpoint @ step {step}: {path}").format(step=d.get("step"), path=d.get("path")))
        elif kind == "task_finished":
            m = d.get("metrics") or {}
            self.append_log(self.tr("task {name} done: {metrics}").format(
                name=d.get("task_name"), metrics=", ".join(f"{metric_name(k)}={fmt_metric(v)}" for k, v in m.items())))
        elif kind == "finished":
            s = d.get("summary") or {}
            if s.get("peak_memory_bytes"):
                self.append_log(self.tr("peak memory {size}").format(size=fmt_bytes(s["peak_memory_bytes"])))

    def _show_step(self) -> None:
        d = self._last_step
        self._step_timer.stop()
        self._step_shown_at = time.monotonic()
        if not d:
            return
        total = int(d.get("total_steps") or 0)
        if total > 0 and self.progress.maximum() != total:
            self.progress.setRange(0, total)
        self.progress.setValue(int(d.get("step", 0)))
        self.timing.setText(
            self.tr("step {step} / {total}   elapsed {elapsed}   ETA {eta}   {speed:.1f} samples/s").format(
                step=int(d.get("step", 0)), total=total or "?", elapsed=fmt_seconds(d.get("elapsed")),
                eta=fmt_seconds(d.get("eta")), speed=d.get("samples_per_second", 0))
        )
        self.activity.setText(self.tr("epoch {epoch:.2f} · loss {loss:.4f}").format(
            epoch=d.get("epoch", 0), loss=d.get("loss", float("nan"))))

    def append_log(self, line: str) -> None:
        self._pending_log.append(time.strftime("%H:%M:%S ") + line)

    def _flush_log(self) -> None:
        if self._pending_log:
            self.log.appendPlainText("\n".join(self._pending_log))
            self._pending_log.clear()

    def log_text(self) -> str:
        self._flush_log()
        return self.log.toPlainText()
