"""BitFit (Ben Zaken et al. 2021): train the bias terms and the task head, freeze everything else.

The classic snippet also freezes the classifier, so its random head never learns; here the head
trains for classification. Variant ``query_and_ffn2`` trains only the query bias and the second
feed-forward bias of every layer (GPT-2 fuses q/k/v into one bias: the k/v part gets a zero
gradient, so it stays bitwise unchanged).
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftstudio.engine import arch
from ftstudio.engine.errors import UserError
from ftstudio.techniques.base import Technique, param, register
from ftstudio.i18n import _t

DELTA_FILE = "bitfit_delta.safetensors"
DELTA_CONFIG = "bitfit_delta.json"
PER_LAYER = ("bert", "gpt2", "llama")  # families query_and_ffn2 knows how to locate


@dataclass
class Params:
    variant: str = param(
        "all",
        label="Which biases",
        help="'all' trains every bias term. 'query_and_ffn2' trains only the query bias and the second "
        "feed-forward bias of each layer: even fewer parameters, nearly the same quality in the paper.",
        choices=("all", "query_and_ffn2"),
    )


def _is_bias(name: str) -> bool:
    return name.endswith(".bias") or name.endswith("_bias")


def _mask_grad(grad: Any, *, keep: int) -> Any:
    # Module-level + partial (no closure): zero the gradient past the first `keep` entries.
    out = grad.clone()
    out[keep:] = 0
    return out


def _per_layer_biases(model: Any) -> list[tuple[Any, int | None]]:
    """(bias parameter, number of leading entries to train or None for all) for query_and_ffn2."""
    fam = arch.family(model)
    if fam not in PER_LAYER:
        raise UserError(_t("BitFit 'query_and_ffn2' knows BERT-like, GPT-2 and Llama-like models, not "
                           "'{fam}'",
                           fam=fam))
    found: list[tuple[Any, int | None]] = []
    for layer in arch.layer_list(model):
        if fam == "bert":
            query = layer.attention.self.query.bias
            found.append((query, None))
        elif fam == "gpt2":  # c_attn.bias = [q; k; v], each hidden wide
            bias = layer.attn.c_attn.bias
            found.append((bias, bias.shape[0] // 3))
        else:  # Llama-like: q_proj has a bias only in some (Qwen2)
            q = getattr(layer.self_attn.q_proj, "bias", None)
            if q is not None:
                found.append((q, None))
        ffn2 = getattr(arch.ffn_output_dense(layer, fam), "bias", None)
        if ffn2 is not None:
            found.append((ffn2, None))
    return found


def count_biases(model: Any) -> int:
    head = arch.head_param_names(model)
    return sum(p.numel() for n, p in model.named_parameters() if _is_bias(n) and n not in head)


@register
class BitFit(Technique):
    name = "bitfit"
    default_learning_rate = 3e-3
    title = "BitFit (biases only)"
    card = (
        "Trains only the bias terms of the model plus the task head; all weight matrices stay frozen. "
        "That is about 0.1% of the parameters, so it is fast and light on memory, and on small and "
        "medium classification tasks it is often close to full fine-tuning. Use a high learning rate "
        "(the app sets 3e-3; about 1e-3 to 5e-3 works). Llama-style models have no biases, so only the head would train."
    )
    Params = Params
    tasks = ("classification", "causal-lm")
    export_kinds = ("model", "delta")

    def __init__(self, params: Any):
        super().__init__(params)
        self.trainable_count = 0  # effective count (GPT-2 query-only counts the q third)

    def check(self, model_info: Any, task: str) -> None:
        super().check(model_info, task)
        fam = getattr(model_info, "family", "") or "unknown"
        if self.params.variant == "query_and_ffn2" and fam not in PER_LAYER:
            raise UserError(
                _t("BitFit 'query_and_ffn2' needs a BERT-like, GPT-2 or Llama-like model, not '{fam}'; use "
                   "variant 'all'",
                   fam=fam)
            )
        n_bias = getattr(model_info, "bias_params", None)
        if n_bias is None:
            return
        if n_bias == 0 and task == "causal-lm":
            raise UserError(
                _t("BitFit has nothing to train: this '{fam}' model has no bias terms and a language "
                   "model's head stays frozen",
                   fam=fam)
            )
        if self.ctx is not None:
            if n_bias == 0:
                self.ctx.log(
                    _t("this '{fam}' model has no bias terms: BitFit will train only the classification head",
                       fam=fam), "warning"
                )
            else:
                self.ctx.log(_t("this model has {n_bias:,} bias parameters", n_bias=n_bias))

    def prepare_model(self, model: Any, ctx: Any) -> Any:
        self.ctx = ctx
        task = getattr(ctx, "task", "classification")
        head = arch.head_param_names(model) if task == "classification" else set()
        for p in model.parameters():
            p.requires_grad_(False)
        n_bias = 0
        if self.params.variant == "all":
            for n, p in model.named_parameters():
                if _is_bias(n) and n not in head:
                    p.requires_grad_(True)
                    n_bias += p.numel()
        else:
            for p, keep in _per_layer_biases(model):
                p.requires_grad_(True)
                if keep is not None:
                    p.register_hook(functools.partial(_mask_grad, keep=keep))
                n_bias += keep if keep is not None else p.numel()
        n_head = 0
        for n, p in model.named_parameters():
            if n in head:
                p.requires_grad_(True)
                n_head += p.numel()
        if n_bias + n_head == 0:
            raise UserError(
                _t("BitFit has nothing to train: this '{fam}' model has no matching bias terms and a "
                   "language model's head stays frozen", fam=arch.family(model)) if task == "causal-lm" else
                _t("BitFit has nothing to train: this '{fam}' model has no matching bias terms",
                   fam=arch.family(model))
            )
        self.trainable_count = n_bias + n_head
        total = sum(p.numel() for p in model.parameters())
        if ctx is not None:
            if n_bias == 0:
                ctx.log(_t("BitFit: the model has no bias terms, only the classification head will train"), "warning")
            ctx.log(
                _t("BitFit trains {n_bias:,} bias + {n_head:,} head parameters ({value:.3f}% of {total:,}); "
                   "all bias terms in the model: {value2:,}",
                   n_bias=n_bias, n_head=n_head, value=100 * self.trainable_count / total, total=total, value2=count_biases(model))
            )
        return model

    def export(self, model: Any, out_dir: str, tokenizer: Any, kind: str = "model") -> list[str]:
        """'model': a full Hugging Face folder; 'delta': only the trained tensors (biases + head)."""
        if kind == "model":
            return super().export(model, out_dir, tokenizer, kind)
        if kind != "delta":
            raise UserError(_t("BitFit exports 'model' or 'delta', not '{kind}'", kind=kind))
        from safetensors.torch import save_file

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        m = arch.unwrap(model)
        tensors = {n: p.detach().cpu().contiguous() for n, p in m.named_parameters() if p.requires_grad}
        save_file(tensors, str(out / DELTA_FILE))
        meta = {"variant": self.params.variant, "family": arch.family(m), "keys": sorted(tensors)}
        (out / DELTA_CONFIG).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        if tokenizer is not None:
            tokenizer.save_pretrained(out)
        return [str(out / DELTA_FILE), str(out / DELTA_CONFIG)]

    def load_for_inference(self, base_model: Any, export_dir: str) -> Any:
        """Load either export kind into a base model with the same architecture and head shape."""
        from safetensors.torch import load_file

        d = Path(export_dir)
        files = [d / DELTA_FILE] if (d / DELTA_FILE).exists() else sorted(d.glob("*.safetensors"))
        if not files:
            raise UserError(_t("no BitFit export found in {d}", d=d))
        device = str(next(base_model.parameters()).device)
        tensors: dict = {}
        for f in files:
            tensors.update(load_file(str(f), device=device))
        known = dict(base_model.named_parameters())
        unknown = sorted(set(tensors) - set(base_model.state_dict()))
        if unknown:
            raise UserError(_t("the BitFit export does not match this base model (e.g. {unknown})",
                               unknown=unknown[0]))
        if not any(n in tensors for n in known):
            raise UserError(_t("the BitFit export in {d} holds none of this model's parameters",
                               d=d))
        base_model.load_state_dict(tensors, strict=False)
        base_model.eval()
        return base_model
