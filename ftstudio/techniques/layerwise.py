"""Layer-wise fine-tuning: ULMFiT gradual unfreezing + discriminative (layer-wise decayed) rates.

Groups, top to bottom: "head", "layer L-1", ..., "layer 0", "embeddings". Group at depth d
(head 0, layer l → L−l, embeddings L+1) learns at lr·ξ^d. With gradual unfreezing, stage s
trains the top s+1 groups; one more group unfreezes every epoch or every N optimizer steps.

Every group is handed to the optimizer up front, frozen or not: AdamW skips params whose grad
is None (the loop zeroes with set_to_none=True), so frozen layers stay bitwise unchanged and
are picked up the moment they are unfrozen.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ftstudio.engine import arch
from ftstudio.engine.errors import UserError
from ftstudio.engine.events import TechniqueState
from ftstudio.techniques.base import Technique, param, register
from ftstudio.i18n import _t

SUPPORTED = ("bert", "gpt2", "llama")


@dataclass
class Params:
    gradual_unfreezing: bool = param(
        True,
        label="Gradual unfreezing",
        help="Start by training only the task head, then unfreeze one more layer from the top at a "
        "time (embeddings last). Off: every layer trains from the start, only the per-layer rates differ.",
    )
    unfreeze_every: str = param(
        "spread",
        label="Unfreeze every",
        help="When to unfreeze the next layer: 'spread' spaces the unfreezing evenly over the run "
        "(every total steps ÷ number of layer groups, so the embeddings join for the last stretch); "
        "'epoch' after each epoch (as ULMFiT — the 2018 method that introduced gradual unfreezing — did; "
        "needs at least as many epochs as layers); 'steps' after a "
        "fixed number of steps.",
        choices=("spread", "epoch", "steps"),
    )
    unfreeze_steps: int = param(
        100,
        label="Steps per unfreeze",
        help="With 'Unfreeze every' = steps: how many optimizer steps before the next layer unfreezes.",
        min=1,
        max=1_000_000,
    )
    decay: float = param(
        0.95,
        label="Learning-rate decay per layer",
        help="Each layer further down learns at this fraction of the rate of the layer above (the "
        "papers call it ξ); the head gets the full rate. 0.95 is the usual choice for BERT-style models; "
        "0.385 (= 1/2.6) is ULMFiT's much steeper one; 1.0 gives every layer the same rate.",
        min=0.01,
        max=1.0,
        step=0.05,
    )


normalize_family = arch.normalize_family


def layer_groups(model: Any) -> list[tuple[str, int, list[tuple[str, Any]]]]:
    """[(group name, depth, [(param name, param)])], top to bottom; every parameter in exactly one
    group. Empty groups are dropped (a causal LM whose lm_head is tied to the embeddings has no
    separate head), keeping the depths so the rates do not shift."""
    layers = list(arch.layer_list(model))
    owner: dict[int, str] = {}
    for i, layer in enumerate(layers):
        for p in layer.parameters():
            owner[id(p)] = f"layer {i}"
    for mod in arch.embedding_modules(model):
        for p in mod.parameters():
            owner.setdefault(id(p), "embeddings")
    head = arch.head_param_names(model)
    top = f"layer {len(layers) - 1}"
    names = ["head"] + [f"layer {i}" for i in reversed(range(len(layers)))] + ["embeddings"]
    groups: dict[str, list[tuple[str, Any]]] = {n: [] for n in names}
    for n, p in model.named_parameters():
        if n in head:
            groups["head"].append((n, p))
        else:
            # Pooler, final norm (ln_f / norm) and anything unknown sit above the top block.
            groups[owner.get(id(p), top)].append((n, p))
    return [(n, depth, groups[n]) for depth, n in enumerate(names) if groups[n]]


@register
class Layerwise(Technique):
    name = "layerwise"
    default_learning_rate = 1e-4
    title = "Layer-wise (gradual unfreezing)"
    card = (
        "Trains the whole model, but starts with only the task head and unfreezes one more layer from "
        "the top at evenly spaced points of the run (or every epoch / every N steps), embeddings "
        "last; lower layers learn at smaller rates. "
        "Once everything is unfrozen it costs as much memory as full fine-tuning. Use it on small data "
        "sets, where it protects what the model already knows."
    )
    Params = Params
    tasks = ("classification", "causal-lm")

    def __init__(self, params: Any):
        super().__init__(params)
        self.stage = 0  # how many groups below the head are unfrozen (resumable)
        self._epochs_done = 0
        self._groups: list[tuple[str, int, list[tuple[str, Any]]]] = []
        self._lrs: dict[str, float] = {}
        self._applied: int | None = None  # stage currently reflected in requires_grad
        self._emitted: int | None = None

    # -- setup --------------------------------------------------------------
    def check(self, model_info: Any, task: str) -> None:
        super().check(model_info, task)
        fam = normalize_family(getattr(model_info, "family", None))
        if fam not in SUPPORTED:
            raise UserError(
                _t("layer-wise fine-tuning needs a BERT-like, GPT-2 or Llama-like model; '{value}' is not "
                   "supported",
                   value=fam or 'unknown')
            )

    @property
    def trainable_set_changes(self) -> bool:
        return bool(self.params.gradual_unfreezing)

    @property
    def num_groups(self) -> int:
        return len(self._groups)

    def prepare_model(self, model: Any, ctx: Any) -> Any:
        self.ctx = ctx
        self._groups = layer_groups(model)
        self._apply(force=True)
        return model

    def param_groups(self, model: Any, lr: float, weight_decay: float) -> list[dict]:
        """Every group, frozen or not, with its discriminative rate (decay / no-decay split)."""
        from ftstudio.engine.optim import NO_DECAY_KEYS

        if not self._groups:
            self._groups = layer_groups(model)
        out = []
        for name, depth, params in self._groups:
            group_lr = lr * self.params.decay**depth
            self._lrs[name] = group_lr
            decay = [p for n, p in params if not (any(k in n for k in NO_DECAY_KEYS) or p.ndim < 2)]
            no_decay = [p for n, p in params if any(k in n for k in NO_DECAY_KEYS) or p.ndim < 2]
            if decay:
                out.append({"name": name, "params": decay, "lr": group_lr, "weight_decay": weight_decay})
            if no_decay:
                out.append({"name": f"{name}/no_decay", "params": no_decay, "lr": group_lr, "weight_decay": 0.0})
        return out

    # -- schedule -----------------------------------------------------------
    def trainable_groups(self) -> list[str]:
        n = self.num_groups if not self.params.gradual_unfreezing else min(self.num_groups, self.stage + 1)
        return [name for name, _, _ in self._groups[:n]]

    def _apply(self, force: bool = False) -> None:
        """Set requires_grad for the current stage (only when it changed, unless forced)."""
        if not force and self._applied == self.stage:
            return
        on = set(self.trainable_groups())
        for name, _, params in self._groups:
            for _, p in params:
                p.requires_grad_(name in on)
        self._applied = self.stage

    def _emit(self, step: int) -> None:
        if self.ctx is None or self._emitted == self.stage:
            return
        self._emitted = self.stage
        self.ctx.emit(TechniqueState(step=step, state={
            "trainable_groups": self.trainable_groups(),
            "lr_per_group": {name: self._lrs.get(name) for name, _, _ in self._groups},
            "stage": self.stage,
        }))

    def _log_reach(self) -> None:
        """Tell the user when the run is too short to unfreeze everything."""
        if not self.params.gradual_unfreezing or self.ctx is None:
            return
        if self.params.unfreeze_every == "spread":
            return  # spaced to reach every group by construction
        if self.params.unfreeze_every == "steps":
            total = getattr(self.ctx, "total_steps", 0) or 0
            reach = (total - 1) // self.params.unfreeze_steps if total else None
        else:
            epochs = getattr(getattr(getattr(self.ctx, "config", None), "training", None), "epochs", None)
            reach = math.ceil(epochs) - 1 if epochs else None
        if reach is not None and reach + 1 < self.num_groups:
            self.ctx.log(
                _t("layer-wise: this run unfreezes only {value} of {num_groups} groups (from the top down "
                   "to {groups}); train longer or unfreeze more often to reach the embeddings",
                   value=reach + 1, num_groups=self.num_groups, groups=self._groups[min(reach, self.num_groups - 1)][0])
            )

    def _advance(self, target: int, step: int) -> None:
        self.stage = max(self.stage, min(target, self.num_groups - 1))
        self._apply()
        self._emit(step)

    def on_train_start(self, model: Any, optimizer: Any) -> None:
        self._log_reach()
        self._apply()
        self._emit(getattr(self.ctx, "step", 0))

    def _interval(self) -> int | None:
        if self.params.unfreeze_every == "steps":
            return self.params.unfreeze_steps
        if self.params.unfreeze_every == "spread":
            total = getattr(self.ctx, "total_steps", 0) or 0
            return max(1, total // max(1, self.num_groups))
        return None

    def on_step_start(self, step: int, model: Any, optimizer: Any) -> None:
        interval = self._interval()
        self._advance(step // interval if interval else self.stage, step)

    def on_epoch_end(self, epoch: int, model: Any, optimizer: Any) -> None:
        self._epochs_done += 1
        if self.params.unfreeze_every == "epoch":
            self._advance(self._epochs_done, getattr(self.ctx, "step", 0))

    # -- persistence --------------------------------------------------------
    def load_for_inference(self, base_model: Any, export_dir: str) -> Any:
        """The export is a whole model folder (base export): load it as the base model's class."""
        from ftstudio.engine.models import load_full_export

        return load_full_export(base_model, export_dir).eval()

    def state_dict(self) -> dict:
        return {"stage": self.stage, "epochs_done": self._epochs_done}

    def load_state_dict(self, state: dict) -> None:
        self.stage = int(state.get("stage", 0))
        self._epochs_done = int(state.get("epochs_done", 0))
        if self._groups:
            self._apply()
