"""Pre-flight: what will train, whether it fits in memory, and how long an epoch takes — before
pressing Start. No Qt here; the GUI and ``ftstudio`` callers share it.

    report = preflight(cfg, measure_step=True)

Loads the model exactly as ``train`` does (technique ``check`` + ``prepare_model``), then

* counts trainable / total parameters after the technique has frozen/wrapped the model;
* memory: weights (parameters + buffers), gradients (trainable parameters), optimizer state
  (AdamW: two fp32 moments per trainable parameter), activations (measured: bytes of every
  tensor autograd saves for backward during one forward pass on the *longest* batch; on CUDA
  also the allocator's peak) — their sum is the estimated peak;
* time: one warm-up step, then one measured forward + backward + optimizer step on a typical
  batch; × micro-batches per epoch = time per epoch;
* a distillation teacher: its weights under ``memory["teacher"]`` (in the total) and its forward
  time per step (``teacher_seconds``, part of the step: the first epoch's cost, before the
  teacher's logits are cached);
* warnings with suggested fixes when it will not fit (largest batch size that would) or when an
  epoch is very long.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ftstudio.engine.errors import UserError
from ftstudio.i18n import _t

ProgressFn = Callable[[str, int, int], None]
ADAM_STATE_BYTES = 8  # exp_avg + exp_avg_sq, fp32 each
SAFETY = 0.9  # keep 10 % of the available memory free (allocator fragmentation, the OS, the GUI)
SAMPLE_ROWS = 256  # rows tokenized for the measured batches


@dataclass
class PreflightReport:
    trainable_params: int
    total_params: int
    trainable_pct: float
    memory: dict[str, int]  # weights, gradients, optimizer, activations, total (bytes)
    available_bytes: int | None
    step_seconds: float | None
    epoch_seconds: float | None
    fits: bool
    warnings: list[str] = field(default_factory=list)
    device: str = "cpu"
    precision: str = "fp32"
    batch_size: int = 0
    max_length: int = 0
    steps_per_epoch: int = 0
    train_rows: int = 0
    measured: bool = False
    teacher_seconds: float | None = None  # distillation: the teacher's share of step_seconds
    problems: list[dict] = field(default_factory=list)  # engine.validate Problems (warnings; errors raise)
    baseline: dict | None = None  # classification: the majority-class baseline {label, accuracy}

    def to_dict(self) -> dict:
        return asdict(self)


def _bytes_of(tensors: Any) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def available_memory(device: Any) -> int | None:
    """Free memory where the run will live: CUDA free + what this process already holds there,
    or the system's available RAM on CPU."""
    try:
        if device.type == "cuda":
            import torch

            free, _total = torch.cuda.mem_get_info(device)
            return int(free + torch.cuda.memory_reserved(device))
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - unknown is a valid answer
        return None


