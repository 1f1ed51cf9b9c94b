"""RunContext: what a technique's hooks may see of the run in progress."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ftstudio.engine.events import Event, EventBus, Log, Progress

# Keys of a batch that are bookkeeping (or raw text), not model inputs: the loop drops them before forward.
META_KEYS = ("idx", "task_id", "length", "text", "text_pair")  # ftstudio_pack IS a model input


def model_inputs(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if k not in META_KEYS}


@dataclass
class RunContext:
    config: Any  # RunConfig
    device: Any  # torch.device
    tokenizer: Any
    model_info: Any  # models.ModelInfo
    task: str  # classification | causal-lm
    bus: EventBus = field(default_factory=EventBus)
    run_dir: Path | None = None
    label_names: list[str] | None = None  # the current task's labels
    step: int = 0  # global optimizer step
    total_steps: int = 0
    epoch: float = 0.0
    task_index: int = 0
    num_tasks: int = 1
    task_names: list[str] = field(default_factory=list)
    rank: int = 0
    world_size: int = 1
    # Callables the runner fills in so techniques reuse the loop's own machinery:
    #   make_batches(examples, batch_size, shuffle) -> iterable of batch dicts on ctx.device
    #   forward(model, batch) -> (outputs, loss)  (autocast and label handling included)
    make_batches: Callable[..., Any] | None = None
    forward: Callable[..., Any] | None = None
    autocast: Callable[[], Any] | None = None
    #   collate(examples, pad_id, device) -> a training batch (padded, or packed: engine/packing.py)
    collate: Callable[..., Any] | None = None

    def emit(self, event: Event) -> None:
        self.bus.emit(event)

    def log(self, message: str, level: str = "info") -> None:
        self.bus.emit(Log(message=message, level=level))

    def progress(self, what: str, done: int, total: int) -> None:
        self.bus.emit(Progress(what=what, done=done, total=total))
