"""The training loop for one task, and evaluation. Readable in one screen on purpose:
every technique plugs in through hooks, the loop itself never special-cases one.
"""
from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable

from ftstudio.engine import distributed as dist
from ftstudio.engine import row_grads
from ftstudio.engine.context import RunContext, model_inputs
from ftstudio.engine.data import collate, count_tokens, example_lengths, iter_example_batches, length_grouped_batches
from ftstudio.engine.errors import Cancelled, UserError
from ftstudio.engine.events import Eval, Step
from ftstudio.engine.memory import MemoryProbe
from ftstudio.engine.optim import folds_clipping, lr_factor, set_lr
from ftstudio.engine.optim import step as optim_step
from ftstudio.i18n import _t


class CancelToken:
    """Set from any thread; the loop checks it once per step."""

    def __init__(self) -> None:
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        return self._cancelled


@dataclass
class LoopState:
    """Everything needed to continue a run exactly where it stopped."""

    step: int = 0  # optimizer steps done in this task
    epoch: int = 0
    batch_in_epoch: int = 0  # micro-batches of the current epoch already consumed
    samples: int = 0
    tokens: int = 0
    best_metric: float | None = None
    evals_without_improvement: int = 0
    last_eval: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def autocast_for(device: Any, precision: str) -> Callable[[], Any]:
    import torch

    if device.type == "cpu" or precision == "fp32":
        return nullcontext  # bf16 on this class of CPU is ~500x slower: fp32 on CPU
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


def make_forward(ctx: RunContext, task_masks: Any = None) -> Callable:
    """forward(model, batch) -> (outputs, loss). ``task_masks[t]`` marks task t's label slice
    (per-task heads); logits outside it are masked before the loss and the argmax."""
    import torch
    import torch.nn.functional as F

    autocast = ctx.autocast or nullcontext

    def forward(model: Any, batch: dict) -> tuple[Any, Any]:
        inputs = model_inputs(batch)
        with autocast():
            if task_masks is None:
                out = model(**inputs)
                return out, out.loss
            labels = inputs.pop("labels")
            out = model(**inputs)
        logits = out.logits.float()
        mask = task_masks[batch["task_id"]]
        logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
        out.logits = logits
        return out, F.cross_entropy(logits, labels)

    return forward