def measure_activations(forward: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``forward`` and sum the bytes of the distinct tensors autograd saves for backward."""
    import torch

    seen: dict[tuple, int] = {}

    def pack(t: Any) -> Any:
        try:
            st = t.untyped_storage()
            key = (st.data_ptr(), t.device.type)
            seen[key] = max(seen.get(key, 0), st.nbytes())
        except Exception:  # noqa: BLE001 - sparse / meta tensors: count their logical size
            seen[(id(t), "x")] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward()
    return out, sum(seen.values())


def static_memory(model: Any, technique: Any) -> dict[str, int]:
    """Weights (parameters + buffers), the modules the technique keeps beside the model (a
    distillation teacher: frozen, weights only), gradients (trainable parameters) and AdamW's
    state (two fp32 moments per trainable parameter), in bytes."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    out = {"weights": _bytes_of(model.parameters()) + _bytes_of(model.buffers())}
    out.update({name: _bytes_of(m.parameters()) + _bytes_of(m.buffers())
                for name, m in technique.extra_modules().items()})
    out["gradients"] = _bytes_of(trainable)
    out["optimizer"] = sum(p.numel() for p in trainable) * ADAM_STATE_BYTES
    return out


def activation_formula(batch_size: int, seq: int, info: Any) -> int:
    """Activations without a measured step: ~18 fp32 values per token per hidden unit per layer."""
    return int(batch_size * seq * (info.hidden_size or 768) * (info.num_layers or 12) * 18 * 4)


class StepPeak:
    """The memory one step needs above what is held when it starts: the CUDA allocator's peak, or
    on a CPU the Linux RSS high-water mark (engine.memory). It sees what the saved-tensor count
    misses: gradients of the activations during backward, temporaries, allocator slack.
    ``bytes`` stays None where no resettable peak exists (macOS, Windows)."""

    def __init__(self, device: Any):
        self.device = device
        self.bytes: int | None = None

    def __enter__(self) -> "StepPeak":
        from ftstudio.engine import memory

        if memory.is_cuda(self.device):
            import torch

            torch.cuda.synchronize(self.device)
        memory.reset_peak(self.device)
        self.start = memory.current(self.device)
        return self

    def __exit__(self, *exc: Any) -> None:
        from ftstudio.engine import memory

        if memory.is_cuda(self.device):
            import torch

            torch.cuda.synchronize(self.device)
        hw = memory.os_peak(self.device)
        self.bytes = max(0, hw - self.start) if hw is not None else None


def run_memory_estimate(model: Any, ctx: Any, technique: Any, examples: Any, batch_size: int,
                        pad_id: int, backward: bool = True) -> dict[str, int] | None:
    """Pre-flight's estimate for a prepared run, recorded in its summary beside the measured peak:
    the same weights/gradients/optimizer arithmetic, and the activations of one forward + backward
    on the run's longest batch (the saved tensors, or the step's measured peak less the gradients
    when that is larger). The run is left as it was: random state forked, gradients dropped, no
    optimizer step, so a run with the estimate trains exactly like one without. ``backward``
    False (DDP: a backward would fire the reducer's hooks) counts the forward's saved tensors
    only. None when it cannot be measured."""
    import torch

    from ftstudio.engine.data import collate, example_lengths

    parts = static_memory(model, technique)
    try:
        lengths = example_lengths(examples)
        if not len(lengths):
            return None
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        longest = [examples[order[k % len(order)]] for k in range(batch_size)]
        cuda = ctx.device.type == "cuda"
        with torch.random.fork_rng(devices=[ctx.device] if cuda else []):
            model.train()
            batch = collate(longest, pad_id, ctx.device)
            with StepPeak(ctx.device) as peak:
                loss, act = measure_activations(lambda: ctx.forward(model, batch)[1])
                if backward and loss.requires_grad:
                    loss.backward()
                del loss, batch
            for p in model.parameters():
                p.grad = None
    except torch.OutOfMemoryError:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return None
    saved = act
    if peak.bytes is not None and backward:
        act = max(act, peak.bytes - parts["gradients"])
    parts["activations"] = int(act)
    parts["total"] = int(sum(parts.values()))
    parts["activations_saved"] = int(saved)  # the forward's saved tensors alone (not in the total)
    return parts


def preflight(cfg: Any, measure_step: bool = True, progress: ProgressFn | None = None,
              validation: Any = None) -> PreflightReport:
    """See the module docstring. Raises UserError for what ``train`` would reject: the first
    error of ``engine.validate`` (an ``InvalidSetup`` carrying the whole ``Validation``), whose
    warnings and baseline the report then carries. ``validation``: already computed (not redone)."""
    import torch

    from ftstudio.engine.data import collate, preview, prepare_data
    from ftstudio.engine.optim import build_optimizer
    from ftstudio.engine.events import EventBus
    from ftstudio.engine.runner import build_model_and_context, data_tokenizer, pick_device, pick_precision, task_list
    from ftstudio.techniques import make_technique

    def step(what: str, i: int, n: int) -> None:
        if progress:
            progress(what, i, n)

    if validation is None:
        from ftstudio.engine.validate import validate

        validation = validate(cfg, progress=progress)  # the same pass as train and `ftstudio check`
    validation.raise_first()
    technique = make_technique(cfg.technique.name, cfg.technique.params)
    t = cfg.training
    device = pick_device(t.device)
    precision = pick_precision(device, t.precision)
    step(_t("Loading the tokenizer"), 0, 4)
    tokenizer, max_len = data_tokenizer(cfg, technique, progress)

    # data: row counts (every task) and a tokenized sample of the first task
    tasks = task_list(cfg)
    rows_per_task, names_per_task = [], []
    for _name, d in tasks:
        pv = preview(d, cfg.task, n=1)
        if pv.problems:
            k, msg = next(iter(pv.problems.items()))
            raise UserError(msg)
        n = pv.num_rows if d.eval else int(round(pv.num_rows * (1 - d.eval_fraction)))
        if d.max_train_samples:
            n = min(n, d.max_train_samples)
        rows_per_task.append(n)
        names_per_task.append(list(pv.label_counts))
    step(_t("Tokenizing a sample"), 1, 4)
    sample_cfg = copy.deepcopy(tasks[0][1])
    sample_cfg.max_train_samples = min(SAMPLE_ROWS, rows_per_task[0] or SAMPLE_ROWS)
    sample_cfg.max_eval_samples = 8
    pd = prepare_data(sample_cfg, cfg.task, tokenizer, max_len, t.seed, None,
                      label_names=sorted(names_per_task[0]) if cfg.task == "classification" else None)
    all_names: list[str] = []
    if cfg.task == "classification":
        for (name, _), names in zip(tasks, names_per_task):
            all_names += [f"{name}:{n}" for n in names] if cfg.tasks else list(pd.label_names or names)

    step(_t("Loading the model"), 2, 4)
    model, ctx = build_model_and_context(cfg, technique, tokenizer, all_names, pd.label_names,
                                         [n for n, _ in tasks], device, precision, EventBus(), progress)
    info = ctx.model_info
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    trainable_ps = [p for p in model.parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in trainable_ps)
    total = sum(p.numel() for p in model.parameters())
    static = static_memory(model, technique)
    weights, gradients, optimizer_bytes = static["weights"], static["gradients"], static["optimizer"]
    extra = {k: v for k, v in static.items() if k not in ("weights", "gradients", "optimizer")}
    batch_size = t.batch_size
    micro_per_epoch = max(1, math.ceil(rows_per_task[0] / batch_size))
    steps_per_epoch = max(1, math.ceil(micro_per_epoch / t.grad_accum))

    activations, step_s, measured, teacher_s = 0, None, False, None
    if measure_step and pd.train and trainable:
        step(_t("Timing one training step"), 3, 4)
        ex = sorted(pd.train, key=lambda e: -len(e["input_ids"]))
        longest = [ex[i % len(ex)] for i in range(batch_size)]
        # fresh example ids: what a technique computes once per example and caches (a teacher's
        # logits) is paid in this step, as in the first epoch, not skipped as a cache hit
        typical = [dict(pd.train[i % len(pd.train)], idx=-1 - i) for i in range(batch_size)]
        groups = technique.param_groups(model, t.learning_rate, t.weight_decay)
        optimizer = build_optimizer(groups, device.type)
        try:
            technique.on_train_start(model, optimizer)
        except Exception:  # noqa: BLE001 - a hook that needs the full run: time without it
            pass
        model.train()

        def one_step(examples: list[dict], measure: bool = False) -> int:
            batch = collate(examples, pad_id, device)

            def fwd() -> Any:
                outputs, loss = ctx.forward(model, batch)
                loss, _extra = technique.compute_loss(model, batch, outputs, loss)
                return loss

            if measure:
                loss, act = measure_activations(fwd)
            else:
                loss, act = fwd(), 0
            (loss / t.grad_accum).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return act

        try:
            with StepPeak(device) as peak:
                activations = one_step(longest, measure=True)  # warm-up + worst-case activations
            if peak.bytes is not None:
                # the allocator's / the OS's view includes temporaries the saved-tensor count misses
                activations = max(activations, int(peak.bytes - gradients - optimizer_bytes))
            t0, teacher0 = time.perf_counter(), getattr(technique, "teacher_seconds", None)
            one_step(typical)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            step_s = time.perf_counter() - t0
            if teacher0 is not None:
                teacher_s = technique.teacher_seconds - teacher0
            measured = True
        except torch.OutOfMemoryError:
            activations = -1
        finally:
            optimizer.zero_grad(set_to_none=True)
    oom_in_step = activations == -1
    if activations <= 0:  # no measured step (or it ran out of memory): the formula
        activations = activation_formula(batch_size, max_len, info)
    warnings: list[str] = [p.message for p in validation.warnings]
    total_mem = weights + sum(extra.values()) + gradients + optimizer_bytes + activations
    available = available_memory(device)
    fits = not oom_in_step and (available is None or total_mem <= available * SAFETY)
    fixed = weights + sum(extra.values()) + gradients + optimizer_bytes
    if not trainable:
        warnings.append(_t("{title} leaves no trainable parameters on this model: choose another technique",
                           title=_t(technique.title)))
        fits = False
    if not fits and available:
        per_example = activations / max(1, batch_size)
        room = available * SAFETY - fixed
        if room <= 0:
            warnings.append(
                _t("the weights, gradients and optimizer state alone need {value} of {value2} available: "
                   "use a parameter-efficient technique (LoRA, adapters) or a smaller model",
                   value=_gib(fixed), value2=_gib(available))
            )
        else:
            fit_bs = int(room // max(1, per_example))
            if fit_bs >= 1:
                acc = math.ceil(batch_size / fit_bs)
                warnings.append(
                    _t("estimated peak {value} exceeds the {value2} available: set batch size to {fit_bs} "
                       "(with gradient accumulation {acc} to keep the effective batch of {batch_size}), or "
                       "lower max length ({max_len})",
                       value=_gib(total_mem), value2=_gib(available), fit_bs=fit_bs, acc=acc, batch_size=batch_size, max_len=max_len)
                )
            else:
                warnings.append(
                    _t("even one example needs more memory than is free ({value}): lower max length "
                       "({max_len}) or use a parameter-efficient technique",
                       value=_gib(available), max_len=max_len)
                )
            if device.type == "cuda" and precision == "fp32":
                warnings.append(_t("mixed precision (bf16) roughly halves activation memory: set precision "
                                   "to bf16"))
    epoch_s = step_s * micro_per_epoch if step_s is not None else None
    if epoch_s is not None:
        total_s = epoch_s * (t.max_steps * t.grad_accum / micro_per_epoch if t.max_steps else t.epochs) \
            * len(tasks)
        if total_s > 3 * 3600:
            fix = _t("use a GPU, ") if device.type == "cpu" else ""
            warnings.append(
                _t("training will take about {value:.1f} h: {fix}lower max length, set max steps, or train "
                   "on a subset (data.max_train_samples)",
                   value=total_s / 3600, fix=fix)
            )
    step(_t("Done"), 4, 4)
    return PreflightReport(
        trainable_params=int(trainable), total_params=int(total),
        trainable_pct=100.0 * trainable / max(1, total),
        memory={"weights": int(weights), **{k: int(v) for k, v in extra.items()}, "gradients": int(gradients),
                "optimizer": int(optimizer_bytes), "activations": int(activations), "total": int(total_mem)},
        available_bytes=available, step_seconds=step_s, epoch_seconds=epoch_s, fits=bool(fits),
        warnings=warnings, device=str(device), precision=precision, batch_size=batch_size,
        max_length=max_len, steps_per_epoch=steps_per_epoch, train_rows=rows_per_task[0], measured=measured,
        teacher_seconds=teacher_s, problems=[p.to_dict() for p in validation.problems],
        baseline=validation.baseline,
    )


def _gib(n: float) -> str:
    if n >= 2**30:
        return f"{n / 2**30:.1f} GiB"
    return f"{n / 2**20:.0f} MiB"
