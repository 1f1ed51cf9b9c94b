"""Generation controls for text-generation runs (Playground): the fields of
``engine.predict.GenerationSettings`` with their help."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QT_TRANSLATE_NOOP
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QGridLayout, QGroupBox, QLabel, QSpinBox, QWidget

HELP = {  # translated where shown (GenerationControls context)
    "max_new_tokens": QT_TRANSLATE_NOOP(
        "GenerationControls", "Stop after this many generated tokens (generation also stops at the end-of-turn token)."),
    "greedy": QT_TRANSLATE_NOOP(
        "GenerationControls", "Always pick the most likely next token: the same answer every time. Untick to sample."),
    "temperature": QT_TRANSLATE_NOOP(
        "GenerationControls", "Sampling: >1 flatter (more varied), <1 sharper (more predictable); 0 is greedy."),
    "top_p": QT_TRANSLATE_NOOP(
        "GenerationControls", "Sampling: keep the smallest set of tokens whose probability reaches this mass (nucleus)."),
    "top_k": QT_TRANSLATE_NOOP(
        "GenerationControls", "Sampling: keep only the k most likely tokens (0 = no limit)."),
    "repetition_penalty": QT_TRANSLATE_NOOP(
        "GenerationControls", "Above 1 makes tokens already in the text less likely (1 = off)."),
}


class GenerationControls(QGroupBox):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setTitle(self.tr("Generation"))
        self.setObjectName("generation_controls")
        g = QGridLayout(self)
        g.setContentsMargins(8, 4, 8, 4)
        self.max_new_tokens = QSpinBox()
        self.max_new_tokens.setRange(1, 4096)
        self.max_new_tokens.setValue(128)
        self.greedy = QCheckBox(self.tr("Greedy (deterministic)"))
        self.greedy.setChecked(True)
        self.temperature = self._dspin(0.0, 5.0, 0.05, 0.7)
        self.top_p = self._dspin(0.01, 1.0, 0.01, 0.9)
        self.top_k = QSpinBox()
        self.top_k.setRange(0, 1000)
        self.top_k.setValue(50)
        self.repetition_penalty = self._dspin(0.5, 3.0, 0.05, 1.0)
        cells = [(self.tr("Max new tokens"), self.max_new_tokens), (None, self.greedy),
                 (self.tr("Temperature"), self.temperature), ("Top-p", self.top_p), ("Top-k", self.top_k),
                 (self.tr("Repetition penalty"), self.repetition_penalty)]
        for i, (label, w) in enumerate(cells):
            key = next(k for k, v in vars(self).items() if v is w)
            w.setObjectName(f"gen_{key}")
            w.setToolTip(self.tr(HELP[key]))
            col = (i % 3) * 2
            if label:
                lab = QLabel(self.tr("{label}:").format(label=label))
                lab.setToolTip(self.tr(HELP[key]))
                g.addWidget(lab, i // 3, col)
                g.addWidget(w, i // 3, col + 1)
            else:
                g.addWidget(w, i // 3, col, 1, 2)
        self.greedy.toggled.connect(self._sync)
        self._sync()

    @staticmethod
    def _dspin(lo: float, hi: float, step: float, value: float) -> QDoubleSpinBox:
        s = QDoubleSpinBox()
        s.setRange(lo, hi)
        s.setSingleStep(step)
        s.setDecimals(2)
        s.setValue(value)
        return s

    def _sync(self) -> None:
        sampling = not self.greedy.isChecked()
        for w in (self.temperature, self.top_p, self.top_k):
            w.setEnabled(sampling)

    def settings(self) -> Any:
        from ftstudio.engine.predict import GenerationSettings

        return GenerationSettings(
            max_new_tokens=self.max_new_tokens.value(), greedy=self.greedy.isChecked(),
            temperature=self.temperature.value(), top_p=self.top_p.value(), top_k=self.top_k.value(),
            repetition_penalty=self.repetition_penalty.value(), seed=None,
        )
