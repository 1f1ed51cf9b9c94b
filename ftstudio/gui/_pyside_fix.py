"""Work around a shiboken6 6.12.0 reference-count bug on CPython < 3.12.

Every call of a Qt method that returns ``void`` hands Python ``None`` without taking a
reference, and ``Signal.emit`` hands back ``True``/``False`` the same way, so each such call
drops that singleton's reference count by one (measured here: ``QLabel.setText`` → None −1.0 per
call; ``emit`` → True −1.0 per call). On 3.12+ these singletons are immortal and nothing happens;
on 3.10/3.11 the count reaches zero after some tens of thousands of calls — a live training view
gets there in minutes, a window's construction nearly does — and the interpreter aborts with
"none_dealloc: deallocating None" / "bool_dealloc: deallocating True or False".

We give None, True and False a huge reference count up front (2**60: ~10**18 calls before it
could matter). Harmless: these singletons are never freed anyway. Applied once, when
``ftstudio.gui`` is imported (tests/gui/conftest.py imports it before any Qt call).
"""
from __future__ import annotations

import sys

BUMP = 1 << 60


def apply() -> bool:
    """Make ``None`` effectively immortal on CPython < 3.12. Returns True when applied."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    import ctypes

    for obj in (None, True, False):
        ref = ctypes.c_ssize_t.from_address(id(obj))  # ob_refcnt: the first field of PyObject
        if ref.value < BUMP // 2:
            ref.value += BUMP
    return True


def refcount_drift(calls: int = 1000) -> dict[str, float]:
    """Diagnostics: refcount change per call (−1.0 where the bug is present)."""
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QLabel

    class _O(QObject):
        sig = Signal()

    w, o = QLabel(), _O()
    b0 = sys.getrefcount(None)
    for _ in range(calls):
        w.setText("x")
    b1 = sys.getrefcount(True)
    for _ in range(calls):
        o.sig.emit()
    return {"void→None": (b1 and (sys.getrefcount(None) - b0) / calls),
            "emit→True": (sys.getrefcount(True) - b1) / calls}


APPLIED = apply()
