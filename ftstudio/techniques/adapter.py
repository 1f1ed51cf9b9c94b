"""Bottleneck adapters (Houlsby et al. 2019; Pfeiffer et al. 2020), written in the project.

Each adapter computes h + W_up(act(W_down h)) on the output of a sublayer's output projection,
before the block's residual add. It is attached to that projection as a child module named
``adapter`` and applied by a forward hook, so the base model's parameter names stay unchanged
(base checkpoints still load) and GPT-2's Conv1D needs no special case.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftstudio.engine import arch
from ftstudio.engine.errors import UserError
from ftstudio.techniques.base import Technique, param, register
from ftstudio.i18n import _t

SUPPORTED = ("bert", "gpt2", "llama")
CONFIG_FILE = "bottleneck_adapter.json"
WEIGHTS_FILE = "bottleneck_adapter.safetensors"
DEFAULT_ACT = {"houlsby": "swish", "pfeiffer": "relu"}


normalize_family = arch.normalize_family


@dataclass
class Params:
    variant: str = param(
        "houlsby",
        label="Variant",
        help="Houlsby puts an adapter after both the attention and the feed-forward sublayer of every "
        "layer; Pfeiffer only after the feed-forward one (half the parameters, usually as good).",
        choices=("houlsby", "pfeiffer"),
    )
    reduction_factor: int = param(
        16,
        label="Reduction factor",
        help="How much the adapter squeezes the hidden size: bottleneck = hidden size ÷ this. "
        "Smaller means a bigger adapter (more capacity, more parameters). 16 is the usual choice.",
        min=1,
        max=1024,
    )
    non_linearity: str = param(
        "auto",
        label="Activation",
        help="The function inside the bottleneck. 'auto' uses swish for Houlsby and relu for Pfeiffer, "
        "as in the original papers.",
        choices=("auto", "relu", "swish", "gelu"),
    )
    train_layer_norms: bool = param(
        False,
        label="Also train layer norms",
        help="Also train the model's LayerNorm scales and shifts, as Houlsby et al. did. Adds few "
        "parameters; sometimes helps a little.",
        advanced=True,
    )


def _activation(name: str) -> Any:
    import torch.nn as nn

    return {"relu": nn.ReLU, "swish": nn.SiLU, "gelu": nn.GELU}[name]()


def _bottleneck_class() -> type:
    """Built on first use (torch imports lazily) and published as a module global so pickling works."""
    global Bottleneck
    if "Bottleneck" in globals():
        return Bottleneck
    import torch.nn as nn

    class _Bottleneck(nn.Module):
        """down → act → up; W_up and its bias start at zero so the adapter starts as the identity."""

        def __init__(self, hidden: int, bottleneck: int, act: str) -> None:
            super().__init__()
            self.down = nn.Linear(hidden, bottleneck)
            self.act = _activation(act)
            self.up = nn.Linear(bottleneck, hidden)
            nn.init.zeros_(self.up.weight)
            nn.init.zeros_(self.up.bias)

        def forward(self, h: Any) -> Any:
            # Adapter weights stay fp32 even on a half-precision base (like PEFT's LoRA).
            delta = self.up(self.act(self.down(h.to(self.down.weight.dtype))))
            return h + delta.to(h.dtype)

    _Bottleneck.__name__ = _Bottleneck.__qualname__ = "Bottleneck"
    Bottleneck = _Bottleneck
    return Bottleneck


def _adapter_hook(module: Any, args: Any, output: Any) -> Any:
    # Module-level (no closure) so deepcopy / pickling of the model keeps working.
    return module.adapter(output)


def _output_projections(model: Any, variant: str) -> list[Any]:
    fam = arch.family(model)
    if fam not in SUPPORTED:
        raise UserError(_t("adapters support BERT-like, GPT-2 and Llama-like models, not '{fam}'",
                           fam=fam))
    mods = []
    for layer in arch.layer_list(model):
        if variant == "houlsby":
            mods.append(arch.attention_output_dense(layer, fam))
        mods.append(arch.ffn_output_dense(layer, fam))
    return mods


def _out_features(mod: Any) -> int:
    if hasattr(mod, "out_features"):  # nn.Linear
        return int(mod.out_features)
    return int(mod.weight.shape[1])  # GPT-2 Conv1D stores (in, out)


def add_adapters(model: Any, cfg: dict) -> None:
    """Attach a zero-initialised adapter to every selected output projection (in place)."""
    for mod in _output_projections(model, cfg["variant"]):
        if hasattr(mod, "adapter"):
            raise UserError(_t("this model already has adapters attached"))
        hidden = _out_features(mod)
        bottleneck = max(1, hidden // cfg["reduction_factor"])
        ad = _bottleneck_class()(hidden, bottleneck, cfg["non_linearity"]).to(device=mod.weight.device)
        mod.add_module("adapter", ad)
        mod.register_forward_hook(_adapter_hook)


def _is_norm(module: Any) -> bool:
    return "norm" in type(module).__name__.lower()


@register
class Adapter(Technique):
    name = "adapter"
    default_learning_rate = 3e-3
    title = "Adapters (bottleneck)"
    card = (
        "Adds small bottleneck layers inside every transformer layer and trains only them plus the "
        "task head; the original model stays frozen. About 1–4% of the parameters train, memory and "
        "the saved file are small, and quality is usually close to full fine-tuning. Use a high "
        "learning rate (the app sets 3e-3; 1e-4 to 3e-3 works)."
    )
    Params = Params
    tasks = ("classification", "causal-lm")
    export_kinds = ("adapter",)
    rebuilds_plain_model = False

    def config(self) -> dict:
        p = self.params
        act = DEFAULT_ACT[p.variant] if p.non_linearity == "auto" else p.non_linearity
        return {
            "variant": p.variant,
            "reduction_factor": p.reduction_factor,
            "non_linearity": act,
            "train_layer_norms": p.train_layer_norms,
        }

    def check(self, model_info: Any, task: str) -> None:
        super().check(model_info, task)
        fam = normalize_family(getattr(model_info, "family", None))
        if fam not in SUPPORTED:
            raise UserError(
                _t("adapters need a BERT-like, GPT-2 or Llama-like model; '{value}' is not supported",
                   value=fam or 'unknown')
            )

    def prepare_model(self, model: Any, ctx: Any) -> Any:
        self.ctx = ctx
        task = getattr(ctx, "task", "classification")
        for p in model.parameters():
            p.requires_grad_(False)
        add_adapters(model, self.config())
        for n, p in model.named_parameters():
            if ".adapter." in n:
                p.requires_grad_(True)
        if task == "classification":  # causal-lm: the pretrained lm_head stays frozen
            head = arch.head_param_names(model)
            for n, p in model.named_parameters():
                if n in head:
                    p.requires_grad_(True)
        if self.params.train_layer_norms:
            for m in arch.backbone(model).modules():
                if _is_norm(m):
                    for p in m.parameters(recurse=False):
                        p.requires_grad_(True)
        n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
        n_all = sum(p.numel() for p in model.parameters())
        if ctx is not None:
            ctx.log(_t("adapters: {n_train:,} of {n_all:,} parameters train ({value:.2f}%)",
                       n_train=n_train, n_all=n_all, value=100 * n_train / n_all))
        return model

    def export(self, model: Any, out_dir: str, tokenizer: Any, kind: str = "adapter") -> list[str]:
        """Trainable tensors (adapters, head, norms if trained) as safetensors + a JSON config."""
        from safetensors.torch import save_file

        if kind not in ("adapter", "model"):
            raise UserError(_t("adapters export as 'adapter' only, not '{kind}'", kind=kind))
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        m = arch.unwrap(model)
        tensors = {n: p.detach().cpu().contiguous() for n, p in m.named_parameters() if p.requires_grad}
        save_file(tensors, str(out / WEIGHTS_FILE))
        cfg = {**self.config(), "family": arch.family(m), "keys": sorted(tensors)}
        (out / CONFIG_FILE).write_text(json.dumps(cfg, indent=2), encoding="utf-8")
        paths = [str(out / WEIGHTS_FILE), str(out / CONFIG_FILE)]
        if tokenizer is not None:
            tokenizer.save_pretrained(out)
        return paths

    def load_for_inference(self, base_model: Any, export_dir: str) -> Any:
        """Attach adapters to a fresh base model (same head shape) and load the exported tensors."""
        from safetensors.torch import load_file

        d = Path(export_dir)
        cfg = json.loads((d / CONFIG_FILE).read_text(encoding="utf-8"))
        add_adapters(base_model, cfg)
        device = next(base_model.parameters()).device
        tensors = load_file(str(d / WEIGHTS_FILE), device=str(device))
        missing = set(tensors) - {n for n, _ in base_model.named_parameters()}
        if missing:
            raise UserError(_t("the adapter export does not match this base model (e.g. {missing})",
                               missing=sorted(missing)[0]))
        base_model.load_state_dict(tensors, strict=False)
        base_model.eval()
        return base_model
