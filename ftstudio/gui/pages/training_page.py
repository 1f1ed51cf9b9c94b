"""Training settings (epochs/steps, batch, lr, length, device, precision, eval, seed, runs dir)
and the pre-flight check (trainable %, memory breakdown, time per epoch, fixes)."""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QT_TRANSLATE_NOOP, Qt, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ftstudio.engine.config import TrainingConfig
from ftstudio.engine.errors import UserError
from ftstudio.gui.pages.common import InlineProblem, field, heading
from ftstudio.gui.util import fmt_bytes, fmt_count, fmt_seconds, run_async

# Translated where shown (TrainingPage context).
DEVICE_LABELS = {"auto": QT_TRANSLATE_NOOP("TrainingPage", "Auto (GPU if available)"), "cpu": "CPU", "cuda": "GPU (CUDA)",
                 "mps": QT_TRANSLATE_NOOP("TrainingPage", "Apple GPU (MPS)")}
PRECISION_LABELS = {"auto": QT_TRANSLATE_NOOP("TrainingPage", "Auto"), "fp32": QT_TRANSLATE_NOOP("TrainingPage", "fp32 (full)"),
                    "bf16": QT_TRANSLATE_NOOP("TrainingPage", "bf16 (mixed)"), "fp16": QT_TRANSLATE_NOOP("TrainingPage", "fp16 (mixed)")}


def _spin(lo: int, hi: int, special: str | None = None, tip: str = "") -> QSpinBox:
    w = QSpinBox()
    w.setRange(lo, hi)
    if special:
        w.setSpecialValueText(special)
    w.setToolTip(tip)
    w.setMinimumWidth(120)
    return w


