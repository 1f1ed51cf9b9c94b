"""Embedding-table gradients that touch only the rows a batch used (CPU training steps).

A batch of 32 SST-2 sentences uses a few hundred of MiniLM's 30,522 vocabulary rows, yet torch's
backward of ``nn.Embedding`` builds a whole dense gradient each step: a fresh 47 MB tensor,
zero-filled (first touch of new pages), the rows added, then freed by ``zero_grad``. On this
2-core CPU that was 9 ms of a 210 ms full fine-tuning step (profile in docs/BENCHMARKS.md).

Here a large table's gradient is one persistent buffer: the backward adds the batch's rows into
it (``index_add_``, the padding row skipped as torch skips it) and hands it to the optimizer as
``weight.grad``; when the next training backward finds ``weight.grad`` set to None by
``zero_grad``, it zeroes just the rows it added last time and attaches the buffer again. The
values the optimizer and clipping see are those of torch's dense gradient (the rows of repeated
tokens are summed in another order: float noise).

Only where that is safe:
- CPU, one process (DDP reduces gradients in hooks on the gradient's accumulation, which this
  path does not pass through), a plain ``nn.Embedding`` (no max_norm, no scale_grad_by_freq,
  not sparse) of at least ``MIN_ELEMENTS``, whose weight no other module shares (a tied LM head
  adds a dense gradient) and that has no gradient hooks (BitFit's masks);
- only inside ``collecting()``, which the training loop puts around its ``backward``: every
  other gradient (EWC's Fisher by ``torch.autograd.grad``, pre-flight's probe) is torch's dense
  one, computed the usual way;
- if anything else adds a gradient to the same weight through autograd while the buffer is
  attached (an EWC penalty on all parameters), the weight's gradient hook marks it and the buffer
  is zeroed whole next time.
"""
from __future__ import annotations

import contextlib
import functools
import weakref
from typing import Any

MIN_ELEMENTS = 1 << 20  # 4 MB of fp32: smaller tables (positions, token types) gain nothing
_collecting = 0
_tables: "weakref.WeakSet[_Rows]" = weakref.WeakSet()


@contextlib.contextmanager
def collecting() -> Any:
    """Around a training step's ``backward``: tables' gradients go to their row buffers."""
    global _collecting
    _collecting += 1
    try:
        yield
    finally:
        _collecting -= 1


class _Rows:
    """A table's buffer and the rows added to it since it was last zeroed."""

    def __init__(self) -> None:
        self.buf: Any = None
        self.touched: list = []
        self.whole = False  # something else added to the attached buffer: zero all of it
        self.hooked: Any = None  # the weight whose incoming gradients are watched
        self.hook_id: int | None = None

    def __deepcopy__(self, memo: dict) -> "_Rows":  # a copied model starts without a buffer
        return _Rows()

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def grad_for(self, weight: Any) -> Any:
        """The tensor to add this backward's rows to: the attached buffer, another gradient
        already there, or the buffer freshly zeroed and attached."""
        import torch

        if weight.grad is not None:
            return weight.grad
        if self.hooked is not weight:  # (a copied model's weight is a new tensor: watch it too)
            self.hook_id = weight.register_hook(self.incoming).id
            self.hooked = weight
        if self.buf is None:
            self.buf = torch.zeros_like(weight, memory_format=torch.contiguous_format)
        elif self.whole:
            self.buf.zero_()
        else:
            for idx in self.touched:
                self.buf.index_fill_(0, idx, 0.0)
        self.touched, self.whole = [], False
        weight.grad = self.buf
        return self.buf

    def rows(self) -> Any:
        """The distinct rows that can be non-zero in the attached buffer, or None if any can."""
        import torch

        if self.whole:
            return None
        if not self.touched:
            return torch.empty(0, dtype=torch.long, device=self.buf.device)
        return torch.unique(torch.cat(self.touched))

    def incoming(self, grad: Any) -> None:
        """The weight's gradient hook: autograd is about to add ``grad`` (dense, from another use
        of the weight) into its ``.grad``; if that is the attached buffer, any row may change.
        (It is called with None for this module's own lookups, which return no gradient.)"""
        if grad is not None and self.buf is not None and self.hooked is not None and self.hooked.grad is self.buf:
            self.whole = True

    def others_hook(self, weight: Any) -> bool:
        """Whether the weight has gradient hooks besides this one (BitFit's masks)."""
        hooks = weight._backward_hooks
        return bool(hooks) and any(k != self.hook_id for k in hooks)


def _function() -> Any:
    import torch

    class RowEmbedding(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, ids: Any, weight: Any, module: Any) -> Any:
            ctx.save_for_backward(ids)
            ctx.module, ctx.rows, ctx.dtype = module, weight.shape[0], weight.dtype
            return torch.nn.functional.embedding(ids, weight, module.padding_idx)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> tuple:
            (ids,) = ctx.saved_tensors
            module = ctx.module
            pad = module.padding_idx
            if not _collecting:
                dense = torch.ops.aten.embedding_dense_backward(grad, ids, ctx.rows, -1 if pad is None else pad,
                                                                False)
                return None, dense.to(ctx.dtype), None
            state = module._ftstudio_rows
            target = state.grad_for(module.weight)
            idx = ids.reshape(-1)
            rows = grad.reshape(-1, grad.shape[-1]).to(target.dtype)
            if pad is not None:
                keep = idx != pad
                idx, rows = idx[keep], rows[keep]
            target.index_add_(0, idx, rows)
            if target is state.buf:
                state.touched.append(idx)
            return None, None, None

    return RowEmbedding


_fn = functools.cache(_function)


@functools.cache
def _module_class() -> type:
    import torch

    class RowGradEmbedding(torch.nn.Embedding):
        """nn.Embedding whose training gradient is added row by row (engine/row_grads.py)."""

        def forward(self, ids: Any) -> Any:
            w = self.weight
            reads = self.__dict__.get("_ftstudio_reads")  # engine/table_optim.py: rows kept lazily
            if reads is not None:
                reads(ids)
            if self.training and w.requires_grad and torch.is_grad_enabled() and not self._ftstudio_rows.others_hook(w):
                return _fn().apply(ids, w, self)
            return super().forward(ids)

    RowGradEmbedding.__module__ = __name__
    return RowGradEmbedding


def enable(model: Any, device: Any, world_size: int = 1) -> int:
    """Swap the class of the model's large, untied ``nn.Embedding`` tables on a one-process CPU
    run; the number swapped."""
    import torch

    if getattr(device, "type", str(device)) != "cpu" or world_size > 1:
        return 0
    uses: dict[int, int] = {}
    for _name, p in model.named_parameters(remove_duplicate=False):
        uses[id(p)] = uses.get(id(p), 0) + 1
    cls, n = _module_class(), 0
    for m in model.modules():
        if type(m) is not torch.nn.Embedding or m.max_norm is not None or m.scale_grad_by_freq or m.sparse:
            continue
        if m.weight.numel() < MIN_ELEMENTS or uses.get(id(m.weight), 0) != 1:
            continue
        m.__class__ = cls
        m._ftstudio_rows = _Rows()
        _tables.add(m._ftstudio_rows)
        n += 1
    return n


def used_rows(grad: Any) -> Any:
    """For a gradient that is a table's attached row buffer: the distinct rows that can be
    non-zero in it (a LongTensor); None for any other gradient (all of it may be non-zero)."""
    for t in list(_tables):
        if t.buf is not None and t.buf is grad:
            return t.rows()
    return None
