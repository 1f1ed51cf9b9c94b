"""AdamW over the embedding-table rows a run can touch (CPU full fine-tuning).

MiniLM's word table is 30,522 x 384: half of the model's parameters. Fused AdamW reads and writes
every row of it each step (weight, gradient, two moments: 8 ms of a 205 ms full fine-tuning step
on this 2-core CPU, profile in docs/BENCHMARKS.md), yet the first 4,096 SST-2 rows use 6,712
distinct tokens, and a row no training batch ever uses has a zero gradient and zero moments for
the whole run: AdamW's update of it is its weight decay alone, ``w <- w (1 - lr wd)``.

So the rows the training data uses (U, known before the first step) get AdamW through a compact
K x H shadow parameter in the table's own parameter group (same lr, schedule, weight decay,
clipping factor and step count as the rest of its group): each step its gradient is gathered from
the table's row buffer (engine/row_grads.py), fused AdamW steps it with everything else, and the
rows are written back. The other rows keep their starting values P0 and the product C of their
decay factors (float64); they are set to ``P0 * C`` whenever anything may read them (evaluation,
checkpoints, the end of a task): a function of the step alone, so a resumed run (C is in the
checkpoint) gets the same bits as an uninterrupted one, whenever it stopped. Rows in U get the
same AdamW arithmetic as with the dense table; rows outside U get one multiplication by C instead
of one per step (float rounding). ``state_dict`` gives the dense table's format (moments zero
outside U), so a checkpoint loads into either optimizer.

Only where that is safe: a one-process CPU run with torch's fused AdamW; the table input_ids are
looked up in (``get_input_embeddings``), with a row-buffer gradient; a technique whose loss reads
the weights only through the model's forward (``Technique.weights_only_through_forward``: full
fine-tuning; an EWC penalty would read the lazy rows directly). U holds the padding row too (read
by padded batches; no gradient). A lookup of a row outside U (a batch from other data) brings the
rows up to date first; a step that then finds a gradient outside U, or a dense gradient from
another use of the weight, hands the table back to the dense optimizer for good, exactly (its
rows outside U are up to date and their moments are zero, as they would be).
"""
from __future__ import annotations

from typing import Any, Iterable

DECAY_KEY = "ftstudio_outside_decay"  # C, in the table's optimizer state (float64)


def token_rows(splits: Iterable) -> Any:
    """The distinct token ids of the given splits (a sorted LongTensor); None if they have none."""
    import numpy as np
    import torch

    parts = []
    for examples in splits:
        if hasattr(examples, "token_id_arrays"):  # an ExampleTable: its Arrow values
            parts += examples.token_id_arrays()
        else:
            parts += [np.asarray(e["input_ids"], dtype=np.int64) for e in examples]
    if not parts:
        return None
    ids = np.unique(np.concatenate(parts).astype(np.int64))
    return torch.from_numpy(ids) if len(ids) else None


class _Table:
    def __init__(self, weight: Any, rows: Any) -> None:
        import torch

        self.weight = weight
        self.rows = rows  # U, sorted
        n = weight.shape[0]
        self.lut = torch.full((n,), -1, dtype=torch.long)
        self.lut[rows] = torch.arange(len(rows))
        keep = torch.ones(n, dtype=torch.bool)
        keep[rows] = False
        self.outside = keep.nonzero().flatten()
        with torch.no_grad():
            self.shadow = torch.nn.Parameter(weight.detach().index_select(0, rows))
            self.p0: Any = weight.detach().index_select(0, self.outside)
        self.shadow_grad = torch.empty_like(self.shadow)
        self.decay = 1.0  # C: product of (1 - lr wd) over the steps taken
        self.synced_decay = 1.0  # the C the outside rows of the weight now hold
        self.version = weight._version  # the weight as the shadow last matched it

    def sync(self) -> None:
        """The rows outside U to ``P0 * C`` (if C moved since they were last set)."""
        import torch

        if self.p0 is None or self.decay == self.synced_decay:
            return
        with torch.no_grad():
            # in float64, rounded once (C alone in float32 would round it before the product)
            self.weight.index_copy_(0, self.outside, (self.p0.double() * self.decay).to(self.p0.dtype))
        self.synced_decay = self.decay
        self.version = self.weight._version


