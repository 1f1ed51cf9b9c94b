"""A BERT layer's training step on packed rows as one autograd function (CPU).

transformers' ``BertLayer`` is a dozen modules and, in a packed training batch, about a hundred
autograd nodes per layer (views, transposes, splits of each run of equal-length examples,
LayerNorm, GELU, dropout, the projections); on this 2-core CPU the dispatch, graph and Python
cost of a MiniLM step was about 10 ms on a one-example batch against 5 ms of matmul, and the
attention layout copies ~4 ms of a ~90 ms LoRA step (docs/BENCHMARKS.md). Here one layer is
one node: the forward calls the same aten kernels the modules call (``addmm``, ``bmm``,
``softmax``, ``native_layer_norm``, ``gelu``, engine/fast_dropout.py's masks drawn in the
modules' order) and the backward is written out with their derivative kernels
(``_softmax_backward_data``, ``native_layer_norm_backward``, ``gelu_backward``), computing only
what some input needs (layer 0's input and key projection under LoRA need none).

A LoRA projection (PEFT ``lora.Linear``, one active adapter, no LoRA dropout) runs as
``x (W + s B A)^T + b``: one product instead of a product plus a rank-r update over the
output, the same values up to float rounding (PEFT does the same when it merges). Its
gradients are PEFT's: ``gB = s dY^T (x A^T)``, ``gA = s (B^T dY^T) x``.

Used only where it gives the modules' results: CPU, fp32, training mode, a packed batch
(engine/packing.py) with at most ``packing.MAX_GROUPS`` runs, no autocast, no hooks on the
layer or its parts, each part of exactly the expected type (so an Adapter, BitFit's hooks or
any other insertion keeps the modules), exact GELU, and every projection either a plain
``nn.Linear`` (frozen or trainable) or a LoRA layer as above. Everything else (evaluation,
padded batches, CUDA) runs transformers' own forward. Tested against the modules: outputs,
input and parameter gradients, with dropout (tests/test_fused_bert.py).
"""
from __future__ import annotations

import functools
import sys
from typing import Any

MAX_RUNS = 64  # runs of equal length per batch (a length-grouped batch of 32 has a handful)


def _linear_spec(layer: Any) -> tuple | None:
    """(W, b, A, B, s) of a plain ``nn.Linear`` (A = B = None) or of a LoRA layer that can be
    merged for the call; None when neither."""
    import torch

    from ftstudio.engine import lowrank

    if type(layer) is torch.nn.Linear:
        return (layer.weight, layer.bias, None, None, 0.0) if lowrank._plain(layer) else None
    if "peft.tuners.lora.layer" not in sys.modules or type(layer) is not lowrank._module_class():
        return None
    if not _hookless(layer):
        return None
    fast = lowrank._fast_args(layer, layer.base_layer.weight, (), {})
    if fast is None or not isinstance(fast[1], torch.nn.Identity):
        return None
    name = fast[0]
    base = layer.base_layer
    return base.weight, base.bias, layer.lora_A[name].weight, layer.lora_B[name].weight, float(layer.scaling[name])


def _hookless(*mods: Any) -> bool:
    return all(not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks)
               for m in mods)


def layer_specs(layer: Any) -> tuple | None:
    """Everything the fused function needs from one ``BertLayer``, or None where it must keep
    its modules (see the module docstring)."""
    import torch
    from transformers.activations import GELUActivation
    from transformers.models.bert import modeling_bert as mb

    from ftstudio.engine.fast_dropout import _module_class as fast_dropout_class

    if layer.add_cross_attention or layer.is_decoder or layer.chunk_size_feed_forward:
        return None
    att, so, inter, out = layer.attention, layer.attention.output, layer.intermediate, layer.output
    sa = att.self
    if not (type(att) is mb.BertAttention and type(sa) is mb.BertSelfAttention and type(so) is mb.BertSelfOutput
            and type(inter) is mb.BertIntermediate and type(out) is mb.BertOutput):
        return None
    act = inter.intermediate_act_fn
    if type(act) is not GELUActivation or getattr(act, "act", None) is not torch.nn.functional.gelu:
        return None
    drops = (sa.dropout, so.dropout, out.dropout)
    if any(type(d) not in (torch.nn.Dropout, fast_dropout_class()) for d in drops):
        return None
    lns = (so.LayerNorm, out.LayerNorm)
    if any(type(n) is not torch.nn.LayerNorm or not n.elementwise_affine or n.bias is None for n in lns):
        return None
    if not _hookless(layer, att, sa, so, inter, out, act, *drops, *lns):
        return None
    specs = [_linear_spec(m) for m in (sa.query, sa.key, sa.value, so.dense, inter.dense, out.dense)]
    if any(s is None for s in specs):
        return None
    return specs, lns, (sa.dropout.p, so.dropout.p, out.dropout.p), sa.num_attention_heads, sa.scaling


def _flat(specs: list, lns: tuple) -> list:
    """The tensors the function takes, in a fixed order: per projection W, b, A, B; then both
    LayerNorms' weight and bias (absent ones as None)."""
    out: list = []
    for W, b, A, B, _ in specs:
        out += [W, b, A, B]
    for n in lns:
        out += [n.weight, n.bias]
    return out


