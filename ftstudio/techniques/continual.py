"""Continual learning with experience replay (a memory of past tasks' examples mixed into batches).

The buffer is filled at the END of each task, from that task's training examples (each example
once, in the order the runner passes them) — so while task i trains, the memory holds tasks < i
only. Replay: each batch of B new examples gets round(replay_ratio·B) memory examples appended
(at least 1 when replay_ratio > 0), drawn uniformly without replacement from the buffer.
buffer_size 0 is naive sequential fine-tuning, the baseline replay is judged against.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from ftstudio.engine.errors import UserError
from ftstudio.techniques.base import Technique, param, register
from ftstudio.i18n import _t

SAMPLING = ("reservoir", "balanced")


def _rng_state_to_json(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _rng_state_from_json(state: list) -> tuple:
    version, internal, gauss = state
    return (version, tuple(internal), gauss)


def _plain(example: dict) -> dict:
    """A JSON-able copy of an example (tensors → lists) so it can go into a checkpoint."""
    out = {}
    for k, v in example.items():
        out[k] = v.tolist() if hasattr(v, "tolist") and not isinstance(v, (int, float)) else v
    return out


class ReplayBuffer:
    """A bounded memory of examples.

    * ``reservoir``: Vitter's algorithm R over the whole stream — item n is kept if n ≤ M, else it
      replaces slot j ~ U{1..n} when j ≤ M; every item seen so far is in memory with prob. M/n.
    * ``balanced``: class-balanced reservoir (Chrysakis & Moens 2020) over task ids — when full, a new
      example of an under-represented task evicts a random example of the largest task; otherwise
      it does reservoir sampling within its own task. Tasks end up equal (±1) when each has enough
      examples.
    """

    def __init__(self, capacity: int, sampling: str = "reservoir", seed: int = 0):
        if sampling not in SAMPLING:
            raise UserError(_t("replay sampling must be one of {sampling}; got '{sampling2}'",
                               sampling=', '.join(SAMPLING), sampling2=sampling))
        self.capacity = int(capacity)
        self.sampling = sampling
        self.items: list[dict] = []
        self.seen = 0  # stream length so far
        self.seen_per_task: dict[int, int] = {}
        self.rng = random.Random(seed)  # insertion decisions
        self.draw_rng = random.Random(seed + 1)  # replay draws (separate: draws don't shift fills)

    def __len__(self) -> int:
        return len(self.items)

    def add(self, example: dict) -> None:
        self.seen += 1
        t = int(example.get("task_id", 0))
        self.seen_per_task[t] = self.seen_per_task.get(t, 0) + 1
        if self.capacity <= 0:
            return
        ex = _plain(example)
        if len(self.items) < self.capacity:
            self.items.append(ex)
        elif self.sampling == "reservoir":
            j = self.rng.randint(1, self.seen)
            if j <= self.capacity:
                self.items[j - 1] = ex
        else:
            self._add_balanced(ex, t)

    def _add_balanced(self, ex: dict, t: int) -> None:
        counts = self.task_counts()
        largest = max(counts.values())
        if counts.get(t, 0) < largest:
            # t is not (one of) the largest: take a slot from the largest task (lowest id on ties)
            victim_task = min(k for k, c in counts.items() if c == largest)
            slots = [i for i, e in enumerate(self.items) if int(e.get("task_id", 0)) == victim_task]
            self.items[self.rng.choice(slots)] = ex
        else:
            # reservoir within task t: its n_t-th example replaces one of its m_t slots w.p. m_t/n_t
            slots = [i for i, e in enumerate(self.items) if int(e.get("task_id", 0)) == t]
            j = self.rng.randint(1, self.seen_per_task[t])
            if j <= len(slots):
                self.items[slots[j - 1]] = ex

    def extend(self, examples: Iterable[dict]) -> None:
        for ex in examples:
            self.add(ex)

    def task_counts(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for e in self.items:
            t = int(e.get("task_id", 0))
            counts[t] = counts.get(t, 0) + 1
        return counts

    def sample(self, k: int) -> list[dict]:
        """k examples drawn uniformly without replacement (all of them if k ≥ len)."""
        k = min(k, len(self.items))
        if k <= 0:
            return []
        return [dict(e) for e in self.draw_rng.sample(self.items, k)]

    def state_dict(self) -> dict:
        return {
            "capacity": self.capacity,
            "sampling": self.sampling,
            "items": [dict(e) for e in self.items],
            "seen": self.seen,
            "seen_per_task": {str(k): v for k, v in self.seen_per_task.items()},
            "rng": _rng_state_to_json(self.rng.getstate()),
            "draw_rng": _rng_state_to_json(self.draw_rng.getstate()),
        }

    def load_state_dict(self, state: dict) -> None:
        self.capacity = int(state["capacity"])
        self.sampling = state["sampling"]
        self.items = [dict(e) for e in state["items"]]
        self.seen = int(state["seen"])
        self.seen_per_task = {int(k): int(v) for k, v in state["seen_per_task"].items()}
        self.rng.setstate(_rng_state_from_json(state["rng"]))
        self.draw_rng.setstate(_rng_state_from_json(state["draw_rng"]))

    @classmethod
    def from_state(cls, state: dict) -> "ReplayBuffer":
        buf = cls(state["capacity"], state["sampling"])
        buf.load_state_dict(state)
        return buf


def replay_count(batch_size: int, ratio: float) -> int:
    """Memory examples added to a batch of ``batch_size`` new ones: round(ratio·B), ≥1 if ratio > 0."""
    if ratio <= 0 or batch_size <= 0:
        return 0
    return max(1, round(ratio * batch_size))


def mix_replay(batches: Iterable[list[dict]], buffer: ReplayBuffer | None, ratio: float) -> Iterator[list[dict]]:
    """Append replayed memory examples to each list of new examples (before collation)."""
    for examples in batches:
        if buffer is not None and len(buffer) and ratio > 0:
            examples = list(examples) + buffer.sample(replay_count(len(examples), ratio))
        yield examples


class SeenStream:
    """The new examples the loop actually trained on, in the order it met them.

    The memory fills from this stream, not from the whole task set: a run stopped by max_steps
    before the end of an epoch must not remember examples it never saw."""

    def __init__(self, idx: list[int] | None = None) -> None:
        self.idx: list[int] = list(idx or [])

    def watch(self, batches: Iterable[list[dict]]) -> Iterator[list[dict]]:
        for examples in batches:
            self.idx.extend(int(e["idx"]) for e in examples)
            yield examples

    def take(self, train_data: Iterable[dict]) -> list[dict]:
        """Seen examples of this task in first-seen order (all of them if nothing was watched)."""
        data = list(train_data)
        order = list(dict.fromkeys(self.idx))  # a batch fetched twice (stop + resume) counts once
        self.idx = []
        if not order:
            return data
        by_idx = {int(e["idx"]): e for e in data}
        return [by_idx[i] for i in order if i in by_idx]


def run_seed(ctx: Any) -> int:
    try:
        return int(ctx.config.training.seed)
    except AttributeError:
        return 0


def buffer_event(ctx: Any, buffer: ReplayBuffer) -> None:
    """Tell the views what the memory holds (per-task counts)."""
    if ctx is None:
        return
    from ftstudio.engine.events import TechniqueState

    ctx.emit(
        TechniqueState(
            step=ctx.step,
            state={
                "replay_buffer": len(buffer),
                "replay_capacity": buffer.capacity,
                "replay_per_task": {str(k): v for k, v in sorted(buffer.task_counts().items())},
                "examples_seen": buffer.seen,
            },
        )
    )


@dataclass
class ContinualParams:
    buffer_size: int = param(
        500,
        label="Memory size",
        help="How many past examples to keep for replay (across all tasks). 0 turns replay off: "
        "plain sequential fine-tuning, the baseline that shows how much is forgotten. "
        "About 1% of the examples seen already reduces forgetting a lot.",
        min=0,
        max=1_000_000,
    )
    replay_ratio: float = param(
        0.5,
        label="Replay ratio",
        help="How many remembered examples join each batch: with ratio r, round(r × B) examples from "
        "memory are added to every batch of B new examples (at least 1 when r > 0). "
        "0.5 with batch size 32 trains on 32 new + 16 remembered examples per step.",
        min=0.0,
        max=4.0,
        step=0.05,
    )
    sampling: str = param(
        "reservoir",
        label="Memory sampling",
        help="Which examples the memory keeps. reservoir: a uniform random sample of everything seen "
        "(larger tasks get more slots). balanced: the same number of slots per task.",
        choices=SAMPLING,
    )


@register
class Continual(Technique):
    name = "continual"
    default_learning_rate = 5e-5
    title = "Continual learning (replay)"
    card = (
        "Trains the whole model on a sequence of tasks, one after another. A small memory of "
        "earlier tasks' examples is mixed into every batch, so the model keeps rehearsing what it "
        "learned before instead of forgetting it. Costs the memory plus the extra replayed examples "
        "per step; use it when one model must learn tasks that arrive over time."
    )
    Params = ContinualParams
    needs_task_sequence = True
    tasks = ("classification", "causal-lm")

    def __init__(self, params: ContinualParams):
        super().__init__(params)
        self.buffer: ReplayBuffer | None = None
        self.seen = SeenStream()

    def check(self, model_info: Any, task: str) -> None:
        super().check(model_info, task)
        if self.params.buffer_size > 0 and self.params.replay_ratio == 0:
            raise UserError(
                _t("continual: replay_ratio is 0, so the memory would never be used; "
                "raise replay_ratio or set buffer_size 0 for plain sequential fine-tuning")
            )

    def _buffer(self) -> ReplayBuffer:
        if self.buffer is None:
            self.buffer = ReplayBuffer(self.params.buffer_size, self.params.sampling, run_seed(self.ctx))
        return self.buffer

    def transform_batches(self, batches: Any) -> Any:
        if self.params.buffer_size <= 0:
            return batches
        return mix_replay(self.seen.watch(batches), self._buffer(), self.params.replay_ratio)

    def on_task_end(self, task_index: int, model: Any, train_data: Any) -> None:
        if self.params.buffer_size <= 0:
            return
        buf = self._buffer()
        buf.extend(self.seen.take(train_data))
        buffer_event(self.ctx, buf)

    def state_dict(self) -> dict:
        return {"tensors": {}, "meta": {"buffer": self.buffer.state_dict() if self.buffer else None,
                                        "seen": self.seen.idx}}

    def load_state_dict(self, state: dict) -> None:
        meta = state.get("meta") or {}
        b = meta.get("buffer")
        self.buffer = ReplayBuffer.from_state(b) if b else None
        self.seen = SeenStream(meta.get("seen"))