class TrainingPage(QWidget):
    changed = Signal()

    def __init__(self, build_config: Callable[[], Any], parent: QWidget | None = None):
        super().__init__(parent)
        self.build_config = build_config
        outer = QVBoxLayout(self)
        outer.addWidget(heading(self.tr("Training"), self.tr("How long and how hard to train, and where.")))
        row = QHBoxLayout()
        outer.addLayout(row, 1)

        left = QVBoxLayout()
        box = QGroupBox(self.tr("Schedule"))
        f = QFormLayout(box)
        self.epochs = QDoubleSpinBox()
        self.epochs.setRange(0.01, 1000)
        self.epochs.setDecimals(2)
        self.epochs.setSingleStep(1)
        self.epochs.setToolTip(self.tr("Passes over the training data (fractions allowed)"))
        self.max_steps = _spin(0, 10_000_000, self.tr("no limit"),
                               self.tr("Stop after this many optimizer steps (overrides epochs)"))
        self.batch = _spin(1, 4096, tip=self.tr("Examples per optimizer step (per device)"))
        self.grad_accum = _spin(1, 1024, tip=self.tr("Accumulate gradients over this many batches before a "
                                                     "step"))
        self.lr = QLineEdit()
        v = QDoubleValidator(0.0, 1.0, 12, self.lr)
        v.setNotation(QDoubleValidator.ScientificNotation)
        self.lr.setValidator(v)
        self.lr.setToolTip(self.tr("Peak learning rate, e.g. 2e-5 (full) or 1e-4…1e-3 (LoRA, adapters)"))
        self.lr.setObjectName("learning_rate")
        self.lr_problem = InlineProblem()
        self.max_length = _spin(8, 32768, tip=self.tr("Longer inputs are truncated (tokens)"))
        self.warmup = QDoubleSpinBox()
        self.warmup.setRange(0, 0.99)
        self.warmup.setDecimals(2)
        self.warmup.setSingleStep(0.01)
        self.warmup.setToolTip(self.tr("Share of steps spent warming the learning rate up"))
        self.weight_decay = QDoubleSpinBox()
        self.weight_decay.setRange(0, 1)
        self.weight_decay.setDecimals(3)
        self.weight_decay.setSingleStep(0.01)
        f.addRow(self.tr("Epochs:"), self.epochs)
        f.addRow(self.tr("Max steps:"), self.max_steps)
        f.addRow(self.tr("Batch size:"), self.batch)
        f.addRow(self.tr("Gradient accumulation:"), self.grad_accum)
        lr_box = QVBoxLayout()
        lr_box.addWidget(self.lr)
        lr_box.addWidget(self.lr_problem)
        f.addRow(self.tr("Learning rate:"), lr_box)
        f.addRow(self.tr("Warmup ratio:"), self.warmup)
        f.addRow(self.tr("Weight decay:"), self.weight_decay)
        f.addRow(self.tr("Max length:"), self.max_length)
        left.addWidget(box)

        box2 = QGroupBox(self.tr("Hardware and bookkeeping"))
        f2 = QFormLayout(box2)
        self.device = QComboBox()
        for k, t in DEVICE_LABELS.items():
            self.device.addItem(self.tr(t), k)
        self.precision = QComboBox()
        for k, t in PRECISION_LABELS.items():
            self.precision.addItem(self.tr(t), k)
        self.precision.setToolTip(self.tr("Auto: bf16 on GPUs that support it, fp32 on CPU"))
        # the spin boxes' 0 is their "off" text and is saved as null, the config's only "off"
        self.eval_every = _spin(0, 10_000_000, self.tr("end of each epoch only"),
                                self.tr("Evaluate every N steps (saved as eval_every; the lowest value, "
                                        "'end of each epoch only', is `eval_every: null`)"))
        self.save_every = _spin(0, 10_000_000, self.tr("with each evaluation"),
                                self.tr("Write a resumable checkpoint every N steps (saved as save_every; the "
                                        "lowest value, 'with each evaluation', is `save_every: null`)"))
        self.seed = _spin(0, 2**31 - 1, tip=self.tr("Same seed, same data order and initialisation"))
        self.runs_dir = QLineEdit()
        self.runs_dir.setObjectName("runs_dir")
        self.runs_dir.setPlaceholderText(self.tr("default runs folder"))
        rb = QPushButton(self.tr("Browse…"))
        rb.clicked.connect(self._browse_runs)
        rrow = QHBoxLayout()
        rrow.addWidget(self.runs_dir, 1)
        rrow.addWidget(rb)
        f2.addRow(self.tr("Device:"), self.device)
        f2.addRow(self.tr("Precision:"), self.precision)
        f2.addRow(self.tr("Evaluate every (steps):"), self.eval_every)
        f2.addRow(self.tr("Checkpoint every (steps):"), self.save_every)
        f2.addRow(self.tr("Seed:"), self.seed)
        f2.addRow(self.tr("Runs folder:"), rrow)
        left.addWidget(box2)
        left.addStretch(1)
        row.addLayout(left, 1)

        self.preflight = PreflightPanel(build_config)
        row.addWidget(self.preflight, 1)

        for w in (self.epochs, self.max_steps, self.batch, self.grad_accum, self.max_length, self.warmup,
                  self.weight_decay, self.eval_every, self.save_every, self.seed):
            w.valueChanged.connect(lambda *_: self.changed.emit())
        for w in (self.device, self.precision):
            w.currentIndexChanged.connect(lambda *_: self.changed.emit())
        self.lr.textChanged.connect(lambda *_: self.changed.emit())
        self.runs_dir.textChanged.connect(lambda *_: self.changed.emit())
        self._other = TrainingConfig()
        self.set_config(TrainingConfig(), None)

    def _browse_runs(self) -> None:
        d = QFileDialog.getExistingDirectory(self, self.tr("Runs folder"))
        if d:
            self.runs_dir.setText(d)

    def training_config(self) -> TrainingConfig:
        t = self.lr.text().strip()
        try:
            lr = float(t)
        except ValueError:
            self.lr_problem.set_problem(self.tr("enter a number such as 2e-5"))
            raise UserError(self.tr("learning rate: '{t}' is not a number (e.g. 2e-5)").format(t=t),
                            where="training", field="training.learning_rate") from None
        self.lr_problem.set_problem(None)
        o = self._other
        return TrainingConfig(
            epochs=self.epochs.value(),
            max_steps=self.max_steps.value() or None,
            batch_size=self.batch.value(),
            learning_rate=lr,
            weight_decay=self.weight_decay.value(),
            warmup_ratio=self.warmup.value(),
            grad_accum=self.grad_accum.value(),
            max_grad_norm=o.max_grad_norm,
            max_length=self.max_length.value(),
            seed=self.seed.value(),
            eval_every=self.eval_every.value() or None,
            save_every=self.save_every.value() or None,
            early_stopping_patience=o.early_stopping_patience,
            device=self.device.currentData(),
            precision=self.precision.currentData(),
            group_by_length=o.group_by_length,
            log_every=o.log_every,
            packing=o.packing,
            compile=o.compile,
        )

    def runs_directory(self) -> str | None:
        return self.runs_dir.text().strip() or None

    def set_config(self, t: TrainingConfig, runs_dir: str | None) -> None:
        self._other = t
        self.epochs.setValue(t.epochs)
        self.max_steps.setValue(t.max_steps or 0)
        self.batch.setValue(t.batch_size)
        self.grad_accum.setValue(t.grad_accum)
        self.lr.setText(f"{t.learning_rate:g}")
        self.warmup.setValue(t.warmup_ratio)
        self.weight_decay.setValue(t.weight_decay)
        self.max_length.setValue(t.max_length)
        self.device.setCurrentIndex(max(0, self.device.findData(t.device)))
        self.precision.setCurrentIndex(max(0, self.precision.findData(t.precision)))
        self.eval_every.setValue(max(0, t.eval_every or 0))  # an old file's 0 ("off") shows as off
        self.save_every.setValue(max(0, t.save_every or 0))
        self.seed.setValue(t.seed)
        if runs_dir is not None:
            self.runs_dir.setText(runs_dir)


