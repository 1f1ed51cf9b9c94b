"""Padding-free ("packed") batches.

A padded batch of B examples of up to L tokens costs B x L tokens in every linear layer, layer
norm, dropout and feed-forward block, which is nearly all of a step's work; the padding is waste.
Here the examples of a batch are laid end to end in ONE row of T = sum(lengths) real tokens
(position ids restart per example), so all of that runs on real tokens only. The one place where
examples must not see each other is attention: our attention function gathers each example's
queries/keys/values back into a [B, heads, Lmax, D] block, runs SDPA on it (key-padding mask for
encoders, causal for decoders; the padded cells are masked keys or discarded queries, as in the
padded path), and scatters the result back to the row. Pooling (mean or [CLS]) and the loss are
per example, so logits and loss equal the padded path's up to float noise (tested to 1e-4).

Used where it is exact and supported: BERT-family encoders (classification, mean or [CLS]
pooling) and Llama-family decoders (causal LM), with SDPA or eager attention and techniques
that do not change the token sequence (prompt/prefix tuning add virtual tokens, a
hidden-state distillation loss reads the padded mask: those keep padded batches).
``training.packing: auto`` (default) packs where supported; ``off`` never does.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

ATTN_NAME = "ftstudio_packed"
PACK_KEY = "ftstudio_pack"  # the batch key (and model kwarg) that carries a Packed
ENCODERS = ("bert",)
DECODERS = ("llama", "qwen2", "mistral")


@dataclass
class Packed:
    """Where each example's tokens sit in the packed row (all index tensors on the device)."""

    batch: int  # B examples
    width: int  # Lmax, the longest example
    tokens: int  # T real tokens
    scatter: Any  # [T] padded cell of each token
    key_mask: Any  # [B, 1, 1, Lmax] bool, True = real key; None when no example is shorter
    first: Any  # [B] row position of each example's first token
    pool: Any  # [B, T] mean-pooling weights (1/len over the example's tokens)
    # runs of equal-length examples (examples are laid out longest first): (first token, examples,
    # length). Attention over a run is a VIEW of the row: no copy, no mask.
    groups: tuple[tuple[int, int, int], ...] = ()

    def to(self, device: Any) -> "Packed":
        move = (lambda t: None if t is None else t.to(device, non_blocking=True))
        return Packed(self.batch, self.width, self.tokens, move(self.scatter),
                      move(self.key_mask), move(self.first), move(self.pool), self.groups)


def supports(model: Any, task: str, technique: Any) -> bool:
    """True where packed batches give the padded path's results (see the module docstring)."""
    if not getattr(technique, "padding_free", True):
        return False
    cfg = getattr(model, "config", None)
    if cfg is None and hasattr(model, "get_base_model"):
        cfg = model.get_base_model().config
    impl = getattr(cfg, "_attn_implementation", None)
    if impl not in ("sdpa", "eager", ATTN_NAME):
        return False
    kind = getattr(cfg, "model_type", None)
    if task == "classification":
        return kind in ENCODERS and not getattr(cfg, "is_decoder", False)
    return task == "causal-lm" and kind in DECODERS


def enable(model: Any) -> Any:
    """Route the model's attention through the packing-aware function (which falls back to SDPA
    for ordinary padded batches, so evaluation and prediction are unchanged) and teach its pooler
    to read packed rows. Idempotent."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ATTN_NAME, packed_attention)
    AttentionMaskInterface.register(ATTN_NAME, sdpa_mask)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if base.config._attn_implementation != ATTN_NAME:
        base.set_attn_implementation(ATTN_NAME)
    from ftstudio.engine.arch import backbone

    bb = backbone(base)
    pooler = getattr(bb, "pooler", None)
    if pooler is not None and not getattr(bb, "_ftstudio_packs", False):
        bb.register_forward_pre_hook(_stash_pack, with_kwargs=True)
        pooler.register_forward_pre_hook(_pool_packed)
        bb._ftstudio_packs = True
    return model


def disable(model: Any) -> None:
    """Back to SDPA (before saving or handing the model to other code)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if base.config._attn_implementation == ATTN_NAME:
        base.set_attn_implementation("sdpa")


def _stash_pack(module: Any, args: tuple, kwargs: dict) -> None:
    module.pooler._ftstudio_pack = kwargs.get(PACK_KEY)


def _pool_packed(module: Any, args: tuple) -> tuple | None:
    """Pooler input from a packed row [1, T, H] -> one row per example [B, 1, H]: the example's
    mean for a mean pooler (whose mean over that single row is then the identity), its first
    token for a [CLS] pooler."""
    pack, module._ftstudio_pack = getattr(module, "_ftstudio_pack", None), None
    if pack is None:
        return None
    from ftstudio.engine.pooling import MeanPooler

    hidden = args[0].squeeze(0)  # [T, H]; a view (the backward of [0] would zero-fill and copy)
    if isinstance(module, MeanPooler):
        return ((pack.pool.to(hidden.dtype) @ hidden).unsqueeze(1),)
    return (hidden[pack.first].unsqueeze(1),)