def train_task(
    ctx: RunContext,
    model: Any,
    technique: Any,
    optimizer: Any,
    train_examples: list[dict],
    eval_fn: Callable[[], dict],
    cancel: CancelToken,
    state: LoopState,
    total_steps: int,
    step_offset: int,
    checkpoint_fn: Callable[[LoopState], None],
    scaler: Any = None,
) -> LoopState:
    """Run optimizer steps until ``total_steps`` for this task (resumable from ``state``)."""
    import torch

    cfg = ctx.config.training
    pad_id = ctx.tokenizer.pad_token_id if ctx.tokenizer.pad_token_id is not None else 0
    lengths = example_lengths(train_examples)
    warmup = int(cfg.warmup_ratio * total_steps)
    probe = MemoryProbe(ctx.device)
    accum = cfg.grad_accum
    trainable = [p for p in model.parameters() if p.requires_grad]
    changes = bool(technique.trainable_set_changes)
    folds = folds_clipping(optimizer)
    t0 = time.perf_counter()
    first_step = state.step
    samples0, tokens0 = state.samples, state.tokens  # a resumed run's state counts earlier sessions
    window: list[tuple[float, int, int]] = []  # (time, samples, tokens) for throughput
    model.train()
    while state.step < total_steps:
        step_at_epoch_start, from_epoch_start = state.step, state.batch_in_epoch == 0
        batch_ids = length_grouped_batches(
            lengths, cfg.batch_size, cfg.seed, state.epoch + 1000 * ctx.task_index,
            ctx.rank, ctx.world_size, cfg.group_by_length,
        )
        it = technique.transform_batches(iter_example_batches(train_examples, batch_ids[state.batch_in_epoch:]))
        micro, loss_sum, extra_sum = 0, 0.0, {}
        # a stopped run keeps its real peak memory
        for examples in _until_cancelled(it, cancel, lambda: setattr(state, "peak_memory", probe.final_peak()),
                                         ctx.device):
            if micro == 0:
                technique.on_step_start(step_offset + state.step, model, optimizer)
                if changes:  # gradual unfreezing turns parameters on between steps
                    trainable = [p for p in model.parameters() if p.requires_grad]
            batch = (ctx.collate or collate)(examples, pad_id, ctx.device)
            outputs, loss = ctx.forward(model, batch)
            loss, extra = technique.compute_loss(model, batch, outputs, loss)
            with row_grads.collecting():
                (scaler.scale(loss / accum) if scaler else loss / accum).backward()
            loss_sum += float(loss.detach()) / accum
            for k, v in extra.items():
                extra_sum[k] = extra_sum.get(k, 0.0) + float(v) / accum
            state.batch_in_epoch += 1
            state.samples += len(examples)
            state.tokens += count_tokens(batch)
            micro += 1
            if micro < accum:
                continue
            # -- optimizer step --
            lrs = set_lr(optimizer, lr_factor(state.step, warmup, total_steps))
            if scaler:
                scaler.unscale_(optimizer)
            grad_norm = clip_gradients(trainable, cfg.max_grad_norm, None if scaler or not folds else optimizer)
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optim_step(optimizer)
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            ctx.step = step_offset + state.step
            ctx.epoch = state.epoch + state.batch_in_epoch / max(1, len(batch_ids))
            technique.on_step_end(ctx.step, model, optimizer)
            now = time.perf_counter()
            window.append((now, state.samples, state.tokens))
            window = window[-20:]
            if state.step % cfg.log_every == 0 or state.step == total_steps:
                loss_val, sps_local = dist.all_reduce_mean([loss_sum], ctx.device)[0], 0.0
                if len(window) > 1:
                    dt = window[-1][0] - window[0][0]
                    sps_local = (window[-1][1] - window[0][1]) / dt if dt > 0 else 0.0
                    tps_local = (window[-1][2] - window[0][2]) / dt if dt > 0 else 0.0
                else:
                    dt = now - t0
                    sps_local = (state.samples - samples0) / dt if dt > 0 else 0.0
                    tps_local = (state.tokens - tokens0) / dt if dt > 0 else 0.0
                sps, tps = dist.all_reduce_sum([sps_local, tps_local], ctx.device)
                elapsed = now - t0
                rate = elapsed / max(1, state.step - first_step)
                ctx.emit(Step(
                    step=ctx.step, total_steps=ctx.total_steps, epoch=round(ctx.epoch, 4), loss=loss_val,
                    lr=lrs, grad_norm=grad_norm if math.isfinite(grad_norm) else -1.0,
                    samples_per_second=sps, tokens_per_second=tps, memory=probe.sample(),
                    elapsed=elapsed, eta=rate * (ctx.total_steps - ctx.step), extra=extra_sum,
                    task=ctx.task_index,
                ))
            micro, loss_sum, extra_sum = 0, 0.0, {}
            if cfg.eval_every and state.step % cfg.eval_every == 0 and state.step < total_steps:
                metrics = eval_fn()
                model.train()
                state.last_eval = metrics
                if _early_stop(state, metrics, cfg, ctx.task):
                    ctx.log(_t("early stopping: no improvement in {early_stopping_patience} evaluations",
                               early_stopping_patience=cfg.early_stopping_patience))
                    state.peak_memory = probe.final_peak()  # type: ignore[attr-defined]
                    return state
            # checkpoints: every save_every steps, or by default with each evaluation, so a crash
            # loses at most one eval interval (resume continues from there)
            every = cfg.save_every or cfg.eval_every
            if every and state.step % every == 0 and state.step < total_steps:
                checkpoint_fn(state)
            if state.step >= total_steps:
                break
        else:
            if from_epoch_start and state.step == step_at_epoch_start:
                # a whole epoch without one optimizer step: looping on would never end
                raise UserError(
                    _t("grad_accum {accum} is more than the {n_batch_ids} batches of an epoch: no optimizer "
                       "step can be taken; lower grad_accum or batch_size",
                       accum=accum, n_batch_ids=len(batch_ids))
                )
            optimizer.zero_grad(set_to_none=True)  # drop a partial accumulation at epoch end
            technique.on_epoch_end(state.epoch, model, optimizer)
            state.epoch += 1
            state.batch_in_epoch = 0
            continue
    state.peak_memory = probe.final_peak()  # type: ignore[attr-defined]
    return state


