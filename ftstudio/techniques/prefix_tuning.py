"""Prefix tuning (Li & Liang 2021; P-Tuning v2): trainable key/value prefixes in EVERY layer.

Each layer's attention sees K' = [P_k; K] and V' = [P_v; V]; the attention mask is extended by
the prefix length so every real token may attend to the prefix. Three paths:

* causal-lm on GPT-2/Llama: ``peft.PrefixTuningConfig`` (works under transformers 5; export is
  PEFT's ``save_pretrained``).
* classification on BERT-family encoders: PEFT refuses them under transformers 5 (BERT's
  ``past_key_values`` argument became ``cache``), so we hook each layer's self-attention: the hook
  hands it a tiny cache object whose ``update`` prepends the prefix, and pads the 4-D mask.
* classification on GPT-2/Llama: PEFT's SEQ_CLS path fails the same way; we pass the prefixes as
  a pre-filled ``DynamicCache`` (what PEFT does for causal LMs) and extend the 2-D mask.

The two own paths export the computed prefixes (MLP reparameterisation dropped) + the head as
safetensors with a JSON config. Incompatible with gradient checkpointing (the layers then run
without a cache, so the prefix would silently vanish).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import UserError
from ftstudio.techniques.base import Technique, param, register
from ftstudio.i18n import _t

SUPPORTED_FAMILIES = ("bert", "gpt2", "llama")
CONFIG_FILE = "prefix_config.json"
WEIGHTS_FILE = "prefix.safetensors"
MODULE_NAME = "ftstudio_prefix"  # where our prefix encoder hangs on the HF model


@dataclass
class Params:
    num_virtual_tokens: int = param(
        20, label="Prefix length", min=1, max=256,
        help="How many trainable key/value vectors are put in front of the attention of every layer. "
             "10-20 is typical for classification; longer prefixes help harder generation tasks.",
    )
    prefix_projection: bool = param(
        False, label="Train through an MLP",
        help="Reparameterise the prefixes through a small two-layer network while training, which "
             "often makes training more stable. The network is dropped at export: only the computed "
             "prefixes are saved.",
    )
    projection_hidden: int = param(
        512, label="MLP width", min=8, max=8192,
        help="Hidden size of that network (only used when 'Train through an MLP' is on). "
             "Costs memory during training only.",
    )
    prefix_lr: float = param(
        3e-2, label="Prefix learning rate", min=1e-5, max=1.0,
        help="Learning rate of the prefixes (the Training page's learning rate does not apply to "
             "them). Prefix tuning needs a much higher rate than full "
             "fine-tuning; 5e-3 to 5e-2 is typical with AdamW (use about 1e-3 to 1e-4 with the MLP).",
    )
    head_lr: float | None = param(
        1e-3, label="Head learning rate", min=1e-6, max=1.0,
        help="Learning rate of the classification head (trained together with the prefixes). "
             "Empty = the Training page's learning rate. Not used for text generation.",
    )


@lru_cache(maxsize=None)
def _classes() -> tuple[type, type]:
    """nn.Module classes, built on first use (no torch import at module level)."""
    import torch
    from torch import nn

    class PrefixEncoder(nn.Module):
        """Produces per-layer key/value prefixes of shape [layers, 2, kv_heads, P, head_dim]."""

        def __init__(self, layers: int, kv_heads: int, head_dim: int, num_virtual: int,
                     hidden: int, projection: bool, projection_hidden: int):
            super().__init__()
            self.shape = (num_virtual, layers, 2, kv_heads, head_dim)
            out = layers * 2 * kv_heads * head_dim
            if projection:  # P-Tuning v2 / PEFT reparameterisation
                self.embedding = nn.Embedding(num_virtual, hidden)
                self.mlp = nn.Sequential(nn.Linear(hidden, projection_hidden), nn.Tanh(),
                                         nn.Linear(projection_hidden, out))
            else:  # N(0, 1) like PEFT's nn.Embedding init
                self.prefix = nn.Parameter(torch.randn(num_virtual, out))

        def forward(self) -> torch.Tensor:
            flat = self.mlp(self.embedding.weight) if hasattr(self, "mlp") else self.prefix
            return flat.view(self.shape).permute(1, 2, 3, 0, 4)

    class PrefixCache:
        """Duck-typed cache for one encoder self-attention call: ``update`` prepends the prefix."""

        def __init__(self, key: torch.Tensor, value: torch.Tensor):
            self.key, self.value, self.used = key, value, False

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any):
            self.used = True
            k = self.key.to(key_states.dtype).expand(key_states.shape[0], -1, -1, -1)
            v = self.value.to(value_states.dtype).expand(value_states.shape[0], -1, -1, -1)
            return torch.cat([k, key_states], dim=2), torch.cat([v, value_states], dim=2)

    return PrefixEncoder, PrefixCache


def _extend_4d_mask(mask: Any, n: int) -> Any:
    """Prepend n 'may attend' key columns to a [B, 1, Q, K] mask (bool for SDPA, additive for eager)."""
    import torch

    if mask is None:  # no padding: everything attends, prefix included
        return None
    if not isinstance(mask, torch.Tensor):
        raise UserError(_t("prefix tuning supports the 'sdpa' and 'eager' attention implementations only"))
    shape = (*mask.shape[:-1], n)
    pad = torch.ones(shape, dtype=torch.bool, device=mask.device) if mask.dtype == torch.bool \
        else torch.zeros(shape, dtype=mask.dtype, device=mask.device)
    return torch.cat([pad, mask], dim=-1)


def _geometry(model: Any, fam: str) -> tuple[int, int, int]:
    """(layers, kv_heads, head_dim) of the attention the prefixes must match."""
    from ftstudio.engine.arch import layer_list

    cfg = model.config
    layers = len(layer_list(model))
    heads = cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    kv_heads = (getattr(cfg, "num_key_value_heads", None) or heads) if fam == "llama" else heads  # GQA
    return layers, kv_heads, head_dim


def _gradient_checkpointing_on(model: Any) -> bool:
    return any(getattr(m, "gradient_checkpointing", False) is True for m in model.modules())


def _inject_encoder(model: Any, encoder: Any) -> None:
    """BERT family: per-layer hooks on the self-attention (cache object + extended mask)."""
    import inspect

    from ftstudio.engine.arch import layer_list

    _, PrefixCache = _classes()
    n = encoder.shape[0]
    state: dict[str, Any] = {}
    for i, layer in enumerate(layer_list(model)):
        attn = layer.attention.self
        if "cache" not in inspect.signature(attn.forward).parameters:
            raise UserError(_t("prefix tuning: the self-attention of this '{model_type}' model takes no "
                               "cache",
                               model_type=model.config.model_type))

        def before(_m: Any, args: tuple, kwargs: dict, i: int = i) -> tuple:
            if i == 0:  # once per forward (the MLP reparameterisation runs once, not per layer)
                state["kv"] = encoder()
            kv = state["kv"][i]
            kwargs["cache"] = PrefixCache(kv[0].unsqueeze(0), kv[1].unsqueeze(0))
            if len(args) > 1:
                args = (args[0], _extend_4d_mask(args[1], n), *args[2:])
            else:
                kwargs["attention_mask"] = _extend_4d_mask(kwargs.get("attention_mask"), n)
            return args, kwargs

        def after(_m: Any, _args: tuple, kwargs: dict, out: Any) -> None:
            if not kwargs["cache"].used:  # never train silently without the prefix
                raise RuntimeError("prefix tuning: the attention did not use the prefix cache")

        attn.register_forward_pre_hook(before, with_kwargs=True)
        attn.register_forward_hook(after, with_kwargs=True)


def _inject_decoder(model: Any, encoder: Any) -> None:
    """GPT-2/Llama classification: prefixes as a pre-filled DynamicCache, 2-D mask extended.

    The model then builds its causal mask and positions itself (positions start after the prefix).
    """
    import torch
    from transformers import DynamicCache

    n = encoder.shape[0]

    def before(m: Any, args: tuple, kwargs: dict) -> tuple:
        if m.training and _gradient_checkpointing_on(m):
            raise UserError(_t("prefix tuning does not work with gradient checkpointing; turn it off"))
        ids = kwargs.get("input_ids", args[0] if args else None)
        ref = ids if ids is not None else kwargs["inputs_embeds"]
        b, t = ref.shape[:2]
        kv = encoder()
        cache = DynamicCache(config=m.config)
        for i in range(kv.shape[0]):
            cache.update(kv[i, 0].unsqueeze(0).expand(b, -1, -1, -1),
                         kv[i, 1].unsqueeze(0).expand(b, -1, -1, -1), i)
        mask = kwargs.get("attention_mask")
        if mask is None:
            mask = torch.ones(b, t, dtype=torch.long, device=ref.device)
        kwargs["attention_mask"] = torch.cat([mask.new_ones(b, n), mask], dim=1)
        kwargs["cache"] = cache
        kwargs["use_cache"] = False
        return args, kwargs

    model.register_forward_pre_hook(before, with_kwargs=True)


@register
class PrefixTuning(Technique):
    name = "prefix_tuning"
    default_learning_rate = 1e-3
    title = "Prefix tuning"
    card = (
        "Learns key/value vectors that are put in front of the attention of every layer; the model "
        "stays frozen (for classification the task head trains too), about 0.1% of the parameters. "
        "Stronger than prompt tuning because it steers every layer, but it still trails full fine-tuning "
        "and LoRA on small models (it catches up from a few hundred million parameters). "
        "It needs a high learning rate and cannot be combined with gradient checkpointing."
    )
    Params = Params
    tasks = ("classification", "causal-lm")
    uses_peft = True
    padding_free = False  # virtual tokens are prepended to each example's own sequence
    export_kinds = ("adapter",)
    rebuilds_plain_model = False

    def __init__(self, params: Any):
        super().__init__(params)
        self.mode: str | None = None  # peft | encoder | decoder, set by check()/prepare_model()

    def _mode(self, fam: str, task: str) -> str:
        if task == "causal-lm":
            return "peft"
        return "encoder" if fam == "bert" else "decoder"

    def check(self, model_info: Any, task: str) -> None:
        super().check(model_info, task)
        from ftstudio.engine.arch import require_family

        fam = require_family("prefix tuning", model_info, task, SUPPORTED_FAMILIES)
        max_len = getattr(model_info, "max_length", None)
        if max_len and fam != "bert" and self.params.num_virtual_tokens >= max_len - 8:
            raise UserError(_t("a prefix of {num_virtual_tokens} leaves no room for text in {max_len} "
                               "positions",
                               num_virtual_tokens=self.params.num_virtual_tokens, max_len=max_len))
        self.mode = self._mode(fam, task)

    def prepare_model(self, model: Any, ctx: Any) -> Any:
        from ftstudio.engine.arch import family

        cfg = getattr(ctx, "config", None)
        if _gradient_checkpointing_on(model) or getattr(getattr(cfg, "training", None), "gradient_checkpointing", False):
            raise UserError(_t("prefix tuning does not work with gradient checkpointing; turn it off"))
        fam = family(model)
        self.mode = self._mode(fam, getattr(ctx, "task", "classification"))
        if self.mode == "peft":
            model = self._prepare_peft(model)
        else:
            self._attach(model, fam, self.params.num_virtual_tokens, projection=self.params.prefix_projection)
        device = getattr(ctx, "device", None)
        return model.to(device) if device is not None else model

    def _prepare_peft(self, model: Any) -> Any:
        from peft import PrefixTuningConfig, TaskType, get_peft_model

        p = self.params
        cfg = PrefixTuningConfig(
            task_type=TaskType.CAUSAL_LM, num_virtual_tokens=p.num_virtual_tokens,
            prefix_projection=p.prefix_projection, encoder_hidden_size=p.projection_hidden,
        )
        return get_peft_model(model, cfg)

    def _attach(self, model: Any, fam: str, num_virtual: int, projection: bool) -> Any:
        """Own injection: freeze all but the head, hang the prefix encoder on the model, hook it in."""
        from ftstudio.engine.arch import head_param_names

        if model.config._attn_implementation not in ("sdpa", "eager"):
            raise UserError(
                _t("prefix tuning supports 'sdpa' and 'eager' attention; this model uses "
                   "'{attn_implementation}'",
                   attn_implementation=model.config._attn_implementation)
            )
        head = head_param_names(model)
        for n, prm in model.named_parameters():
            prm.requires_grad = n in head
        layers, kv_heads, head_dim = _geometry(model, fam)
        PrefixEncoder, _ = _classes()
        enc = PrefixEncoder(layers, kv_heads, head_dim, num_virtual,
                            model.config.hidden_size, projection, self.params.projection_hidden)
        enc.to(next(model.parameters()).device)
        model.add_module(MODULE_NAME, enc)
        (_inject_encoder if fam == "bert" else _inject_decoder)(model, enc)
        return enc

    def param_groups(self, model: Any, lr: float, weight_decay: float) -> list[dict]:
        prefix, head = [], []
        for n, p in model.named_parameters():
            if p.requires_grad:
                (prefix if ("prompt_encoder" in n or MODULE_NAME in n) else head).append(p)
        groups = [{"name": "prefix", "params": prefix, "lr": self.params.prefix_lr, "weight_decay": 0.0}]
        if head:
            head_lr = self.params.head_lr if self.params.head_lr is not None else lr
            groups.append({"name": "head", "params": head, "lr": head_lr, "weight_decay": weight_decay})
        return groups

    def max_length_reserved(self, model_type: str | None = None, task: str | None = None) -> int:
        # Decoders see the prefix as a cache, so text positions start after it; BERT positions are
        # untouched by our per-layer injection. Knowing neither the mode nor the model: reserve.
        from ftstudio.engine.arch import normalize_family

        mode = self.mode
        if model_type:
            mode = self._mode(normalize_family(model_type), task or "classification")
        return 0 if mode == "encoder" else self.params.num_virtual_tokens

    # -- export ---------------------------------------------------------------
    def export(self, model: Any, out_dir: str, tokenizer: Any, kind: str = "adapter") -> list[str]:
        import torch
        from safetensors.torch import save_file

        from ftstudio.engine.arch import head_param_names

        if kind not in ("adapter", "model"):
            raise UserError(_t("prefix tuning can export: adapter; not '{kind}'", kind=kind))
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if type(model).__name__.startswith("Peft"):
            model.save_pretrained(str(out))  # PEFT stores the computed prefixes, not the MLP
        else:
            enc = getattr(model, MODULE_NAME)
            with torch.no_grad():
                tensors = {"prefix": enc().detach().contiguous().cpu()}  # MLP dropped: computed prefixes
            params = dict(model.named_parameters())
            head = sorted(head_param_names(model))
            tensors.update({f"head.{n}": params[n].detach().contiguous().cpu() for n in head})
            save_file(tensors, str(out / WEIGHTS_FILE))
            conf = {
                "technique": self.name, "mode": self.mode, "num_virtual_tokens": self.params.num_virtual_tokens,
                "shape": list(tensors["prefix"].shape), "head": head,
                "base_model": getattr(model.config, "_name_or_path", ""),
            }
            (out / CONFIG_FILE).write_text(json.dumps(conf, indent=2), encoding="utf-8")
        if tokenizer is not None:
            tokenizer.save_pretrained(str(out))
        return [str(out)]

    def load_for_inference(self, base_model: Any, export_dir: str) -> Any:
        import torch
        from safetensors.torch import load_file

        from ftstudio.engine.arch import family

        d = Path(export_dir)
        if (d / "adapter_config.json").exists():
            from peft import PeftModel

            self.mode = "peft"
            return PeftModel.from_pretrained(base_model, str(d)).eval()
        conf = json.loads((d / CONFIG_FILE).read_text(encoding="utf-8"))
        self.mode = conf["mode"]
        tensors = load_file(str(d / WEIGHTS_FILE))
        enc = self._attach(base_model, family(base_model), conf["num_virtual_tokens"], projection=False)
        params = dict(base_model.named_parameters())
        with torch.no_grad():
            enc.prefix.copy_(tensors["prefix"].permute(3, 0, 1, 2, 4).reshape(enc.prefix.shape))
            for n in conf["head"]:
                params[n].copy_(tensors[f"head.{n}"])
        return base_model.eval()
