"""Elastic Weight Consolidation (Kirkpatrick et al. 2017) for task sequences.

After each task (except the last): snapshot θ* and estimate the diagonal Fisher
F_i = E[(∂ log p(y|x) / ∂θ_i)²] from PER-SAMPLE gradients (batch size 1) — squaring a batch-mean
gradient would underestimate F by about the batch size. Later tasks add (λ/2) Σ_i F_i (θ_i − θ*_i)².
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ftstudio.engine.errors import UserError
from ftstudio.techniques.base import Technique, param, register
from ftstudio.techniques.continual import ReplayBuffer, SeenStream, buffer_event, mix_replay, run_seed
from ftstudio.i18n import _t


def log_likelihood(logits: Any, labels: Any, task: str, sample: bool, generator: Any = None) -> Any:
    """log p(y|x) of ONE example (batch of 1), summed over tokens for causal LM.

    sample=True draws y from the model's own predictive distribution (true Fisher); otherwise y is
    the gold label (empirical Fisher).
    """
    import torch

    if task == "causal-lm":
        lg, lb = logits[0, :-1], labels[0, 1:]  # position t predicts token t+1
        keep = lb != -100
        logp = torch.log_softmax(lg[keep].float(), dim=-1)  # [N, V]
        y = lb[keep]
    else:
        logp = torch.log_softmax(logits[0:1].float(), dim=-1)  # [1, C]
        y = labels[0:1]
    if sample:
        probs = logp.detach().exp().cpu()
        y = torch.multinomial(probs, 1, generator=generator).squeeze(1).to(logp.device)
    return logp.gather(1, y.view(-1, 1)).sum()


def diagonal_fisher(
    model: Any,
    batches: Iterable[dict],
    logits_fn: Callable[[Any, dict], Any],
    *,
    task: str,
    sample: bool,
    generator: Any = None,
    total: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Mean of squared per-sample gradients of log p(y|x) for every trainable parameter.

    Each batch must hold one example; the model runs in eval mode (no dropout noise in F).
    """
    import torch

    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    fisher = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in named}
    params = [p for _, p in named]
    was_training = model.training
    model.eval()
    count = 0
    try:
        for batch in batches:
            if batch["labels"].shape[0] != 1:
                raise ValueError("diagonal_fisher needs batches of exactly one example")
            ll = log_likelihood(logits_fn(model, batch), batch["labels"], task, sample, generator)
            grads = torch.autograd.grad(ll, params, allow_unused=True)
            for (n, _), g in zip(named, grads):
                if g is not None:
                    fisher[n].add_(g.detach().float().pow(2))
            count += 1
            if progress is not None:
                progress(count, total or count)
    finally:
        model.train(was_training)
    if count:
        for f in fisher.values():
            f.div_(count)
    return fisher


def ewc_penalty(model: Any, anchors: list[tuple[dict, dict]], lam: float) -> Any:
    """(λ/2) Σ_anchors Σ_i F_i (θ_i − θ*_i)²; a 0-dim tensor on the model's device."""
    import torch

    named = dict(model.named_parameters())
    total = None
    for fisher, theta in anchors:
        for n, f in fisher.items():
            p = named.get(n)
            if p is None:
                continue
            term = (f * (p.float() - theta[n]).pow(2)).sum()
            total = term if total is None else total + term
    if total is None:
        p0 = next(iter(named.values()), None)
        return torch.zeros((), device=p0.device if p0 is not None else "cpu")
    return 0.5 * lam * total


@dataclass
class EWCParams:
    ewc_lambda: float = param(
        1000.0,
        label="EWC strength (λ)",
        help="How strongly weights important for earlier tasks are held in place. Higher = less "
        "forgetting but slower learning of the new task. Watch the ewc_penalty and task_loss "
        "curves: they should end up of similar size; raise λ if old tasks are still forgotten.",
        min=0.0,
        max=1e12,
    )
    mode: str = param(
        "separate",
        label="Mode",
        help="separate: one penalty per earlier task (memory grows with the number of tasks). "
        "online: one running importance estimate and one anchor (the latest weights), constant memory.",
        choices=("separate", "online"),
    )
    gamma: float = param(
        1.0,
        label="Decay (online)",
        help="Online mode only: older importance is multiplied by this before adding the new task's. "
        "1 keeps everything; smaller values let the model gradually free up old weights.",
        min=0.0,
        max=1.0,
        step=0.05,
        advanced=True,
    )
    fisher: str = param(
        "true",
        label="Importance estimate",
        help="How weight importance (the Fisher information) is measured after each task. "
        "true = from the model's own predictions (answers sampled from what the model believes; the "
        "textbook 'true Fisher'). empirical = from the correct answers in the data (the 'empirical "
        "Fisher'; often similar).",
        choices=("true", "empirical"),
        advanced=True,
    )
    fisher_samples: int = param(
        200,
        label="Importance samples",
        help="How many training examples of each finished task are used to measure importance. Each "
        "costs one forward and backward pass; more = a steadier estimate.",
        min=1,
        max=1_000_000,
    )
    replay_buffer_size: int = param(
        0,
        label="Replay memory size",
        help="Also replay this many remembered examples of earlier tasks (experience replay, as in "
        "the Continual technique). 0 = EWC alone.",
        min=0,
        max=1_000_000,
    )
    replay_ratio: float = param(
        0.5,
        label="Replay ratio",
        help="With replay on: round(ratio × B) remembered examples are added to each batch of B new ones.",
        min=0.0,
        max=4.0,
        step=0.05,
        advanced=True,
    )


