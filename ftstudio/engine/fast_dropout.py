"""Dropout with a cheaper mask on CPU: the same distribution at a third of the cost.

On CPU, ``torch.nn.functional.dropout`` draws one Bernoulli sample per element
(``bernoulli_``, one random 32-bit draw and a float compare each); for MiniLM at SST-2 lengths
that was 7% of a full fine-tuning step and 10% of a LoRA step (profile in docs/BENCHMARKS.md).
Here one 64-bit draw from torch's own generator gives four 16-bit lanes, and an element is kept
where its lane is at or above ``k = round(p * 65536)``: P(drop) = k / 65536 (0.100006 for
p = 0.1, exact for multiples of 1/65536) and the kept values are scaled by 65536 / (65536 - k),
so E[output] = input exactly, as in torch's dropout. As in torch, the scaled mask is saved in the
input's dtype and the backward is grad * mask.

The draws come from torch's default CPU generator, so ``torch.manual_seed`` and an exact resume
(which restores that generator) give the same masks again. Used on CPU only: CUDA's dropout is
already one fused kernel. ``enable`` swaps the class of a model's ``nn.Dropout`` modules (still
``nn.Dropout`` instances, same ``p``, no state, identity in eval mode as before); attention
dropout in packed batches uses ``dropout`` directly (engine/packing.py).
"""
from __future__ import annotations

import functools
from typing import Any

LANES = 65536  # 16-bit lanes


def threshold(p: float) -> tuple[int, float]:
    """(k, scale): drop where a uniform 16-bit lane is below k; scale the kept values."""
    k = min(LANES, max(0, round(p * LANES)))
    return k, (LANES / (LANES - k) if k < LANES else 0.0)


def scaled_mask(x: Any, p: float) -> Any:
    """The mask that ``dropout`` multiplies ``x`` by: 0 where dropped, ``scale`` where kept."""
    import torch

    k, scale = threshold(p)
    n = x.numel()
    words = torch.empty(((n + 3) // 4,), dtype=torch.int64, device=x.device)
    words.random_(-(2 ** 63), None)  # full 64-bit range: four uniform 16-bit lanes
    lanes = words.view(torch.int16)[:n].view(x.shape)
    # int16 lanes run from -32768: kept with P = 1 - k/65536. The comparison writes x's dtype
    # directly (a bool result and a cast would cost three times as much on CPU).
    mask = torch.ge(lanes, k - LANES // 2, out=torch.empty_like(x, memory_format=torch.contiguous_format))
    return mask.mul_(scale)


def _function() -> Any:
    import torch

    class Dropout(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, p: float) -> Any:
            mask = scaled_mask(x, p)
            ctx.save_for_backward(mask)
            return x * mask

        @staticmethod
        def backward(ctx: Any, grad: Any) -> tuple:
            (mask,) = ctx.saved_tensors
            return grad * mask, None

    return Dropout


_fn = functools.cache(_function)


def dropout(x: Any, p: float, training: bool = True) -> Any:
    """``F.dropout(x, p, training)`` with the cheaper mask where it pays (CPU), torch's elsewhere."""
    import torch.nn.functional as F

    if not training or p <= 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0 or not x.is_floating_point():
        return F.dropout(x, p, training)
    return _fn().apply(x, p)


@functools.cache
def _module_class() -> type:
    import torch

    class FastDropout(torch.nn.Dropout):
        """nn.Dropout whose training-mode mask is drawn by engine/fast_dropout.py."""

        def forward(self, x: Any) -> Any:
            return dropout(x, self.p, self.training)

    FastDropout.__module__ = __name__
    return FastDropout


def enable(model: Any, device: Any) -> int:
    """Swap the class of the model's ``nn.Dropout`` modules on CPU; the number swapped."""
    import torch

    if getattr(device, "type", str(device)) != "cpu":
        return 0
    cls, n = _module_class(), 0
    for m in model.modules():
        if type(m) is torch.nn.Dropout:
            m.__class__ = cls
            n += 1
    return n

