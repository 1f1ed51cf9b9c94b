"""LoRA layers as one autograd function on CPU: PEFT's numbers with fewer passes over memory.

PEFT's ``lora.Linear`` computes ``base(x) + B(A(dropout(x))) * s`` as five autograd nodes. At
MiniLM's shapes on this 2-core CPU (432 tokens, 384 features, r = 8) the low-rank part cost
1.2 ms per module and step against 2.0 ms for the frozen base itself (docs/BENCHMARKS.md): the
tiny products are slow in the layout autograd picks, and the product, the scaling and the sum
are each a full pass over a [tokens, 384] tensor forward and backward. Here:

- forward:  ``y = b + x W^T`` (one ``addmm``), then ``y += s * h B^T`` in place (``addmm_``
  with ``alpha = s``), with ``h = dropout(x) A^T``;
- backward, with W and b frozen: ``gh = s * dY B``, ``gB = s * dY^T h``, ``gA = gh^T xd``,
  ``gx = dY W`` and ``gx += gh A`` in place when dropout is off (the same input).

Up to ``TRANSPOSED_MAX_RANK`` the small products run transposed (``h^T = A xd^T``,
``gh^T = B^T dY^T``, ``gB^T = h^T dY``): the same products, which MKL computes 2-3x faster at
rank 4-8 here and slower from rank 16 (measured; either layout is exact up to float rounding).
Measured at 430 tokens, r = 8: the low-rank part 1.17 ms per module and step with PEFT's nodes,
0.78 ms here; a whole padded MiniLM LoRA step 3.3% faster (in-process A/B).

Same values as PEFT's forward and backward (the sums are taken in another order: float noise,
tested). Used only where that holds, per call: CPU, one active vanilla adapter (no DoRA or other
variant, no LoRA bias), not merged, adapters not disabled, no per-call ``adapter_names``, the
same dtype throughout and no autocast, a frozen plain ``nn.Linear`` base without hooks; anything
else runs PEFT's own forward. CUDA is left to PEFT (its small products are fused there anyway).
``enable`` swaps the class of a model's PEFT ``lora.Linear`` modules (still instances of it).
In packed BERT training, engine/fused_bert.py takes the whole layer (and merges these layers
where their LoRA dropout is off); this function serves every other CPU call.
"""
from __future__ import annotations

import functools
import sys
from typing import Any

TRANSPOSED_MAX_RANK = 8


@functools.cache
def _function() -> Any:
    import torch

    class LowRankLinear(torch.autograd.Function):
        """y = x W^T + b + s (xd A^T) B^T; ``xd`` is None when it is ``x`` itself."""

        @staticmethod
        def forward(ctx: Any, x: Any, xd: Any, W: Any, b: Any, A: Any, B: Any, s: float) -> Any:
            shape = x.shape
            x2 = x.reshape(-1, shape[-1])
            xd2 = x2 if xd is None else xd.reshape(-1, shape[-1])
            y = torch.mm(x2, W.t()) if b is None else torch.addmm(b, x2, W.t())
            transposed = A.shape[0] <= TRANSPOSED_MAX_RANK
            if transposed:
                hT = torch.mm(A, xd2.t())  # [r, T]
                y.addmm_(hT.t(), B.t(), alpha=s)
            else:
                hT = torch.mm(xd2, A.t())  # [T, r] (named for the one saved slot)
                y.addmm_(hT, B.t(), alpha=s)
            ctx.transposed, ctx.s, ctx.shared, ctx.shape = transposed, s, xd is None, shape
            ctx.save_for_backward(xd2, W, A, B, hT)
            return y.view(*shape[:-1], W.shape[0])

        @staticmethod
        def backward(ctx: Any, dY: Any) -> tuple:
            xd2, W, A, B, h = ctx.saved_tensors
            need_x, need_xd, _, _, need_A, need_B, _ = ctx.needs_input_grad
            dY2 = dY.reshape(-1, dY.shape[-1])
            s, gx, gxd, gA, gB = ctx.s, None, None, None, None
            need_low = need_A or (need_xd if not ctx.shared else need_x)
            if ctx.transposed:  # h holds h^T [r, T]
                if need_B:
                    gB = torch.mm(h, dY2).mul_(s).t()
                if need_low:
                    ghT = torch.mm(B.t(), dY2.t()).mul_(s)  # [r, T]
                    if need_A:
                        gA = torch.mm(ghT, xd2)
                    gh = ghT.t()
            else:
                if need_B:
                    gB = torch.mm(dY2.t(), h).mul_(s)
                if need_low:
                    gh = torch.mm(dY2, B).mul_(s)  # [T, r]
                    if need_A:
                        gA = torch.mm(gh.t(), xd2)
            if need_x:
                gx = torch.mm(dY2, W)
                if ctx.shared:
                    gx.addmm_(gh, A)
                gx = gx.view(ctx.shape)
            if need_xd and not ctx.shared:
                gxd = torch.mm(gh, A).view(ctx.shape)
            return gx, gxd, None, None, gA, gB, None

    return LowRankLinear