@register
class EWC(Technique):
    name = "ewc"
    default_learning_rate = 5e-5
    title = "Elastic Weight Consolidation"
    card = (
        "Trains the whole model on a sequence of tasks. After each task it measures how important "
        "every weight was and then penalises changing the important ones, so earlier tasks are "
        "forgotten less. Costs a short extra pass after each task and two extra copies of the "
        "weights per remembered task; use it when old data cannot be kept around for replay."
    )
    Params = EWCParams
    needs_task_sequence = True
    tasks = ("classification", "causal-lm")

    def __init__(self, params: EWCParams):
        super().__init__(params)
        # one (fisher, theta*) pair per past task (separate) or a single pair (online)
        self.anchors: list[tuple[dict, dict]] = []
        self.anchor_tasks: list[int] = []
        self.buffer: ReplayBuffer | None = None
        self.seen = SeenStream()

    # -- replay (optional) ---------------------------------------------------
    def _buffer(self) -> ReplayBuffer:
        if self.buffer is None:
            self.buffer = ReplayBuffer(self.params.replay_buffer_size, "reservoir", run_seed(self.ctx))
        return self.buffer

    def transform_batches(self, batches: Any) -> Any:
        if self.params.replay_buffer_size <= 0:
            return batches
        return mix_replay(self.seen.watch(batches), self._buffer(), self.params.replay_ratio)

    # -- Fisher after each task ----------------------------------------------
    def planned_task_end_pass(self, task_index: int, num_examples: int) -> dict | None:
        if self.ctx.num_tasks and task_index >= self.ctx.num_tasks - 1:
            return None  # as on_task_end: no Fisher after the last task
        n = min(self.params.fisher_samples, num_examples)
        return {"name": "Fisher", "work": n, "cost": 3.0 * n}  # a forward and a backward per example

    def on_task_end(self, task_index: int, model: Any, train_data: Any) -> None:
        import torch

        examples = list(train_data)
        if self.params.replay_buffer_size > 0:
            self._buffer().extend(self.seen.take(examples))
            buffer_event(self.ctx, self._buffer())
        ctx = self.ctx
        if ctx.num_tasks and task_index >= ctx.num_tasks - 1:
            return  # nothing trains after the last task: its Fisher would never be used
        if not examples:
            raise UserError(_t("ewc: task {value} has no training examples to measure importance on",
                               value=task_index + 1))

        seed = run_seed(ctx) * 1000 + task_index
        n = min(self.params.fisher_samples, len(examples))
        subset = random.Random(seed).sample(examples, n) if n < len(examples) else examples
        gen = torch.Generator().manual_seed(seed)
        fisher = diagonal_fisher(
            model,
            ctx.make_batches(subset, 1, False),
            lambda m, b: ctx.forward(m, b)[0].logits,
            task=ctx.task,
            sample=self.params.fisher == "true",
            generator=gen,
            total=n,
            progress=lambda done, total: ctx.progress(_t("Computing Fisher"), done, total),
        )
        theta = {k: p.detach().float().clone() for k, p in model.named_parameters() if k in fisher}
        if self.params.mode == "online" and self.anchors:
            old, _ = self.anchors[0]
            g = self.params.gamma
            fisher = {k: g * old[k] + f if k in old else f for k, f in fisher.items()}
            self.anchors, self.anchor_tasks = [(fisher, theta)], [task_index]
        elif self.params.mode == "online":
            self.anchors, self.anchor_tasks = [(fisher, theta)], [task_index]
        else:
            self.anchors.append((fisher, theta))
            self.anchor_tasks.append(task_index)
        self._emit_state(fisher)

    def _emit_state(self, fisher: dict) -> None:
        from ftstudio.engine.events import TechniqueState

        total = sum(float(f.sum()) for f in fisher.values())
        count = sum(f.numel() for f in fisher.values())
        self.ctx.emit(
            TechniqueState(
                step=self.ctx.step,
                state={
                    "ewc_anchors": list(self.anchor_tasks),
                    "fisher_mean": total / max(count, 1),
                    "fisher_max": max((float(f.max()) for f in fisher.values()), default=0.0),
                },
            )
        )

    # -- loss ------------------------------------------------------------------
    def penalty(self, model: Any) -> Any:
        return ewc_penalty(model, self.anchors, self.params.ewc_lambda)

    def compute_loss(self, model: Any, batch: dict, outputs: Any, loss: Any) -> tuple[Any, dict]:
        pen = self.penalty(model)
        return loss + pen, {"task_loss": float(loss.detach()), "ewc_penalty": float(pen.detach())}

    # -- checkpoints -------------------------------------------------------------
    def state_dict(self) -> dict:
        tensors = {}
        for k, (fisher, theta) in enumerate(self.anchors):
            for n in fisher:
                tensors[f"fisher/{k}/{n}"] = fisher[n].detach().cpu().contiguous()
                tensors[f"theta/{k}/{n}"] = theta[n].detach().cpu().contiguous()
        meta = {
            "anchor_tasks": list(self.anchor_tasks),
            "buffer": self.buffer.state_dict() if self.buffer else None,
            "seen": self.seen.idx,
        }
        return {"tensors": tensors, "meta": meta}

    def load_state_dict(self, state: dict) -> None:
        meta, tensors = state.get("meta") or {}, state.get("tensors") or {}
        device = getattr(self.ctx, "device", None) or "cpu"
        self.anchor_tasks = [int(t) for t in meta.get("anchor_tasks", [])]
        self.anchors = [({}, {}) for _ in self.anchor_tasks]
        for key, t in tensors.items():
            kind, k, n = key.split("/", 2)
            self.anchors[int(k)][0 if kind == "fisher" else 1][n] = t.to(device)
        b = meta.get("buffer")
        self.buffer = ReplayBuffer.from_state(b) if b else None
        self.seen = SeenStream(meta.get("seen"))
