"""Playground: type text, see the fine-tuned model's answer beside the base model's."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
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
            self.headline.setText(self.tr("Generated:"))
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
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(160)
        self.busy.hide()
        brow.addWidget(self.busy)
        brow.addStretch(1)
        lay.addLayout(brow)
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
        self._pending = 0
        self.records: list[Any] = []

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
            text = f"{r.name}  ·  {r.technique}"
            if isinstance(acc, float):
                text += self.tr("  ·  acc {acc:.3f}").format(acc=acc)
            self.run_combo.addItem(text, str(r.run_dir))
        if not self.records:
            self.run_combo.addItem(self.tr("(no finished runs yet — train one first)"), None)
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
        self.predict_button.setEnabled(rec is not None)
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
        self.tuned.clear(self.tr("thinking…"))
        self.base.clear(self.tr("thinking…"))
        self._set_busy(+2)

        def predictor() -> Any:
            p = self._predictors.get(rd)
            if p is None:
                from ftstudio.engine.predict import Predictor

                p = self._predictors[rd] = Predictor(rd)
            return p

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
            run_async(lambda: predictor().predict_base(text), lambda r2: ok(self.base, r2),
                      lambda e: fail(self.base, e), owner=self)

        def tuned_failed(e: Any) -> None:
            fail(self.tuned, e)
            self._set_busy(-1)  # the base answer will not be asked for
            self.base.clear("—")

        run_async(lambda: predictor().predict(text), tuned_done, tuned_failed, owner=self)

    def _set_busy(self, delta: int) -> None:
        self._pending = max(0, self._pending + delta)
        busy = self._pending > 0
        self.busy.setVisible(busy)
        self.predict_button.setEnabled(not busy and self.current_run() is not None)
        self.busy_changed.emit(busy)