def packed_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                     dropout: float = 0.0, scaling: float | None = None, is_causal: bool | None = None,
                     **kwargs: Any) -> tuple[Any, None]:
    """transformers attention interface: SDPA per example for a packed row, plain SDPA otherwise."""
    import torch.nn.functional as F
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    pack = kwargs.pop(PACK_KEY, None)
    if pack is None:
        if _padded_with_cheap_dropout(query, key, attention_mask, dropout, kwargs):
            causal = bool(getattr(module, "is_causal", True)) if is_causal is None else bool(is_causal)
            causal = causal and attention_mask is None and query.shape[2] > 1  # as sdpa_attention_forward
            out = _attention(query, key, value, attention_mask, dropout, scaling, causal)
            return out.transpose(1, 2).contiguous(), None
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, is_causal=is_causal, **kwargs)

    causal = bool(getattr(module, "is_causal", False)) if is_causal is None else bool(is_causal)
    if len(pack.groups) <= MAX_GROUPS and not _compiling():
        return _grouped_attention(query, key, value, pack.groups, dropout, scaling, causal), None
    cells = pack.batch * pack.width

    def blocks(x: Any) -> Any:  # [1, h, T, D] -> [B, h, Lmax, D]
        x = _ToCells.apply(x.squeeze(0).transpose(0, 1), pack.scatter, cells)
        return x.view(pack.batch, pack.width, x.shape[1], x.shape[2]).transpose(1, 2)

    q, k, v = blocks(query), blocks(key), blocks(value)
    # right-padded blocks: causal attention never reaches the padded keys of a real query
    out = _attention(q, k, v, None if causal else pack.key_mask, dropout, scaling, causal)
    out = _FromCells.apply(out.transpose(1, 2).reshape(cells, out.shape[1], out.shape[3]), pack.scatter)
    return out.unsqueeze(0), None


MAX_GROUPS = 6  # more runs of equal lengths (ungrouped batches): padded cells instead


def _padded_with_cheap_dropout(query: Any, key: Any, mask: Any, dropout: float, kwargs: dict) -> bool:
    """A padded training batch on CPU whose attention dropout can take engine/fast_dropout.py's
    masks (SDPA's math path draws one Bernoulli sample per attention weight: 5% of a MiniLM step
    on padded batches, measured): no cache (queries = keys), no position bias or soft cap, and a
    boolean mask (True = attend) in which every query sees at least one key (SDPA's safe softmax
    gives such a row zeros; a plain softmax would give NaN). Everything else keeps SDPA."""
    import torch

    if not dropout or query.device.type != "cpu" or query.shape[2] != key.shape[2]:
        return False
    if kwargs.get("position_bias") is not None or kwargs.get("softcap") is not None or kwargs.get("output_attentions"):
        return False
    if mask is None:
        return True
    if mask.dtype != torch.bool:
        return False
    ok = getattr(mask, "_ftstudio_rows_see_a_key", None)  # one mask serves every layer: checked once
    if ok is None:
        ok = mask._ftstudio_rows_see_a_key = bool(mask.any(-1).all())
    return ok


def _compiling() -> bool:
    import torch

    return bool(torch.compiler.is_compiling())  # a graph of Python-int runs would recompile per batch


def _grouped_attention(query: Any, key: Any, value: Any, groups: tuple, dropout: float,
                       scaling: float | None, causal: bool) -> Any:
    """SDPA on each run of equal-length examples, viewed in place: [1, h, T, D] sliced to the
    run's tokens and split into [n, h, l, D]; nothing is padded, so no mask is needed."""
    import torch

    sizes = [n * length for _, n, length in groups]

    def runs(x: Any) -> list:  # split, not sliced: the backward of a split is one cat, where the
        # backward of each slice would zero-fill and add a whole-row gradient
        # squeeze, not [0]: the backward of a select zero-fills a whole [1, h, T, D] and copies
        row = x.squeeze(0)
        parts = row.split(sizes, dim=1) if len(sizes) > 1 else (row,)
        return [part.unflatten(1, (n, length)).transpose(0, 1) for part, (_, n, length) in zip(parts, groups)]

    outs = []
    for q, k, v, (_, n, length) in zip(runs(query), runs(key), runs(value), groups):
        o = _attention(q, k, v, None, dropout, scaling, causal)
        outs.append(o.transpose(1, 2).reshape(n * length, o.shape[1], o.shape[3]))
    out = outs[0] if len(outs) == 1 else torch.cat(outs)
    return out.unsqueeze(0)  # [1, T, h, D]


