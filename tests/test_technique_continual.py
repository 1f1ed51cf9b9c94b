"""Experience replay: reservoir uniformity, size bound, task balance, resumable state."""
from __future__ import annotations

import json

import pytest

from ftstudio.engine.errors import UserError
from ftstudio.techniques import make_technique
from ftstudio.techniques.continual import ReplayBuffer, mix_replay, replay_count


def _stream(n: int, task: int = 0, start: int = 0) -> list[dict]:
    return [{"input_ids": [1, 2, i], "label": i % 2, "idx": start + i, "task_id": task} for i in range(n)]


def test_reservoir_is_uniform_over_the_stream():
    # 3000 independent buffers (fixed seeds): every stream position must be kept M/N of the time.
    N, M, runs = 20, 5, 3000
    kept = [0] * N
    for seed in range(runs):
        buf = ReplayBuffer(M, "reservoir", seed=seed)
        buf.extend(_stream(N))
        for e in buf.items:
            kept[e["idx"]] += 1
    expected = runs * M / N
    chi2 = sum((k - expected) ** 2 / expected for k in kept)
    assert chi2 < 43.8, (chi2, kept)  # chi-square, 19 dof, p = 0.001
    # the first M items are not favoured (a "fill then stop" buffer would keep them always)
    assert max(kept) < 1.2 * expected and min(kept) > 0.8 * expected


def test_size_never_exceeds_capacity():
    for sampling in ("reservoir", "balanced"):
        buf = ReplayBuffer(7, sampling, seed=3)
        for t in range(4):
            for ex in _stream(25, task=t):
                buf.add(ex)
                assert len(buf) <= 7
        assert len(buf) == 7 and buf.seen == 100


def test_balanced_keeps_tasks_equal():
    buf = ReplayBuffer(30, "balanced", seed=0)
    buf.extend(_stream(100, task=0))
    assert buf.task_counts() == {0: 30}
    buf.extend(_stream(50, task=1))
    assert buf.task_counts() == {0: 15, 1: 15}
    buf.extend(_stream(40, task=2))
    assert buf.task_counts() == {0: 10, 1: 10, 2: 10}
    # reservoir instead follows the stream: the big first task keeps most slots
    res = ReplayBuffer(30, "reservoir", seed=0)
    for t, n in ((0, 100), (1, 50), (2, 40)):
        res.extend(_stream(n, task=t))
    assert res.task_counts()[0] > 10


def test_state_round_trip_continues_identically():
    a = ReplayBuffer(10, "reservoir", seed=5)
    a.extend(_stream(40, task=0))
    a.sample(3)
    state = json.loads(json.dumps(a.state_dict()))  # must be JSON-able (checkpoint meta)
    b = ReplayBuffer.from_state(state)
    more = _stream(40, task=1, start=40)
    a.extend(more)
    b.extend(more)
    assert a.items == b.items
    assert a.sample(4) == b.sample(4)


def test_replay_mixing_adds_round_ratio_times_batch():
    assert replay_count(32, 0.5) == 16 and replay_count(10, 0.25) == 2  # round(2.5) = 2
    assert replay_count(3, 0.1) == 1 and replay_count(8, 0.0) == 0
    buf = ReplayBuffer(50, seed=0)
    buf.extend(_stream(50, task=0))
    out = list(mix_replay([_stream(8, task=1)], buf, 0.5))
    assert len(out[0]) == 12
    assert [e["task_id"] for e in out[0]] == [1] * 8 + [0] * 4  # replayed keep their own task


def test_technique_fills_memory_at_task_end_and_replays():
    tech = make_technique("continual", {"buffer_size": 20, "replay_ratio": 1.0})
    task0 = _stream(30, task=0)
    new = [task0[i:i + 4] for i in range(0, 30, 4)]
    assert list(tech.transform_batches(iter(new))) == new  # nothing remembered yet
    tech.on_task_end(0, None, task0)
    assert len(tech.buffer) == 20
    mixed = list(tech.transform_batches(iter([_stream(4, task=1)])))
    assert len(mixed[0]) == 8
    state = json.loads(json.dumps(tech.state_dict()))
    tech2 = make_technique("continual", {"buffer_size": 20, "replay_ratio": 1.0})
    tech2.load_state_dict(state)
    assert tech2.buffer.items == tech.buffer.items
    assert tech.buffer.sample(5) == tech2.buffer.sample(5)


def test_naive_baseline_and_check():
    tech = make_technique("continual", {"buffer_size": 0})
    batches = [_stream(4)]
    assert tech.transform_batches(batches) is batches
    tech.on_task_end(0, None, _stream(10))
    assert tech.buffer is None
    with pytest.raises(UserError, match="replay_ratio"):
        make_technique("continual", {"buffer_size": 10, "replay_ratio": 0}).check(None, "classification")


def test_memory_fills_only_from_examples_the_loop_trained_on():
    """max_steps can end a task mid-epoch: unseen examples must not enter the memory."""
    from types import SimpleNamespace

    from ftstudio.techniques import make_technique

    tech = make_technique("continual", {"buffer_size": 100, "replay_ratio": 0.5})
    tech.ctx = SimpleNamespace(config=SimpleNamespace(training=SimpleNamespace(seed=0)), step=0, emit=lambda e: None)
    data = [{"input_ids": [1, 2], "label": 0, "idx": i, "task_id": 0} for i in range(10)]
    batches = iter([[data[3], data[7]], [data[1]], [data[9], data[0]]])
    it = tech.transform_batches(batches)
    next(it), next(it)  # the run stops after two batches
    tech.on_task_end(0, None, data)
    assert sorted(e["idx"] for e in tech.buffer.items) == [1, 3, 7]
    # the watch list survives a checkpoint
    tech2 = make_technique("continual", {"buffer_size": 100, "replay_ratio": 0.5})
    tech2.seen.idx = [4, 5]
    restored = make_technique("continual", {"buffer_size": 100, "replay_ratio": 0.5})
    restored.load_state_dict(tech2.state_dict())
    assert restored.seen.idx == [4, 5]