class _Reads:
    """Called by the table's lookups (engine/row_grads.py) with the ids about to be read: a row
    outside U (a batch from outside the data the rows were chosen from) is brought up to date
    first; the step after will then find its gradient and hand the table back to dense AdamW."""

    def __init__(self, table: _Table | None) -> None:
        self.table = table

    def __call__(self, ids: Any) -> None:
        t = self.table
        if t is None or t.decay == t.synced_decay or ids.device.type != "cpu":
            return
        if bool((t.lut[ids.reshape(-1)] < 0).any()):
            t.sync()

    def __deepcopy__(self, memo: dict) -> "_Reads":  # a copied model is not this optimizer's
        return _Reads(None)

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.table = None


def _class() -> type:
    import torch

    from ftstudio.engine import row_grads

    class RowsAdamW(torch.optim.AdamW):
        """torch's fused AdamW whose embedding tables step only the rows the data uses."""

        _ftstudio_tables: list

        def _prepare(self, t: _Table) -> bool:
            """Set up the table's shadow for this step; False: hand the table back (densify)."""
            import torch

            g = t.weight.grad
            if g is None:
                t.shadow.grad = None  # AdamW skips a parameter without gradient: so does the shadow
                return True
            used = row_grads.used_rows(g)
            if used is None or (len(used) and bool((t.lut[used] < 0).any())):
                return False
            if t.p0 is None:  # loaded from a checkpoint without C: these are the starting values
                t.p0 = t.weight.detach().index_select(0, t.outside)
                t.decay = t.synced_decay = 1.0
            with torch.no_grad():
                if t.weight._version != t.version:  # written by someone else (a checkpoint load)
                    torch.index_select(t.weight.detach(), 0, t.rows, out=t.shadow.data)
                torch.index_select(g, 0, t.rows, out=t.shadow_grad)
            t.shadow.grad = t.shadow_grad
            return True

        def _group(self, t: _Table) -> dict:
            """The table's parameter group (looked up each time: load_state_dict replaces them)."""
            return next(g for g in self.param_groups if any(p is t.weight or p is t.shadow for p in g["params"]))

        def _swap(self, t: _Table, to_shadow: bool) -> None:
            params = self._group(t)["params"]
            old, new = (t.weight, t.shadow) if to_shadow else (t.shadow, t.weight)
            params[next(i for i, p in enumerate(params) if p is old)] = new

        @torch.no_grad()
        def step(self, closure: Any = None) -> Any:
            live = []
            for t in list(self._ftstudio_tables):
                if self._prepare(t):
                    live.append(t)
                else:
                    self.densify(t)
            stepped = [t for t in live if t.shadow.grad is not None]
            for t in stepped:
                self._swap(t, True)
            try:
                out = super().step(closure)
            finally:
                for t in stepped:
                    self._swap(t, False)
            for t in stepped:
                t.weight.index_copy_(0, t.rows, t.shadow.detach())
                t.version = t.weight._version
                t.shadow.grad = None
                group = self._group(t)
                t.decay *= 1.0 - float(group["lr"]) * float(group["weight_decay"])
            return out

        def sync(self) -> None:
            for t in self._ftstudio_tables:
                t.sync()

        @staticmethod
        def _dense_state(t: _Table, s: dict | None) -> dict | None:
            """A shadow's AdamW state as the dense table's (moments zero outside U)."""
            import torch

            if not s:
                return None
            out = {}
            for k, v in s.items():
                if torch.is_tensor(v) and tuple(v.shape) == tuple(t.shadow.shape):
                    full = torch.zeros_like(t.weight, memory_format=torch.contiguous_format)
                    out[k] = full.index_copy_(0, t.rows, v)
                else:
                    out[k] = v
            return out

        def densify(self, t: _Table) -> None:
            """The table back to the dense optimizer, for the rest of the run."""
            t.sync()
            dense = self._dense_state(t, self.state.pop(t.shadow, None))
            if dense is not None:
                self.state[t.weight] = dense
            t.shadow.grad = None
            self._ftstudio_tables.remove(t)

        def state_dict(self) -> dict:
            held = {}
            for t in self._ftstudio_tables:
                held[t] = self.state.pop(t.shadow, None)
                dense = self._dense_state(t, held[t])
                if dense is not None:
                    dense[DECAY_KEY] = float(t.decay)  # a float: load_state_dict casts tensors to fp32
                    self.state[t.weight] = dense
            try:
                return super().state_dict()
            finally:
                for t, s in held.items():
                    self.state.pop(t.weight, None)
                    if s is not None:
                        self.state[t.shadow] = s

        def load_state_dict(self, state_dict: dict) -> None:
            super().load_state_dict(state_dict)
            for t in self._ftstudio_tables:
                dense = self.state.pop(t.weight, None)
                if not dense:
                    continue
                c = dense.pop(DECAY_KEY, None)
                self.state[t.shadow] = {
                    k: (v.index_select(0, t.rows) if hasattr(v, "shape") and tuple(v.shape) == tuple(t.weight.shape)
                        else v) for k, v in dense.items()}
                if c is None:  # a dense run's checkpoint: the outside rows' decay starts here
                    t.p0, t.decay, t.synced_decay = None, 1.0, 1.0
                else:  # the weights loaded next hold P0 * C already
                    t.decay = t.synced_decay = float(c)
                t.version = -1  # gather the shadow from the loaded weights before the next step

    RowsAdamW.__module__ = __name__
    return RowsAdamW


