"""Qt objects that die in a reference cycle die on the GUI thread, even when the training thread
is the one allocating (automatic collection would free them there: segfaults and deadlocks in
the collector, seen in this suite before the guard)."""
from __future__ import annotations

import gc
import threading


def _cycle_with_a_qt_object(record: list[int]) -> None:
    from PySide6.QtCore import QObject, Qt

    o = QObject()
    o.destroyed.connect(lambda *_: record.append(threading.get_ident()), Qt.DirectConnection)
    holder = {"qt": o}
    holder["self"] = holder  # a cycle: only the collector can free it
    o.setProperty("n", 1)


def _allocate_like_a_training_loop() -> None:
    junk = []
    for i in range(200_000):  # far past every generation's threshold
        junk.append([i])
        if len(junk) > 1000:
            junk.clear()


def test_cycles_holding_qt_objects_are_collected_on_the_gui_thread(window, qtbot):
    gc.collect()
    destroyed_on: list[int] = []
    _cycle_with_a_qt_object(destroyed_on)
    t = threading.Thread(target=_allocate_like_a_training_loop)
    t.start()
    t.join()
    assert destroyed_on == []  # the worker's allocations collected nothing…
    qtbot.waitUntil(lambda: bool(destroyed_on), timeout=5_000)  # …the GUI thread's timer did
    assert destroyed_on == [threading.get_ident()]


def test_automatic_collection_comes_back_when_the_last_window_closes(qtbot, settings):
    from ftstudio.gui.main_window import MainWindow

    w = MainWindow(settings=settings, restore=False)
    assert not gc.isenabled()
    w.close()
    assert gc.isenabled()
