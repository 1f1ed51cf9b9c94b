"""Typed events the engine emits. Subscribers (CLI progress bar, GUI worker, run store) get
each event synchronously on the training thread; the GUI re-emits them through queued
signals, so subscribers must be quick and must not raise into the loop.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Event:
    kind = "event"
    time: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["event"] = self.kind
        return d


@dataclass
class RunStarted(Event):
    kind = "run_started"
    run_dir: str
    config: dict
    trainable_params: int
    total_params: int
    device: str
    precision: str
    total_steps: int
    resumed_from_step: int = 0


@dataclass
class Step(Event):
    kind = "step"
    step: int
    total_steps: int
    epoch: float
    loss: float
    lr: dict[str, float]  # parameter-group name -> learning rate
    grad_norm: float
    samples_per_second: float
    tokens_per_second: float
    memory: dict[str, float]  # cuda_allocated/cuda_reserved or rss, bytes
    elapsed: float
    eta: float
    extra: dict[str, float] = field(default_factory=dict)  # technique series, e.g. penalty
    task: int = 0


@dataclass
class Eval(Event):
    kind = "eval"
    step: int
    metrics: dict[str, float]
    task: int = 0


@dataclass
class Progress(Event):
    """A long operation that is not a training step: tokenizing, converting, Fisher, evaluating."""

    kind = "progress"
    what: str
    done: int
    total: int


@dataclass
class Plan(Event):
    """The passes this session of the run will make, in order, announced once the run is open
    (loading and tokenizing are behind it by then). Each phase is a dict: ``name`` (training,
    evaluating, Fisher, exporting), ``task``, ``work`` (in the units its own progress counts:
    optimizer steps for training, batches for an evaluation, examples for EWC's Fisher) and
    ``cost``, its computation in example passes (one example's forward pass = 1, a training
    example ≈ 3), so that a pass not started yet is timed from those measured (engine.plan)."""

    kind = "plan"
    phases: list[dict]


@dataclass
class Phase(Event):
    """Pass ``index`` of the Plan begins."""

    kind = "phase"
    index: int
    name: str
    task: int = 0


@dataclass
class Checkpoint(Event):
    kind = "checkpoint"
    step: int
    path: str


@dataclass
class Log(Event):
    kind = "log"
    message: str
    level: str = "info"


@dataclass
class TechniqueState(Event):
    """Technique-specific state for views: trainable layers, lr per layer, etc."""

    kind = "technique_state"
    step: int
    state: dict[str, Any]


@dataclass
class TaskFinished(Event):
    """One task of a sequence is done; the accuracy matrix so far (rows: after task i)."""

    kind = "task_finished"
    task: int
    task_name: str
    acc_matrix: list[list[float | None]]  # the matrix, of matrix_metric (eval_loss for text generation)
    metrics: dict[str, Any]
    matrix_metric: str = "accuracy"


@dataclass
class Finished(Event):
    kind = "finished"
    status: str  # finished | failed | cancelled
    summary: dict
    message: str = ""


Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Subscriber] = []

    def subscribe(self, fn: Subscriber) -> None:
        self._subs.append(fn)

    def emit(self, event: Event) -> None:
        for fn in list(self._subs):
            try:
                fn(event)
            except Exception:  # a broken view must never kill a run
                import logging

                logging.getLogger("ftstudio").exception("event subscriber failed")
