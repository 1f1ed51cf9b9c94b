"""The live training view: status, progress bar (step/total, elapsed, ETA), plots, technique
views and a log panel. Fed with engine events (already on the GUI thread)."""
from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt, QTimer, Signal
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

from ftstudio.gui.pages.common import Lazy, memory_estimate_text, metric_name
from ftstudio.gui.util import fmt_bytes, fmt_count, fmt_metric, fmt_seconds


def _training_plots() -> QWidget:
    from ftstudio.gui.widgets.plots import TrainingPlots

    return TrainingPlots()


STEP_VIEW_MS = 100  # the step bar and labels refresh at most this often


def phase_of(what: str) -> str:
    """A Progress event's phase name, for the phase timings."""
    w = (what or "").lower()
    for key, name in (("tokeniz", "tokenizing"), ("fisher", "Fisher"), ("eval", "evaluating"),
                      ("download", "loading"), ("load", "loading"), ("teacher", "teacher"),
                      ("export", "exporting"), ("checkpoint", "checkpoint"),
                      # the engine's Chinese progress texts
                      ("分词", "tokenizing"), ("评估", "evaluating"), ("加载", "loading"), ("获取", "loading"),
                      ("教师", "teacher"), ("导出", "exporting"), ("检查点", "checkpoint")):
        if key in w:
            return name
    return what or "working"


# Phase names as shown (RunPage context).
PHASE_NAMES = {"tokenizing": QT_TRANSLATE_NOOP("RunPage", "tokenizing"), "evaluating": QT_TRANSLATE_NOOP("RunPage", "evaluating"),
               "loading": QT_TRANSLATE_NOOP("RunPage", "loading"), "teacher": QT_TRANSLATE_NOOP("RunPage", "teacher"),
               "exporting": QT_TRANSLATE_NOOP("RunPage", "exporting"), "checkpoint": QT_TRANSLATE_NOOP("RunPage", "checkpoint"),
               "training": QT_TRANSLATE_NOOP("RunPage", "training"), "working": QT_TRANSLATE_NOOP("RunPage", "working")}


def _tr(text: str) -> str:
    return QCoreApplication.translate("RunPage", text)


def baseline_verdict(summary: dict) -> tuple[str, bool]:
    """(result text, beats the majority baseline?) from summary.json's baseline keys."""
    acc = summary.get("accuracy")
    b = summary.get("baseline") if isinstance(summary.get("baseline"), dict) else None
    if acc is None or b is None or b.get("accuracy") is None:
        return "", True
    label, base = b.get("label", "?"), float(b["accuracy"])
    beats = summary.get("beats_baseline")
    if beats is None:
        beats = float(acc) > base
    if beats:
        return QCoreApplication.translate("RunPage", "accuracy {acc} (majority baseline {base}: always "
                                                     "'{label}')").format(
            acc=fmt_metric(acc), base=fmt_metric(base), label=label), True
    if abs(float(acc) - base) < 5e-4:
        return QCoreApplication.translate("RunPage", "accuracy {acc} — the same as always answering "
                                                     "'{label}'").format(
            acc=fmt_metric(acc), label=label), False
    return QCoreApplication.translate(
        "RunPage", "accuracy {acc} — worse than always answering '{label}' ({base})").format(
        acc=fmt_metric(acc), label=label, base=fmt_metric(base)), False