def clip_gradients(params: list, max_norm: float | None, fold_into: Any = None) -> float:
    """``clip_grad_norm_`` without its work where it changes nothing: torch always multiplies
    every gradient by min(1, max_norm / (norm + 1e-6)), a full pass over the gradients (a few %
    of a CPU step) that is the identity whenever that factor is 1; and an embedding table's row
    buffer (engine/row_grads.py) is normed and scaled on the rows it holds, the others being
    zero. Same factor, same result (the table's norm summed in another order: float noise).

    ``fold_into``: a fused AdamW (``optim.folds_clipping``) that divides the gradients by its
    ``grad_scale`` as it reads them; the factor is handed to it for the next ``optim.step``
    instead of a separate pass that scales every gradient (g / (1/c) for g * c: float noise).
    The norm is taken by one dot product per tensor (MKL's, faster here than ``vector_norm``)."""
    import torch

    grads, rows = [], []
    for p in params:
        if p.grad is not None:
            grads.append(p.grad)
            rows.append(row_grads.used_rows(p.grad))
    if not grads:
        return 0.0
    parts = [(g if r is None else g.index_select(0, r)).reshape(-1) for g, r in zip(grads, rows)]
    if all(x.dtype == torch.float32 and x.device.type == "cpu" for x in parts):
        norm = torch.stack([x.dot(x) for x in parts]).sum().sqrt()
    else:
        norm = torch.nn.utils.get_total_norm(parts, foreach=True)
    n = float(norm)
    if max_norm and max_norm / (n + 1e-6) < 1.0:
        if fold_into is not None:
            fold_into.grad_scale = ((norm + 1e-6) / max_norm).to(torch.float32)
            return n
        coef = max_norm / (norm + 1e-6)  # as clip_grads_with_norm_ (clamped: it is < 1 here)
        dense = [g for g, r in zip(grads, rows) if r is None]
        if dense:
            torch._foreach_mul_(dense, coef)
        for g, r in zip(grads, rows):
            if r is not None:
                g.index_copy_(0, r, g.index_select(0, r).mul_(coef))
    return n


def _until_cancelled(batches: Any, cancel: CancelToken, on_cancel: Callable[[], None] = lambda: None,
                     device: Any = None) -> Any:
    """The batches, with the cancel token checked *before* each is fetched: fetching can draw
    from a replay buffer (advancing its RNG), and the cancel checkpoint must hold the state as of
    the last trained step, or the resumed run skips that draw. Under torchrun the ranks decide
    together (one tiny all-reduce per batch): a SIGTERM reaches them a moment apart, and a rank
    that stopped alone would leave the others waiting in their gradient all-reduce forever."""
    it = iter(batches)
    while True:
        stop = cancel.cancelled
        if dist.world_size() > 1:
            stop = dist.all_reduce_sum([1.0 if stop else 0.0], device)[0] > 0
        if stop:
            cancel.cancel()
            on_cancel()
            raise Cancelled()
        try:
            examples = next(it)
        except StopIteration:
            return
        yield examples


def _early_stop(state: LoopState, metrics: dict, cfg: Any, task: str) -> bool:
    if not cfg.early_stopping_patience:
        return False
    key, sign = ("accuracy", 1.0) if task == "classification" else ("eval_loss", -1.0)
    value = metrics.get(key)
    if value is None:
        return False
    if state.best_metric is None or sign * value > sign * state.best_metric:
        state.best_metric = value
        state.evals_without_improvement = 0
        return False
    state.evals_without_improvement += 1
    return state.evals_without_improvement >= cfg.early_stopping_patience


def eval_batch_size(batch_size: int) -> int:
    return max(batch_size * 2, 8)  # no gradients: twice the training batch fits