def _plain(layer: Any) -> bool:
    """An ``nn.Linear`` itself (no subclass) that no module hook watches."""
    import torch

    return type(layer) is torch.nn.Linear and not (
        layer._forward_hooks or layer._forward_pre_hooks or layer._backward_hooks or layer._backward_pre_hooks)


def _frozen(layer: Any) -> bool:
    return not layer.weight.requires_grad and (layer.bias is None or not layer.bias.requires_grad)


def _fast_args(m: Any, x: Any, args: tuple, kwargs: dict) -> tuple | None:
    """(adapter name, dropout module) when this call can take the fused path, else None."""
    import torch

    if args or kwargs or m.disable_adapters or m.merged or x.device.type != "cpu":
        return None
    active = [a for a in m.active_adapters if a in m.lora_A.keys()]
    if len(active) != 1:
        return None
    name = active[0]
    if name in getattr(m, "lora_variant", {}) or (getattr(m, "lora_bias", {}) or {}).get(name):
        return None
    base, A, B = m.base_layer, m.lora_A[name], m.lora_B[name]
    if not (_plain(base) and _frozen(base) and _plain(A) and _plain(B) and A.bias is None and B.bias is None):
        return None
    if not (x.dtype == base.weight.dtype == A.weight.dtype == B.weight.dtype):
        return None
    if torch.is_autocast_enabled("cpu"):
        return None
    return name, m.lora_dropout[name]


@functools.cache
def _module_class() -> type:
    import torch
    from peft.tuners.lora.layer import Linear

    fn = _function()

    class FusedLoraLinear(Linear):
        """PEFT's ``lora.Linear`` whose plain training and inference calls on CPU go through
        engine/lowrank.py's single autograd function (same values)."""

        def forward(self, x: Any, *args: Any, **kwargs: Any) -> Any:
            fast = _fast_args(self, x, args, kwargs)
            if fast is None:
                return super().forward(x, *args, **kwargs)
            name, dropout = fast
            xd = None if isinstance(dropout, torch.nn.Identity) else dropout(x)
            base = self.base_layer
            return fn.apply(x, xd, base.weight, base.bias, self.lora_A[name].weight, self.lora_B[name].weight,
                            float(self.scaling[name]))

    FusedLoraLinear.__module__ = __name__
    return FusedLoraLinear


def enable(model: Any, device: Any) -> int:
    """Swap the class of the model's PEFT ``lora.Linear`` modules on CPU; the number swapped."""
    if getattr(device, "type", str(device)) != "cpu":
        return 0
    layer_mod = sys.modules.get("peft.tuners.lora.layer")  # no PEFT model without PEFT imported
    if layer_mod is None:
        return 0
    cls, n = _module_class(), 0
    for m in model.modules():
        if type(m) is layer_mod.Linear:
            m.__class__ = cls
            n += 1
    return n