def _weight(W: Any, A: Any, B: Any, s: float) -> Any:
    import torch

    return W if A is None else torch.addmm(W, B, A, alpha=s)


@functools.cache
def _function() -> Any:
    import torch
    from torch.ops import aten

    from ftstudio.engine.fast_dropout import scaled_mask

    def linear(x: Any, W: Any, b: Any) -> Any:
        return torch.mm(x, W.t()) if b is None else torch.addmm(b, x, W.t())

    def linear_grads(dY: Any, X: Any, W: Any, b: Any, A: Any, B: Any, s: float, need: tuple) -> list:
        """[gW, gb, gA, gB] for y = X (W + s B A)^T + b."""
        nW, nb, nA, nB = need
        gW = torch.mm(dY.t(), X) if nW else None
        gb = dY.sum(0) if nb else None
        gA = gB = None
        if nA or nB:
            if nB:
                hT = torch.mm(A, X.t())  # [r, T]
                gB = torch.mm(hT, dY).mul_(s).t()
            if nA:
                ghT = torch.mm(B.t(), dY.t()).mul_(s)  # [r, T]
                gA = torch.mm(ghT, X)
        return [gW, gb, gA, gB]

    def heads(x: Any, t0: int, n: int, length: int, h: int) -> Any:
        """Tokens [t0, t0 + n * length) of a [T, H] tensor as contiguous [n * h, length, D]."""
        return x[t0:t0 + n * length].view(n, length, h, -1).transpose(1, 2).reshape(n * h, length, -1)

    def put_heads(dst: Any, src: Any, t0: int, n: int, length: int, h: int) -> None:
        dst[t0:t0 + n * length].view(n, length, h, -1).copy_(src.view(n, h, length, -1).transpose(1, 2))

    class LayerFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, meta: tuple, *params: Any) -> Any:
            scales, eps, probs, h, scaling, groups = meta
            shape = x.shape
            X = x.reshape(-1, shape[-1])
            T, H = X.shape
            p = [params[4 * j:4 * j + 4] for j in range(6)]  # per projection: W, b, A, B
            g1, be1, g2, be2 = params[24:28]
            Ws = [_weight(W, A, B, s) for (W, _, A, B), s in zip(p, scales)]
            pa, ph1, ph2 = probs
            q, k, v = (linear(X, Ws[j], p[j][1]) for j in range(3))
            att = torch.empty_like(X)
            saved_runs = []
            for t0, n, length in groups:
                qh, kh, vh = heads(q, t0, n, length, h), heads(k, t0, n, length, h), heads(v, t0, n, length, h)
                P = torch.bmm(qh, kh.transpose(1, 2)).mul_(scaling).softmax(-1)
                if pa:
                    m = scaled_mask(P, pa)
                    Pd = P * m
                else:
                    m, Pd = None, P
                put_heads(att, torch.bmm(Pd, vh), t0, n, length, h)
                saved_runs.append((qh, kh, vh, P, m, Pd))
            a = linear(att, Ws[3], p[3][1])
            ma = scaled_mask(a, ph1) if ph1 else None
            r1 = torch.addcmul(X, a, ma) if ma is not None else a.add_(X)
            h1, mean1, rstd1 = torch.native_layer_norm(r1, [H], g1, be1, eps[0])
            i = linear(h1, Ws[4], p[4][1])
            gi = torch.nn.functional.gelu(i)
            o = linear(gi, Ws[5], p[5][1])
            mo = scaled_mask(o, ph2) if ph2 else None
            r2 = torch.addcmul(h1, o, mo) if mo is not None else o.add_(h1)
            y, mean2, rstd2 = torch.native_layer_norm(r2, [H], g2, be2, eps[1])
            ctx.meta, ctx.shape = meta, shape
            # everything through save_for_backward: pre-flight counts saved tensors (its hooks)
            ctx.save_for_backward(X, att, r1, mean1, rstd1, h1, i, gi, r2, mean2, rstd2, ma, mo, *Ws, *params,
                                  *(t for run in saved_runs for t in run))
            return y.view(shape)

        @staticmethod
        def backward(ctx: Any, dy: Any) -> tuple:
            scales, eps, probs, h, scaling, groups = ctx.meta
            saved = ctx.saved_tensors
            X, att, r1, mean1, rstd1, h1, i, gi, r2, mean2, rstd2, ma, mo = saved[:13]
            Ws, params, rest = saved[13:19], saved[19:47], saved[47:]
            runs = [rest[6 * g:6 * g + 6] for g in range(len(groups))]
            p = [params[4 * j:4 * j + 4] for j in range(6)]
            g1, be1, g2, be2 = params[24:28]
            need = ctx.needs_input_grad
            need_x, need_p = need[0], need[2:]
            npj = [need_p[4 * j:4 * j + 4] for j in range(6)]
            T, H = X.shape
            grads: list = [None] * len(params)

            def set_linear(j: int, dY: Any, inp: Any) -> None:
                W, b, A, B = p[j]
                grads[4 * j:4 * j + 4] = linear_grads(dY, inp, W, b, A, B, scales[j], npj[j])

            # y = LN2(r2), r2 = h1 + drop(o)
            dr2, dg2, db2 = aten.native_layer_norm_backward(dy.reshape(T, H), r2, [H], mean2, rstd2, g2, be2,
                                                            [True, need_p[26], need_p[27]])
            grads[26], grads[27] = dg2, db2
            do = dr2 * mo if mo is not None else dr2
            set_linear(5, do, gi)
            di = aten.gelu_backward(torch.mm(do, Ws[5]), i)
            set_linear(4, di, h1)
            dh1 = torch.addmm(dr2, di, Ws[4])
            # h1 = LN1(r1), r1 = x + drop(a)
            dr1, dg1, db1 = aten.native_layer_norm_backward(dh1, r1, [H], mean1, rstd1, g1, be1,
                                                            [True, need_p[24], need_p[25]])
            grads[24], grads[25] = dg1, db1
            da = dr1 * ma if ma is not None else dr1
            set_linear(3, da, att)
            datt = torch.mm(da, Ws[3])
            # attention, run by run
            want = [need_x or any(npj[j]) for j in range(3)]  # q, k, v: does anything need its grad?
            dqkv = [torch.empty_like(X) if w else None for w in want]
            for (t0, n, length), (qh, kh, vh, P, m, Pd) in zip(groups, runs):
                dO = heads(datt, t0, n, length, h)
                if want[2]:
                    put_heads(dqkv[2], torch.bmm(Pd.transpose(1, 2), dO), t0, n, length, h)
                if want[0] or want[1]:
                    dP = torch.bmm(dO, vh.transpose(1, 2))
                    if m is not None:
                        dP.mul_(m)
                    dS = torch._softmax_backward_data(dP, P, -1, P.dtype).mul_(scaling)
                    if want[0]:
                        put_heads(dqkv[0], torch.bmm(dS, kh), t0, n, length, h)
                    if want[1]:
                        put_heads(dqkv[1], torch.bmm(dS.transpose(1, 2), qh), t0, n, length, h)
            dx = None
            if need_x:
                dx = dr1  # free now: da (which may be dr1 itself) has been used
                for j in range(3):
                    dx.addmm_(dqkv[j], Ws[j])
                dx = dx.view(ctx.shape)
            for j in range(3):
                if any(npj[j]):
                    set_linear(j, dqkv[j], X)
            return (dx, None, *grads)

    return LayerFunction


