"""Background jobs (model facts, previews, pre-flight, playground) must not leave torch threads
behind: while another thread's OpenMP team lives, libgomp manages more threads than the cores
and stops spinning between parallel regions, and every parallel op of the training thread gets
~3x dearer (measured: the demo run 25% slower on 2 cores after a pre-flight check)."""
from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads via Linux /proc")


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def test_a_torch_job_leaves_no_threads_behind(qtbot):
    from ftstudio.gui.util import run_async, warm_imports

    warm_imports()
    import torch

    if torch.get_num_threads() < 2:
        pytest.skip("one intra-op thread: torch starts no OpenMP team to leave behind")
    before = _threads()
    results: list[float] = []
    # large enough that torch runs it as an OpenMP parallel region (its own team of threads)
    run_async(lambda: float(torch.ones(1_000_000).add_(1).sum()), results.append)
    qtbot.waitUntil(lambda: bool(results), timeout=30_000)
    assert results == [2_000_000.0]
    qtbot.waitUntil(lambda: _threads() <= before, timeout=5_000)


def test_jobs_still_run_side_by_side(qtbot):
    """Threads exit when idle, but several jobs still run at once (a slow model load must not
    queue a data preview behind it)."""
    import threading

    from ftstudio.gui.util import active_jobs, run_async

    gate = threading.Event()
    started: list[int] = []
    done: list[int] = []

    def slow(i: int):
        started.append(i)
        gate.wait(10)
        return i

    for i in range(3):
        run_async(lambda i=i: slow(i), done.append)
    qtbot.waitUntil(lambda: len(started) == 3, timeout=5_000)
    assert active_jobs() == 3
    gate.set()
    qtbot.waitUntil(lambda: sorted(done) == [0, 1, 2], timeout=5_000)