def run_seconds(report: Any, cfg: Any) -> float | None:
    """The whole run as configured: max_steps (or epochs) × the tasks of a sequence."""
    epoch_s = field(report, "epoch_seconds")
    if epoch_s is None or cfg is None:
        return None
    t = cfg.training
    per_epoch = field(report, "steps_per_epoch", default=0) or 0
    epochs = (t.max_steps / per_epoch) if (t.max_steps and per_epoch) else t.epochs
    return float(epoch_s) * epochs * max(1, len(cfg.tasks or []) or 1)


class PreflightPanel(QGroupBox):
    """Runs ``engine.preflight.preflight`` off the GUI thread and shows the report.

    States: idle, running (progress of its phases; Cancel), done (the numbers, with the
    validation's warnings and the majority baseline), blocked (``engine.validate`` found errors:
    every problem is listed and nothing was measured), stale (the setup changed after the numbers
    were measured: they are greyed and the verdict says to run it again), failed.

    ``validated`` hands the validation pass the pre-flight ran to the window, which shows each
    problem on its page and disables Start with the first error's reason."""

    finished = Signal(object)
    validated = Signal(object)  # the engine.validate Validation this pre-flight ran
    _progress = Signal(object)  # (seq, what, done, total) from the job thread

    def __init__(self, build_config: Callable[[], Any], parent: QWidget | None = None):
        super().__init__(parent)
        self.setTitle(self.tr("Pre-flight check"))
        self.build_config = build_config
        lay = QVBoxLayout(self)
        intro = QLabel(
            self.tr("Loads the model with the chosen technique and times one real training step, "
            "so you know what will train, whether it fits in memory and how long it takes.")
        )
        intro.setWordWrap(True)
        intro.setStyleSheet("color:#555")
        lay.addWidget(intro)
        brow = QHBoxLayout()
        self.button = QPushButton(self.tr("Run pre-flight check"))
        self.button.setObjectName("preflight_button")
        self.button.clicked.connect(self.run)
        brow.addWidget(self.button)
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.setObjectName("preflight_cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        brow.addWidget(self.cancel_button)
        brow.addStretch(1)
        lay.addLayout(brow)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(True)
        self.busy.hide()
        lay.addWidget(self.busy)
        self.phase = QLabel("")
        self.phase.setObjectName("preflight_phase")
        self.phase.setStyleSheet("color:#555")
        self.phase.hide()
        lay.addWidget(self.phase)
        self.numbers = QWidget()  # the measured numbers: hidden while a refused setup's problems show
        self.form = QFormLayout(self.numbers)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.values: dict[str, QLabel] = {}
        for key, title in (
            ("trainable", self.tr("Trainable parameters")),
            ("weights", self.tr("Weights")),
            ("gradients", self.tr("Gradients")),
            ("optimizer", self.tr("Optimizer state")),
            ("activations", self.tr("Activations")),
            ("total", self.tr("Estimated peak memory")),
            ("available", self.tr("Available")),
            ("step", self.tr("One step")),
            ("epoch", self.tr("Time per epoch")),
            ("run", self.tr("This run (as set up)")),
        ):
            lab = QLabel("—")
            lab.setTextInteractionFlags(Qt.TextSelectableByMouse)
            self.values[key] = lab
            self.form.addRow(self.tr("{title}:").format(title=title), lab)
        lay.addWidget(self.numbers)
        self.memory_bar = QProgressBar()
        self.memory_bar.setRange(0, 1000)
        self.memory_bar.setValue(0)
        self.memory_bar.setFormat(self.tr("memory use: —"))
        lay.addWidget(self.memory_bar)
        self.verdict = QLabel("")
        self.verdict.setWordWrap(True)
        self.verdict.setObjectName("preflight_verdict")
        lay.addWidget(self.verdict)
        lay.addStretch(1)
        self.report: Any = None
        self.state = "idle"
        self.cfg: Any = None
        self._seq = 0
        self._cancel: Any = None
        self._progress.connect(self._on_progress, Qt.QueuedConnection)

    def run(self) -> None:
        try:
            cfg = self.build_config()
        except UserError as e:
            self._fail(str(e))
            return
        self._seq += 1
        seq = self._seq
        self.cfg = cfg
        self.report = None
        self.state = "running"
        for lab in self.values.values():  # never the previous setup's numbers beside "Loading…"
            lab.setText("…")
            lab.setEnabled(True)
        self.memory_bar.setValue(0)
        self.memory_bar.setFormat(self.tr("memory use: —"))
        self._show_numbers(True)
        self.button.setEnabled(False)
        self.cancel_button.show()
        self.busy.setRange(0, 0)
        self.busy.show()
        self.phase.setText(self.tr("Starting…"))
        self.phase.show()
        self.verdict.setText(self.tr("Loading the model and timing one step…"))
        self.verdict.setStyleSheet("color:#555")
        from ftstudio.engine.errors import Cancelled

        token = self._cancel = {"cancelled": False}
        emit = self._progress.emit

        def progress(what: str, done: int, total: int) -> None:
            if token["cancelled"]:
                raise Cancelled()
            emit((seq, what, done, total))

        def job() -> Any:
            from ftstudio.engine.preflight import preflight

            return preflight(cfg, measure_step=True, progress=progress)

        def done(r: Any) -> None:
            if seq == self._seq:
                self.show_report(r)

        def fail(e: Any) -> None:
            if seq == self._seq and not token["cancelled"]:
                validation = getattr(getattr(e, "exc", None), "validation", None)
                if validation is not None:
                    self.show_blocked(validation)
                else:
                    self._fail(e.message)

        run_async(job, done, fail, owner=self)

    def cancel(self) -> None:
        """Stop waiting at once; the job ends at its next phase and its answer is dropped."""
        if self.state != "running":
            return
        if self._cancel is not None:
            self._cancel["cancelled"] = True
        self._seq += 1
        self._idle()
        self.state = "cancelled"
        for lab in self.values.values():
            lab.setText("—")
        self.verdict.setText(self.tr("Pre-flight cancelled."))
        self.verdict.setStyleSheet("color:#555")
        self.finished.emit(None)

    def mark_stale(self) -> None:
        """The setup changed: numbers measured for the old one are greyed, the verdict says so."""
        if self.state == "running":
            self.cancel()
        if self.state not in ("done", "failed", "cancelled"):
            return
        self.state = "stale"
        for lab in self.values.values():
            lab.setEnabled(False)
        self.memory_bar.setEnabled(False)
        self.verdict.setText(self.tr("Stale — the setup changed since this check: run it again."))
        self.verdict.setStyleSheet("color:#8a5a00; font-weight:bold")

    def _on_progress(self, msg: Any) -> None:
        seq, what, done, total = msg
        if seq != self._seq or self.state != "running":
            return
        if total and total > 0:
            self.busy.setRange(0, int(total))
            self.busy.setValue(int(done))
        self.phase.setText(f"{what}…" + (f"  ({done}/{total})" if total and total > 4 else ""))

    def _show_numbers(self, shown: bool) -> None:
        self.numbers.setVisible(shown)
        self.memory_bar.setVisible(shown)

    def _idle(self) -> None:
        self._show_numbers(True)
        self.busy.hide()
        self.phase.hide()
        self.cancel_button.hide()
        self.button.setEnabled(True)
        self.memory_bar.setEnabled(True)

    def _fail(self, msg: str) -> None:
        self._idle()
        self.state = "failed"
        for lab in self.values.values():
            lab.setText("—")
        self.verdict.setText(self.tr("Pre-flight failed: {msg}").format(msg=msg))
        self.verdict.setStyleSheet("color:#b00020")
        self.finished.emit(None)

    def show_blocked(self, validation: Any) -> None:
        """``engine.validate`` refused the setup: list every problem (errors first); no numbers."""
        import html

        self._idle()
        self.state = "blocked"
        for lab in self.values.values():
            lab.setText("—")
        self._show_numbers(False)  # nothing was measured: the problems take the room
        rows = []
        for p in sorted(validation.problems, key=lambda p: p.severity != "error"):
            color, mark = ("#b00020", "✖") if p.severity == "error" else ("#8a5a00", "⚠")
            rows.append(f"<li style='color:{color}'>{mark} {html.escape(p.message)}</li>")
        self.verdict.setText(self.tr("✖ Cannot start: fix the problems below, then run the check again.")
                             + "<ul>" + "".join(rows) + "</ul>")
        self.verdict.setStyleSheet("color:#b00020")
        self.validated.emit(validation)
        self.finished.emit(None)

    def problems_text(self) -> str:
        """The verdict as plain text (what a test or a screen reader sees)."""
        from PySide6.QtGui import QTextDocument

        doc = QTextDocument()
        doc.setHtml(self.verdict.text())
        return doc.toPlainText()

    def show_report(self, r: Any) -> None:
        self.report = r
        self.state = "done"
        self._idle()
        for lab in self.values.values():
            lab.setEnabled(True)
        mem = field(r, "memory", default={}) or {}
        tp, tot = field(r, "trainable_params", default=0), field(r, "total_params", default=0)
        pct = field(r, "trainable_pct", default=(100.0 * tp / tot if tot else 0.0))
        self.values["trainable"].setText(self.tr("{trainable} of {total}  ({pct:.2f}%)").format(
            trainable=fmt_count(tp), total=fmt_count(tot), pct=pct))
        for k in ("weights", "gradients", "optimizer", "activations", "total"):
            self.values[k].setText(fmt_bytes(mem.get(k)))
        if mem.get("teacher"):  # distillation: the frozen teacher sits beside the student
            self.values["weights"].setText(self.tr("{value} + teacher {value2}").format(
                                               value=fmt_bytes(mem.get('weights')), value2=fmt_bytes(mem['teacher'])))
        avail = field(r, "available_bytes")
        self.values["available"].setText(fmt_bytes(avail) if avail else self.tr("unknown"))
        self.values["step"].setText(
            self.tr("{seconds:.3f} s").format(seconds=field(r, "step_seconds")) if field(r, "step_seconds") is not None
            else self.tr("not measured"))
        if field(r, "teacher_seconds") is not None and field(r, "step_seconds") is not None:
            self.values["step"].setText(
                self.tr("{value:.3f} s (teacher {value2:.3f} s of it, first epoch only: its outputs are "
                        "then reused)").format(
                    value=field(r, 'step_seconds'), value2=field(r, 'teacher_seconds')))
        self.values["epoch"].setText(fmt_seconds(field(r, "epoch_seconds")))
        total_s = run_seconds(r, self.cfg)
        t = self.cfg.training if self.cfg is not None else None
        how = (self.tr("{n} steps").format(n=t.max_steps) if t.max_steps else
               self.tr("{n:g} epochs").format(n=t.epochs)) if t is not None else ""
        if self.cfg is not None and self.cfg.tasks:
            how += self.tr(" × {n} tasks").format(n=len(self.cfg.tasks))
        self.values["run"].setText(f"{fmt_seconds(total_s)}  ({how})" if total_s is not None else "—")
        if avail and mem.get("total"):
            frac = mem["total"] / avail
            self.memory_bar.setValue(int(min(frac, 1.0) * 1000))
            self.memory_bar.setFormat(self.tr("memory use: {pct:.0f}% of available").format(pct=100 * frac))
        import html

        warnings = list(field(r, "warnings", default=[]) or [])
        fits = field(r, "fits", default=True)
        base = field(r, "baseline")
        base_line = ""
        if isinstance(base, dict) and "label" in base and base.get("accuracy") is not None:
            base_line = "<p style='color:#555'>" + html.escape(self.tr(
                "Baseline: always answering '{label}' scores accuracy {acc:.3f}; the run must beat it.").format(
                    label=base["label"], acc=base["accuracy"])) + "</p>"
        if fits and not warnings:
            self.verdict.setText(self.tr("✔ Fits. Ready to start.") + base_line)
            self.verdict.setStyleSheet("color:#1b7f3b; font-weight:bold")
        else:
            head = self.tr("✔ Fits, with notes:") if fits else self.tr("✖ Will not fit as configured:")
            self.verdict.setText(head + "<ul>" + "".join(f"<li>{html.escape(w)}</li>" for w in warnings) + "</ul>"
                                 + base_line)
            self.verdict.setStyleSheet("color:%s" % ("#8a5a00" if fits else "#b00020"))
        problems = field(r, "problems")
        if problems is not None:  # the validation pass it ran (warnings only: errors block above)
            from ftstudio.engine.validate import Problem, Validation

            self.validated.emit(Validation([Problem(**p) for p in problems], baseline=base))
        self.finished.emit(r)