@functools.cache
def _layer_class() -> type:
    from transformers.models.bert.modeling_bert import BertLayer

    return BertLayer


@functools.cache
def _fused_layer_class() -> type:
    import torch

    from ftstudio.engine.packing import PACK_KEY

    fn = _function()
    base = _layer_class()

    class FusedBertLayer(base):
        """transformers' ``BertLayer`` whose packed CPU training calls run as one autograd
        function (engine/fused_bert.py); every other call runs the modules."""

        def forward(self, hidden_states: Any, *args: Any, **kwargs: Any) -> Any:
            pack = kwargs.get(PACK_KEY)
            if (pack is None or not self.training or hidden_states.device.type != "cpu"
                    or hidden_states.dtype != torch.float32 or len(pack.groups) > MAX_RUNS
                    or args[1:2] not in ((), (None,)) or kwargs.get("encoder_hidden_states") is not None
                    or kwargs.get("cache") is not None or kwargs.get("past_key_values") is not None
                    or kwargs.get("output_attentions") or torch.is_autocast_enabled("cpu")
                    or torch.compiler.is_compiling()):
                return super().forward(hidden_states, *args, **kwargs)
            spec = layer_specs(self)
            if spec is None:
                return super().forward(hidden_states, *args, **kwargs)
            specs, lns, probs, h, scaling = spec
            meta = (tuple(s[4] for s in specs), (lns[0].eps, lns[1].eps), probs, h, scaling, pack.groups)
            return fn.apply(hidden_states, meta, *_flat(specs, lns))

    FusedBertLayer.__module__ = __name__
    return FusedBertLayer


def enable(model: Any, device: Any) -> int:
    """Swap the class of the model's ``BertLayer`` modules on CPU (still instances of it); the
    number swapped. Call after the technique and engine/lowrank.py have prepared the model."""
    if getattr(device, "type", str(device)) != "cpu":
        return 0
    mb = sys.modules.get("transformers.models.bert.modeling_bert")
    if mb is None:
        return 0
    cls, n = _fused_layer_class(), 0
    for m in model.modules():
        if type(m) is mb.BertLayer:
            m.__class__ = cls
            n += 1
    return n


def disable(model: Any) -> None:
    """Back to transformers' ``BertLayer`` (before ``torch.compile`` traces the layers)."""
    if "transformers.models.bert.modeling_bert" not in sys.modules:
        return
    cls = _fused_layer_class()
    for m in model.modules():
        if type(m) is cls:
            m.__class__ = _layer_class()