STATUS_STYLE = {
    "idle": "#555",
    "starting": "#1f5fa8",
    "running": "#1f5fa8",
    "stopping": "#8a5a00",
    "finished": "#1b7f3b",
    "no_better": "#8a5a00",
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
        self.status.setWordWrap(True)  # a finished run's verdict is long: wrap, never push the page sideways
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
        self.memory_facts = QLabel("")  # at the end: pre-flight's memory estimate vs the measured peak
        self.memory_facts.setObjectName("run_memory")
        self.memory_facts.setStyleSheet("color:#555")
        self.memory_facts.hide()
        lay.addWidget(self.memory_facts)

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
        # elapsed covers the whole run (loading, tokenizing, Fisher, evaluation): a clock of our own
        self._t_begin: float | None = None
        self._prior_elapsed = 0.0  # a resumed run's earlier sessions
        self._eta: tuple[float, float] | None = None  # (ETA at the last step, when): runs without a Plan
        from ftstudio.engine.plan import PlanClock

        self.clock = PlanClock()  # the run's Plan: ETA over every pass still to come
        self.phase = ""
        self.phases: dict[str, float] = {}  # phase -> seconds spent
        self._phase_since = 0.0
        self.peak_memory = 0.0
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._show_timing)

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
        self.memory_facts.hide()
        self._t_begin = time.monotonic()
        self._prior_elapsed = 0.0
        self._eta = None
        self.clock = type(self.clock)()
        self.phases = {}
        self.phase = ""
        self.peak_memory = 0.0
        self._enter_phase("loading")
        if resume:
            self._show_history(resume)
        self.set_state("starting")
        self.append_log(self.tr("Resuming {run}").format(run=resume) if resume else
                        self.tr("Starting: {description}").format(description=description))
        self.stop_button.setEnabled(True)
        self.resume_button.setEnabled(False)
        self._clock.start()
        self._show_timing()

    def _show_history(self, run_dir: str) -> None:
        """A resumed run shows its earlier curves (metrics.jsonl up to the checkpoint it resumes
        from) and counts its earlier sessions' time in the elapsed."""
        from pathlib import Path

        from ftstudio.engine.store import latest_checkpoint, read_json, read_metrics

        ck = latest_checkpoint(Path(run_dir))
        upto = int(ck.name.split("-")[1]) if ck is not None else 0
        events = [d for d in read_metrics(Path(run_dir))
                  if d.get("event") in ("step", "eval", "technique_state", "task_finished")
                  and int(d.get("step", 0) or 0) <= upto]
        self.plots.feed_all(events)
        steps = [d for d in events if d.get("event") == "step"]
        if steps:
            total = int(steps[-1].get("total_steps") or 0)
            if total:
                self.progress.setRange(0, total)
            self.progress.setValue(int(steps[-1].get("step", 0)))
        summary = read_json(Path(run_dir) / "summary.json", {}) or {}
        self._prior_elapsed = float(summary.get("wall_seconds") or (steps[-1].get("elapsed", 0) if steps else 0) or 0)
        self.append_log(self.tr("earlier sessions: {n} logged steps up to step {upto}, {time} of training "
                                "time").format(
            n=len(steps), upto=upto, time=fmt_seconds(self._prior_elapsed)))

    def elapsed(self) -> float:
        """Seconds this run has taken, earlier sessions included."""
        if self._t_begin is None:
            return 0.0
        return self._prior_elapsed + time.monotonic() - self._t_begin

    def _enter_phase(self, name: str) -> None:
        now = time.monotonic()
        if self.phase:
            self.phases[self.phase] = self.phases.get(self.phase, 0.0) + now - self._phase_since
        if self.phase == "training" and name != "training" and self._eta is not None:
            # training pauses for this pass (Fisher, evaluation): its remaining time stands still
            eta_s, at = self._eta
            self._eta = (max(0.0, eta_s - (now - at)), None)
        self.phase, self._phase_since = name, now
        self._phase_progress: tuple[int, int] | None = None

    def phase_left(self) -> float:
        """Seconds the current non-training pass still needs, from its own progress so far."""
        pp = getattr(self, "_phase_progress", None)
        if self.phase == "training" or not pp or pp[0] <= 0 or pp[1] <= pp[0]:
            return 0.0
        done, total = pp
        spent = time.monotonic() - self._phase_since
        return spent / done * (total - done)

    def phase_summary(self) -> str:
        """'loading 0:03 · tokenizing 0:01 · training 1:20 · evaluating 0:02'."""
        spent = dict(self.phases)
        if self.phase and self.state in ("starting", "running", "stopping"):
            spent[self.phase] = spent.get(self.phase, 0.0) + time.monotonic() - self._phase_since
        return " · ".join(f"{_tr(PHASE_NAMES.get(k, k))} {fmt_seconds(v)}" for k, v in spent.items() if v >= 0.5)

    def _show_timing(self) -> None:
        if self._t_begin is None:
            return
        d = self._last_step
        step = self.tr("step {step} / {total}   ").format(
            step=int(d.get("step", 0)), total=int(d.get("total_steps") or 0) or "?") if d else ""
        eta = "—"
        if self.clock.phases:  # the engine announced its passes: time every one still to come
            left = self.clock.eta()
            if left is not None:
                eta = fmt_seconds(max(0.0, left))
        elif self._eta is not None:
            eta_s, at = self._eta  # at None: training is paused, its remaining time stands still
            left = eta_s - (time.monotonic() - at) if at is not None else eta_s
            eta = fmt_seconds(max(0.0, left) + self.phase_left())
        sps = self.tr("   {speed:.1f} samples/s").format(speed=d.get("samples_per_second", 0)) if d else ""
        self.timing.setText(self.tr("{step}elapsed {elapsed}   ETA {eta}{sps}").format(
            step=step, elapsed=fmt_seconds(self.elapsed()), eta=eta, sps=sps))

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
        # a finished run has nothing left to train; a stopped or failed one continues from its checkpoint
        self.resume_button.setEnabled(not busy and bool(self.run_dir) and state in ("cancelled", "failed"))

    def end(self, status: str, summary: dict | None, message: str = "") -> None:
        summary = summary or {}
        if self._step_timer.isActive():
            self._show_step()  # the last step, not one 100 ms old
        if summary.get("run_dir"):
            self.run_dir = str(summary["run_dir"])
        self._enter_phase("")
        self._clock.stop()
        self._eta = None  # the run is over: no ETA beside the final elapsed
        self.clock = type(self.clock)()
        self._show_timing()
        phases = self.phase_summary()
        self.activity.setText(self.tr("Time by phase: {phases}").format(phases=phases) if phases else "")
        peak = summary.get("peak_memory_bytes") or self.peak_memory
        mem = memory_estimate_text(summary)
        self.memory_facts.setText(self.tr("Memory: {comparison}").format(comparison=mem) if mem else "")
        self.memory_facts.setVisible(bool(mem))
        if status == "finished":
            verdict, beats = baseline_verdict(summary)
            metrics = {k: summary.get(k) for k in ("accuracy", "macro_f1", "eval_loss", "perplexity")
                       if summary.get(k) is not None and not (verdict and k == "accuracy")}
            msg = "  ".join([verdict] * bool(verdict) + [f"{metric_name(k)} {fmt_metric(v)}" for k, v in metrics.items()])
            self.set_state("finished", msg)
            if not beats:  # not a green "Finished": the model learned nothing the majority class does not
                self.status.setText(self.tr("Finished, but no better than the majority baseline: {verdict}").format(
                                        verdict=verdict))
                self.status.setStyleSheet(f"color:{STATUS_STYLE['no_better']}")
            if self.progress.maximum() > 1:
                self.progress.setValue(self.progress.maximum())
        elif status == "cancelled":
            self.set_state("cancelled")
            if peak and not summary.get("peak_memory_bytes"):  # (the engine's figure is logged already)
                self.append_log(self.tr("peak memory {size} (from the steps' memory samples)").format(size=fmt_bytes(peak)))
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
        self.clock.feed(d)
        if kind == "phase":
            self._enter_phase(str(d.get("name") or "working"))
        elif kind == "step":
            self._last_step = d
            if self.phase != "training":
                self._enter_phase("training")
            self._eta = (float(d.get("eta") or 0.0), time.monotonic())
            mem = d.get("memory") or {}
            self.peak_memory = max([self.peak_memory, *[float(v) for v in mem.values() if isinstance(v, (int, float))]])
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
            name = phase_of(str(d.get("what", "")))
            if name != self.phase:
                self._enter_phase(name)
            if total:
                self._phase_progress = (int(done), int(total))
            left = self.phase_left()
            self.activity.setText((f"{d.get('what', '')}: {done}/{total}" if total else str(d.get("what", "")))
                                  + (self.tr(" · about {time} left").format(time=fmt_seconds(left)) if left >= 1 else ""))
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
            if memory_estimate_text(s):
                self.append_log(memory_estimate_text(s))

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
        self._show_timing()
        self.activity.setText(self.tr("epoch {value:.2f} · loss {value2:.4f}").format(
                                  value=d.get('epoch', 0), value2=d.get('loss', float('nan'))))

    def append_log(self, line: str) -> None:
        self._pending_log.append(time.strftime("%H:%M:%S ") + line)

    def _flush_log(self) -> None:
        if self._pending_log:
            self.log.appendPlainText("\n".join(self._pending_log))
            self._pending_log.clear()

    def log_text(self) -> str:
        self._flush_log()
        return self.log.toPlainText()
