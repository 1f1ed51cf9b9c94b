"""The ftstudio desktop studio: a thin PySide6 view over ``ftstudio.engine``.

Nothing here imports torch / transformers / peft at module level: the window must be on screen
before the heavy libraries load (they load lazily, on the first worker that needs them).
"""
from ftstudio.gui import _pyside_fix  # noqa: F401  (before any Qt call: see the module docstring)