def _attention(q: Any, k: Any, v: Any, key_mask: Any, dropout: float, scaling: float | None,
               causal: bool) -> Any:
    """SDPA on [n, h, l, D] blocks (key_mask: [n, 1, 1, l], True = a real key). With attention
    dropout on CPU, SDPA runs its math path (two matmuls, softmax, dropout) with torch's
    per-element Bernoulli masks; the same math is written out here with engine/fast_dropout.py's
    mask, which is the same distribution at a fraction of the cost."""
    import torch
    import torch.nn.functional as F

    gqa = k.shape[1] != q.shape[1]  # grouped-query attention
    if not dropout or q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask, dropout_p=dropout, scale=scaling,
                                              is_causal=causal, enable_gqa=gqa)
    from ftstudio.engine.fast_dropout import dropout as drop

    if gqa:
        rep = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)

    scale = scaling if scaling is not None else q.shape[-1] ** -0.5
    # scaled after the product: at these lengths the [n, h, l, l] weights are smaller than q
    w = (q @ k.transpose(-2, -1)).mul_(scale)
    if causal:
        w = w.masked_fill(torch.ones(w.shape[-2:], dtype=torch.bool, device=w.device).triu(1), float("-inf"))
    if key_mask is not None:
        w = w.masked_fill(~key_mask, float("-inf"))
    return drop(w.softmax(-1), dropout) @ v


def _autograd_functions() -> tuple[Any, Any]:
    """Token rows <-> padded cells. Each token has exactly one cell, so both directions are a
    copy by index whose backward is the other copy (torch's own index_select backward is a
    scatter-add, several times slower on CPU, for duplicates that cannot occur here)."""
    import torch

    class ToCells(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, index: Any, cells: int) -> Any:
            ctx.save_for_backward(index)
            return x.new_zeros((cells,) + tuple(x.shape[1:])).index_copy_(0, index, x)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> tuple:
            (index,) = ctx.saved_tensors
            return grad.index_select(0, index), None, None

    class FromCells(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, y: Any, index: Any) -> Any:
            ctx.save_for_backward(index)
            ctx.cells = y.shape[0]
            return y.index_select(0, index)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> tuple:
            (index,) = ctx.saved_tensors
            return grad.new_zeros((ctx.cells,) + tuple(grad.shape[1:])).index_copy_(0, index, grad), None

    return ToCells, FromCells


class _Lazy:
    """One of the autograd Functions, built on first use (torch is imported lazily)."""

    def __init__(self, i: int):
        self.i = i

    def apply(self, *args: Any) -> Any:
        return _functions()[self.i].apply(*args)


_functions = functools.cache(_autograd_functions)
_ToCells, _FromCells = _Lazy(0), _Lazy(1)


def collate_packed(examples: list[dict], pad_id: int, device: Any = None) -> dict:
    """The packed twin of data.collate: one row of real tokens plus a Packed."""
    import numpy as np
    import torch

    from ftstudio.engine.data import TEXT_KEYS

    # longest first, so examples of equal length sit side by side (their attention is a view)
    examples = sorted(examples, key=lambda e: -len(e["input_ids"]))
    n = len(examples)
    lens = np.fromiter((len(e["input_ids"]) for e in examples), dtype=np.int64, count=n)
    width, total = int(lens.max()), int(lens.sum())
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    pos = np.arange(total, dtype=np.int64) - np.repeat(starts, lens)
    seg = np.repeat(np.arange(n, dtype=np.int64), lens)
    scatter = seg * width + pos
    key_mask = None
    if (lens < width).any():
        key_mask = torch.from_numpy(np.arange(width)[None, :] < lens[:, None]).view(n, 1, 1, width)
    pool = torch.zeros(n, total)
    pool[torch.from_numpy(seg), torch.arange(total)] = torch.from_numpy(1.0 / lens[seg]).float()
    ids = np.concatenate([np.asarray(e["input_ids"], dtype=np.int64) for e in examples])
    batch: dict[str, Any] = {
        "input_ids": torch.from_numpy(ids).view(1, total),
        "position_ids": torch.from_numpy(pos).view(1, total),
    }
    if "token_type_ids" in examples[0]:
        tt = np.concatenate([np.asarray(e["token_type_ids"], dtype=np.int64) for e in examples])
        batch["token_type_ids"] = torch.from_numpy(tt).view(1, total)
    if "labels" in examples[0]:  # causal LM: the first token of each example is never a target
        lab = np.concatenate([np.asarray(e["labels"], dtype=np.int64) for e in examples])
        lab[starts] = -100
        batch["labels"] = torch.from_numpy(lab).view(1, total)
    else:
        batch["labels"] = torch.tensor([e["label"] for e in examples], dtype=torch.long)
    batch["idx"] = torch.tensor([e.get("idx", -1) for e in examples], dtype=torch.long)
    batch["task_id"] = torch.tensor([e.get("task_id", 0) for e in examples], dtype=torch.long)
    change = np.flatnonzero(np.diff(lens)) + 1
    bounds = np.concatenate([[0], change, [n]])
    groups = tuple((int(starts[a]), int(b - a), int(lens[a])) for a, b in zip(bounds[:-1], bounds[1:]))
    pack = Packed(n, width, total, torch.from_numpy(scatter), key_mask,
                  torch.from_numpy(starts), pool, groups)
    if device is not None and str(device) != "cpu":
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        pack = pack.to(device)
    batch[PACK_KEY] = pack
    for key in TEXT_KEYS:
        if key in examples[0]:
            batch[key] = [e.get(key, "") for e in examples]
    return batch