def eval_batch_count(examples: int, batch_size: int, rank: int = 0, world_size: int = 1) -> int:
    """The batches ``evaluate`` runs on this rank over ``examples`` (what its progress counts)."""
    n = -(-examples // eval_batch_size(batch_size))
    return len(range(rank, n, world_size))


def evaluate(ctx: RunContext, model: Any, examples: list[dict], num_labels: int | None = None,
             what: str | None = None, label_ids: list[int] | None = None, majority: int | None = None) -> dict:
    """Accuracy + macro-F1 (classification) or loss + perplexity (LM), with progress events.
    ``majority`` (the most frequent training label's id) adds ``majority_baseline``, the accuracy
    of always answering it, and ``beats_baseline``."""
    import torch

    what = what or _t("Evaluating")
    model.eval()
    bs = eval_batch_size(ctx.config.training.batch_size)
    pad_id = ctx.tokenizer.pad_token_id if ctx.tokenizer.pad_token_id is not None else 0
    lengths = example_lengths(examples)
    order = sorted(range(len(examples)), key=lengths.__getitem__)
    batches = [order[s:s + bs] for s in range(0, len(order), bs)]
    # shard eval by rank, then sum the counts
    batches = batches[ctx.rank::ctx.world_size]
    total_loss, total_n = 0.0, 0
    preds: list[int] = []
    golds: list[int] = []
    t_last = time.perf_counter()
    with torch.no_grad():
        for b_i, b in enumerate(batches):
            batch = collate(next(iter_example_batches(examples, [b])), pad_id, ctx.device)
            outputs, loss = ctx.forward(model, batch)
            if ctx.task == "classification":
                total_loss += float(loss) * len(b)
                total_n += len(b)
                preds += outputs.logits.argmax(-1).tolist()
                golds += batch["labels"].tolist()
            else:
                n_tok = int((batch["labels"][:, 1:] != -100).sum())
                total_loss += float(loss) * n_tok
                total_n += n_tok
            if time.perf_counter() - t_last > 0.5:
                ctx.progress(what, b_i + 1, len(batches))
                t_last = time.perf_counter()
    ctx.progress(what, len(batches), len(batches))
    if ctx.task == "classification":
        labels = label_ids if label_ids is not None else list(range(num_labels or 0))
        correct = sum(int(p == g) for p, g in zip(preds, golds))
        naive = sum(int(g == majority) for g in golds)
        conf = _confusion(preds, golds, labels)
        s = dist.all_reduce_sum([total_loss, total_n, correct, naive] + conf, ctx.device)
        total_loss, total_n, correct, naive, conf = s[0], s[1], s[2], s[3], s[4:]
        out = {
            "accuracy": correct / max(1, total_n),
            "macro_f1": _macro_f1(conf, len(labels)),
            "eval_loss": total_loss / max(1, total_n),
        }
        if majority is not None:
            out["majority_baseline"] = naive / max(1, total_n)
            out["beats_baseline"] = out["accuracy"] > out["majority_baseline"]
        return out
    total_loss, total_n = dist.all_reduce_sum([total_loss, total_n], ctx.device)
    loss = total_loss / max(1, total_n)
    return {"eval_loss": loss, "perplexity": math.exp(min(loss, 50))}


def _confusion(preds: list[int], golds: list[int], labels: list[int]) -> list[float]:
    """Per label: [tp, fp, fn] flattened (reducible across ranks)."""
    pos = {lab: i for i, lab in enumerate(labels)}
    out = [0.0] * (3 * len(labels))
    for p, g in zip(preds, golds):
        if p == g and g in pos:
            out[3 * pos[g]] += 1
        else:
            if p in pos:
                out[3 * pos[p] + 1] += 1
            if g in pos:
                out[3 * pos[g] + 2] += 1
    return out


def _macro_f1(conf: list[float], k: int) -> float:
    f1s = []
    for i in range(k):
        tp, fp, fn = conf[3 * i:3 * i + 3]
        if tp + fp + fn == 0:
            continue  # label absent from gold and predictions: undefined, skipped (sklearn warns)
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s) if f1s else 0.0


def emit_eval(ctx: RunContext, metrics: dict) -> None:
    ctx.emit(Eval(step=ctx.step, metrics=metrics, task=ctx.task_index))
