"""The architecture rules the project relies on."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QT = re.compile(r"^\s*(from|import)\s+(PySide6|PyQt5|PyQt6|pyqtgraph|shiboken6)\b", re.M)
EXPECTED = ["full", "lora", "adapter", "prompt_tuning", "prefix_tuning", "bitfit", "layerwise", "ewc",
            "distillation", "continual"]


def test_engine_and_techniques_import_no_qt():
    offenders = [
        str(p.relative_to(ROOT))
        for d in ("ftstudio/engine", "ftstudio/techniques")
        for p in (ROOT / d).rglob("*.py")
        if QT.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_listing_techniques_imports_neither_torch_nor_qt():
    """The GUI lists techniques before the window shows; that must not pull in torch (~5 s)."""
    code = (
        "import sys; from ftstudio.techniques import all_techniques, param_specs;"
        "names=[c.name for c in all_techniques()]; [param_specs(c.Params) for c in all_techniques()];"
        "import ftstudio.engine.config, ftstudio.engine.events, ftstudio.engine.store;"
        "heavy=[m for m in ('torch','transformers','peft','datasets','PySide6') if m in sys.modules];"
        "print(','.join(names)); print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    names_line, heavy_line = out.stdout.strip().splitlines()[-2:]
    assert heavy_line == "HEAVY []"
    assert names_line.split(",") == EXPECTED


def test_every_technique_param_is_documented():
    from ftstudio.techniques import all_techniques, param_specs

    for cls in all_techniques():
        assert cls.title and len(cls.card) > 60, cls.name
        for s in param_specs(cls.Params):
            assert s.label and len(s.help) > 15, f"{cls.name}.{s.name} lacks a label/help"
            if s.type in (int, float) and s.choices is None:
                assert s.min is not None or s.max is not None or s.optional, f"{cls.name}.{s.name} has no range"
