"""Playground: type text, see the fine-tuned model's answer beside the base model's."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ftstudio.gui.pages.common import InlineProblem, field, heading, task_name
from ftstudio.gui.util import labelled_bar, run_async
from ftstudio.gui.widgets.generation_controls import GenerationControls


class _Stream(QObject):
    """Generated text so far, from the job thread to the GUI thread (one object per page)."""

    text = Signal(str, str)  # "job:box" ("tuned" | "base"), text so far


class AnswerBox(QGroupBox):
    """A prediction: a label with probability bars (classification) or generated text (LM)."""

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(title, parent)
        lay = QVBoxLayout(self)
        self.headline = QLabel("—")
        self.headline.setObjectName("answer_headline")
        self.headline.setWordWrap(True)
        self.headline.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.headline.setStyleSheet("font-size:15px; font-weight:bold")
        lay.addWidget(self.headline)
        self.probs = QFormLayout()
        lay.addLayout(self.probs)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.hide()
        lay.addWidget(self.text, 1)
        lay.addStretch(0)
        self.result: Any = None

    def clear(self, note: str = "—") -> None:
        self.headline.setText(note)
        while self.probs.rowCount():
            self.probs.removeRow(0)
        self.text.hide()

    def show_stream(self, text: str) -> None:
        """Text as it is generated (the final result replaces it)."""
        self.headline.setText(self.tr("Generating…"))
        self.text.setPlainText(text)
        self.text.show()

    def show_result(self, r: Any) -> None:
        self.result = r
        self.clear("")
        probs = field(r, "probabilities", "probs", "scores", default=None)
        label = field(r, "label", "prediction", default=None)
        text = field(r, "text", "generated", "generated_text", "output", default=None)
        if label is not None or probs:
            if label is None and isinstance(probs, dict) and probs:
                label = max(probs, key=probs.get)
            conf = probs.get(label) if isinstance(probs, dict) else None
            self.headline.setText(f"{label}" + (f"   ({100 * conf:.1f}%)" if conf is not None else ""))
            if isinstance(probs, dict):
                for i, (name, p) in enumerate(sorted(probs.items(), key=lambda kv: -kv[1])[:10]):
                    self.probs.addRow(str(name) + ":", labelled_bar(float(p), f"{100 * float(p):.1f}%",
                                                                    "#2e7d32" if i == 0 else "#8fb3d9"))
        elif text is not None:
            stopped = field(r, "stopped", default=None)
            note = {"length": self.tr("   (stopped at the token limit)"),
                    "cancelled": self.tr("   (stopped)")}.get(stopped, "")
            self.headline.setText(self.tr("Generated:") + note)
            self.text.setPlainText(str(text))
            self.text.show()
        else:
            self.headline.setText(str(r))


class PlaygroundPage(QWidget):
    busy_changed = Signal(bool)

    def __init__(self, runs_dir: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.runs_dir = runs_dir
        lay = QVBoxLayout(self)
        lay.addWidget(heading(self.tr("Playground"), self.tr("Try a finished run on your own text, next to the base model.")))
        row = QHBoxLayout()
        row.addWidget(QLabel(self.tr("Run:")))
        self.run_combo = QComboBox()
        self.run_combo.setObjectName("playground_run")
        self.run_combo.setMinimumWidth(420)
        self.run_combo.currentIndexChanged.connect(self._run_changed)
        row.addWidget(self.run_combo, 1)
        refresh = QPushButton(self.tr("Refresh"))
        refresh.clicked.connect(self.refresh)
        row.addWidget(refresh)
        lay.addLayout(row)
        self.run_facts = QLabel("")
        self.run_facts.setStyleSheet("color:#555")
        lay.addWidget(self.run_facts)
        self.input = QPlainTextEdit()
        self.input.setObjectName("playground_input")
        self.input.setPlaceholderText(self.tr("Type a sentence, e.g. “a wonderful, moving film”"))
        self.input.setMaximumHeight(110)
        lay.addWidget(self.input)
        brow = QHBoxLayout()
        self.predict_button = QPushButton(self.tr("Predict  (Ctrl+Enter)"))
        self.predict_button.setObjectName("predict_button")
        self.predict_button.setShortcut("Ctrl+Return")
        self.predict_button.clicked.connect(self.predict)
        brow.addWidget(self.predict_button)
        self.stop_button = QPushButton(self.tr("Stop"))
        self.stop_button.setObjectName("stop_generation")
        self.stop_button.setToolTip(self.tr("Stop generating (the text so far stays)"))
        self.stop_button.clicked.connect(self._stop_generation)
        self.stop_button.hide()
        brow.addWidget(self.stop_button)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(160)
        self.busy.hide()
        brow.addWidget(self.busy)
        brow.addStretch(1)
        lay.addLayout(brow)
        self.gen_controls = GenerationControls()
        self.gen_controls.hide()  # text-generation runs only
        lay.insertWidget(lay.indexOf(self.input) + 1, self.gen_controls)
        self.problem = InlineProblem()
        lay.addWidget(self.problem)
        answers = QHBoxLayout()
        self.tuned = AnswerBox(self.tr("Fine-tuned"))
        self.tuned.setObjectName("tuned_answer")
        self.base = AnswerBox(self.tr("Base model (before fine-tuning)"))
        self.base.setObjectName("base_answer")
        answers.addWidget(self.tuned, 1)
        answers.addWidget(self.base, 1)
        lay.addLayout(answers, 1)
        self._predictors: dict[str, Any] = {}
        self._stream = _Stream(self)
        self._stream.text.connect(self._streamed, Qt.QueuedConnection)
        self._cancel = False
        self._job = 0  # streamed text of an older request is ignored
        self._pending = 0
        self.records: list[Any] = []
        self._newest: str | None = None  # the newest finished run at the last refresh

    def refresh(self) -> None:
        from pathlib import Path

        from ftstudio.engine.store import list_runs

        cur = self.current_run()
        d = self.runs_dir()
        try:
            self.records = [r for r in list_runs(Path(d) if d else None) if r.status == "finished"]
        except Exception:  # noqa: BLE001
            self.records = []
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        for r in self.records:
            acc = (r.summary or {}).get("accuracy")
            self.run_combo.addItem(f"{getattr(r, 'display_name', r.name)}  ·  {r.technique}"
                                   + (self.tr("  ·  acc {acc:.3f}").format(acc=acc) if isinstance(acc, float) else ""),
                                   str(r.run_dir))
        if not self.records:
            self.run_combo.addItem(self.tr("(no finished runs yet — train one first)"), None)
        newest = str(self.records[0].run_dir) if self.records else None  # list_runs: newest first
        if newest != self._newest:
            cur = newest  # a run finished since: open on it (the one the user just trained)
        self._newest = newest
        i = self.run_combo.findData(cur) if cur else -1
        self.run_combo.setCurrentIndex(max(i, 0))
        self.run_combo.blockSignals(False)
        self._run_changed()

    def current_run(self) -> str | None:
        return self.run_combo.currentData()

    def select_run(self, run_dir: str) -> None:
        i = self.run_combo.findData(str(run_dir))
        if i >= 0:
            self.run_combo.setCurrentIndex(i)

    def _run_changed(self) -> None:
        rd = self.current_run()
        rec = next((r for r in self.records if str(r.run_dir) == rd), None)
        self.run_facts.setText(self.tr("{technique} on {model} · task: {task}").format(
            technique=rec.technique, model=rec.model, task=task_name(rec.task)) if rec else "")
        self.gen_controls.setVisible(rec is not None and rec.task == "causal-lm")
        self.predict_button.setEnabled(rec is not None)
        lm = rec is not None and rec.task == "causal-lm"
        self.predict_button.setText(self.tr("Generate  (Ctrl+Enter)") if lm else self.tr("Predict  (Ctrl+Enter)"))
        self.predict_button.setShortcut("Ctrl+Return")
        self.input.setPlaceholderText(self.tr("Type an instruction, e.g. “Name three primary colors.”") if lm
                                      else self.tr("Type a sentence, e.g. “a wonderful, moving film”"))
        self.tuned.clear()
        self.base.clear()

    def predict(self) -> None:
        rd = self.current_run()
        text = self.input.toPlainText().strip()
        if not rd:
            self.problem.set_problem(self.tr("pick a finished run first"))
            return
        if not text:
            self.problem.set_problem(self.tr("type some text to try"))
            return
        self.problem.set_problem(None)
        lm = not self.gen_controls.isHidden()
        settings = self.gen_controls.settings() if lm else None
        if settings is not None:
            try:
                settings.validate()
            except Exception as e:  # noqa: BLE001 - a UserError: one line beside the controls
                self.problem.set_problem(str(e))
                return
        self.tuned.clear(self.tr("thinking…"))
        self.base.clear(self.tr("thinking…"))
        self._cancel = False
        self._job += 1
        job = self._job
        self._set_busy(+2)

        def predictor() -> Any:
            p = self._predictors.get(rd)
            if p is None:
                from ftstudio.engine.predict import Predictor

                p = self._predictors[rd] = Predictor(rd)
            return p

        def ask(which: str) -> Any:
            p = predictor()
            fn = p.predict if which == "tuned" else p.predict_base
            if not lm:
                return fn(text)
            return fn(text, settings, on_text=lambda t: self._stream.text.emit(f"{job}:{which}", t),
                      cancel=lambda: self._cancel)

        def ok(box: AnswerBox, r: Any) -> None:
            self._set_busy(-1)
            box.show_result(r)

        def fail(box: AnswerBox, e: Any) -> None:
            self._set_busy(-1)
            box.clear("")
            self.problem.set_problem(e.message)

        def tuned_done(r: Any) -> None:
            ok(self.tuned, r)
            # then the base model, on the same worker-side Predictor (weights loaded once)
            run_async(lambda: ask("base"), lambda r2: ok(self.base, r2),
                      lambda e: fail(self.base, e), owner=self)

        def tuned_failed(e: Any) -> None:
            fail(self.tuned, e)
            self._set_busy(-1)  # the base answer will not be asked for
            self.base.clear("—")

        run_async(lambda: ask("tuned"), tuned_done, tuned_failed, owner=self)

    def _streamed(self, key: str, text: str) -> None:
        job, which = key.split(":", 1)
        if int(job) != self._job or self._pending == 0:
            return
        box = self.tuned if which == "tuned" else self.base
        if box.headline.text() in (self.tr("thinking…"), QCoreApplication.translate("AnswerBox", "Generating…")):  # not once the result is shown
            box.show_stream(text)

    def _stop_generation(self) -> None:
        self._cancel = True

    def _set_busy(self, delta: int) -> None:
        self._pending = max(0, self._pending + delta)
        busy = self._pending > 0
        self.busy.setVisible(busy)
        self.stop_button.setVisible(busy and not self.gen_controls.isHidden())
        self.predict_button.setEnabled(not busy and self.current_run() is not None)
        self.busy_changed.emit(busy)