_cls: Any = None


def enable(optimizer: Any, model: Any, splits: Iterable, device: Any, world_size: int = 1) -> int:
    """Give the optimizer's large row-buffer tables (engine/row_grads.py) compact AdamW over the
    rows the training splits use; the number of tables."""
    global _cls
    import torch

    from ftstudio.engine.optim import folds_clipping

    if getattr(device, "type", str(device)) != "cpu" or world_size > 1 or not folds_clipping(optimizer):
        return 0
    if type(optimizer) is not torch.optim.AdamW or optimizer.state:
        return 0
    try:  # the table input_ids are looked up in (positions and token types are other rows)
        m = model.get_input_embeddings()
    except (AttributeError, NotImplementedError):
        return 0
    tables = [m] if hasattr(m, "_ftstudio_rows") and m.weight.requires_grad else []
    if not tables:
        return 0
    rows = token_rows(splits)
    if rows is None:
        return 0
    found = []
    for m in tables:
        w = m.weight
        r = rows[rows < w.shape[0]]
        if m.padding_idx is not None:  # read by padded batches (no gradient: it only decays)
            r = torch.unique(torch.cat([r, torch.tensor([m.padding_idx % w.shape[0]])]))
        if len(r) == 0 or len(r) > w.shape[0] // 2:
            continue  # most rows used: the gather and write-back would cost more than they save
        if not any(p is w for g in optimizer.param_groups for p in g["params"]):
            continue
        t = _Table(w, r)
        m._ftstudio_reads = _Reads(t)
        found.append(t)
    if not found:
        return 0
    if _cls is None:
        _cls = _class()
    optimizer.__class__ = _cls
    optimizer._ftstudio_tables = found
    return len(found)


def sync(optimizer: Any) -> None:
    """Bring every compact table's other rows up to date (before anything reads the weights)."""
    fn = getattr(optimizer, "sync", None)
    if fn is not None and hasattr(optimizer, "_ftstudio_tables"):
        fn()
