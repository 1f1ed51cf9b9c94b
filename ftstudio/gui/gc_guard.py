"""Python's cyclic garbage collector, run on the GUI thread only.

Automatic collection runs in whichever thread happens to allocate when a threshold is crossed —
during a run, usually the training thread. When a cycle there holds the last reference to a Qt
object (a closed dialog, a finished run's session, a window whose signals point back at it),
its C++ destructor runs on that thread: Qt objects must die on their own thread, and the result
was a segfault or a deadlock inside the collector (reproduced in the GUI test suite). So while a
window is open, automatic collection is off and a timer on the GUI thread does the same
generational checks (pyqtgraph's GarbageCollector does this for the same reason).
"""
from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500


class MainThreadGC(QObject):
    def __init__(self, interval_ms: int = INTERVAL_MS):
        super().__init__()
        self.threshold = gc.get_threshold()
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self.users = 0
        self.collections = [0, 0, 0]

    def acquire(self) -> None:
        self.users += 1
        if self.users == 1:
            gc.disable()
            self.timer.start()

    def release(self) -> None:
        self.users = max(0, self.users - 1)
        if self.users == 0:
            self.timer.stop()
            self.check()
            gc.enable()

    def check(self) -> None:
        """What the interpreter does on allocation, generation by generation, but here."""
        c0, c1, c2 = gc.get_count()
        if c0 > self.threshold[0]:
            gen = 2 if (c1 > self.threshold[1] and c2 > self.threshold[2]) else 1 if c1 > self.threshold[1] else 0
            gc.collect(gen)
            self.collections[gen] += 1


_guard: MainThreadGC | None = None


def guard() -> MainThreadGC:
    """The process's one guard (created on the GUI thread, on first use)."""
    global _guard
    if _guard is None:
        _guard = MainThreadGC()
    return _guard
