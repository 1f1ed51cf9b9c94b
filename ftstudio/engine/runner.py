"""A whole run: load model + data, let the technique prepare the model, train one task or a
task sequence, evaluate, checkpoint, export, and keep the runs store current throughout.

    summary = train(cfg, subscribers=[print_event], cancel=CancelToken())
"""
from __future__ import annotations

import errno
import math
import os
import random
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ftstudio.engine import distributed as dist
from ftstudio.engine import memory, table_optim
from ftstudio.engine import tensorboard_events
from ftstudio.engine.checkpoints import load_checkpoint, save_checkpoint
from ftstudio.engine.cl_metrics import continual_metrics, loss_metrics
from ftstudio.engine.config import DataConfig, RunConfig
from ftstudio.engine.context import RunContext
from ftstudio.engine.data import batches_per_epoch, collate, example_lengths, length_grouped_batches, prepare_data
from ftstudio.engine.errors import Cancelled, UserError
from ftstudio.engine.events import (
    Checkpoint, Event, EventBus, Finished, Log, Phase, Plan, Progress, RunStarted, TaskFinished,
)
from ftstudio.engine.loop import (
    CancelToken, LoopState, autocast_for, emit_eval, eval_batch_count, evaluate, make_forward, train_task,
)
from ftstudio.engine.store import (
    RunLock, RunWriter, check_writable, complete_checkpoints, default_runs_dir, new_run_dir, process_start_time,
    prune_metrics, read_json,
)
from ftstudio.i18n import _t
from ftstudio.engine.validate import Validation, majority_label, validate

__all__ = ["train", "CancelToken", "check_setup", "prepare", "Prepared", "Run"]


def pick_device(name: str) -> Any:
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise UserError(_t("device 'cuda' was chosen but no CUDA GPU is available; use auto or cpu"))
        return torch.device("cuda", dist.local_rank())
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError(_t("device 'mps' was chosen but Apple's GPU backend is not available"))
    return torch.device(name)


def pick_precision(device: Any, precision: str) -> str:
    import torch

    if device.type != "cuda":
        if precision in ("bf16", "fp16"):
            return "fp32"  # autocast on CPU is far slower than fp32 here; GPU-only by design
        return "fp32"
    if precision == "auto" or (precision == "bf16" and not torch.cuda.is_bf16_supported()):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"  # (validate warns of the fallback)
    return precision


def task_list(cfg: RunConfig) -> list[tuple[str, DataConfig]]:
    """(name, data) per task; a single-data run is one task named 'main'."""
    if cfg.tasks:
        return [(t.name, t.data) for t in cfg.tasks]
    assert cfg.data is not None
    return [("main", cfg.data)]


def input_max_length(cfg: RunConfig, technique: Any, path: str) -> int:
    """Tokens of text per example: the configured max_length, capped by the model's positions
    minus those the technique occupies (virtual tokens). The technique is told the model type
    and task here, before the model loads, since what it reserves can depend on them."""
    from ftstudio.engine.models import load_config

    from ftstudio.engine.models import text_max_length

    c = load_config(path, cfg.trust_remote_code)
    reserved = technique.max_length_reserved(getattr(c, "model_type", None), cfg.task)
    return text_max_length(cfg.training.max_length, c, reserved)


def data_tokenizer(cfg: RunConfig, technique: Any, progress: Callable[[str, int, int], None] | None = None
                   ) -> tuple[Any, int]:
    """The tokenizer the data is prepared with, and the text length: the run's model's, unless the
    technique reads another model's tokens (a distillation student cut from its teacher)."""
    from ftstudio.engine.models import load_tokenizer, resolve_model_path

    path = technique.data_model_path() or resolve_model_path(cfg.model, progress)
    return load_tokenizer(path, cfg.trust_remote_code), input_max_length(cfg, technique, path)


def build_model_and_context(
    cfg: RunConfig, technique: Any, tokenizer: Any, all_names: list[str], label_names: list[str] | None,
    task_names: list[str], device: Any, precision: str, bus: EventBus,
    progress: Callable[[str, int, int], None] | None = None, task_masks: Any = None,
) -> tuple[Any, RunContext]:
    """Load the model with its head, give the technique its context, let it prepare the model.

    Shared by ``train`` and the GUI's pre-flight so both measure the same model."""
    from ftstudio.engine.models import load_model

    model, _tok, info = load_model(
        cfg.model, cfg.task, num_labels=len(all_names) or None,
        id2label=dict(enumerate(all_names)) if all_names else None,
        allow_pickle=cfg.allow_pickle, trust_remote_code=cfg.trust_remote_code, progress=progress,
    )
    if tokenizer.pad_token_id is not None and model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    ctx = RunContext(
        config=cfg, device=device, tokenizer=tokenizer, model_info=info, task=cfg.task, bus=bus,
        label_names=label_names, num_tasks=len(task_names), task_names=list(task_names),
        rank=dist.rank(), world_size=dist.world_size(),
    )
    ctx.autocast = autocast_for(device, precision)
    ctx.forward = make_forward(ctx, task_masks.to(device) if task_masks is not None else None)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def make_batches(examples: list[dict], batch_size: int, shuffle: bool = False):
        lengths = example_lengths(examples)
        for b in length_grouped_batches(lengths, batch_size, cfg.training.seed, 0, group_by_length=shuffle,
                                        shuffle=shuffle):
            yield collate([examples[i] for i in b], pad_id, device)

    ctx.make_batches = make_batches
    technique.ctx = ctx
    technique.check(info, cfg.task)
    model.to(device)
    model = technique.prepare_model(model, ctx)
    model.to(device)
    use_packed_batches(model, ctx, technique)
    from ftstudio.engine import fast_dropout, lowrank, row_grads

    fast_dropout.enable(model, device)  # CPU: the same dropout, cheaper masks
    lowrank.enable(model, device)  # CPU: PEFT's LoRA layers as one autograd function each
    row_grads.enable(model, device, ctx.world_size)  # CPU: embedding gradients by the rows used
    if ctx.collate is not collate:
        from ftstudio.engine import fused_bert

        fused_bert.enable(model, device)  # CPU, packed rows: a BERT layer as one autograd function
    return model, ctx


def use_packed_batches(model: Any, ctx: RunContext, technique: Any) -> None:
    """Padding-free training batches where they are exact for this model and technique
    (engine/packing.py); evaluation and everything else keep padded batches."""
    from ftstudio.engine import packing

    ctx.collate = collate
    if ctx.config.training.packing != "off" and packing.supports(model, ctx.task, technique):
        packing.enable(model)
        ctx.collate = packing.collate_packed


def train(
    cfg: RunConfig | None,
    subscribers: Iterable[Callable[[Event], None]] = (),
    cancel: CancelToken | None = None,
    resume: str | Path | None = None,
    validation: Validation | None = None,
) -> dict:
    """Run training; see the module docstring. Returns the summary dict. ``validation``: the
    result of ``engine.validate.validate(cfg)`` when the caller already has it (not redone).

    Four phases: ``check_setup`` (the config alone) → ``prepare`` (data, model, optimizer; bad
    input fails here, before a run folder exists) → ``Run.open`` (the run folder and summary,
    a checkpoint loaded on resume) → ``Run.execute`` (the tasks, final evaluation, export)."""
    bus = EventBus()
    for s in subscribers:
        bus.subscribe(s)
    cfg, technique, resume_dir, validation = check_setup(cfg, resume, validation)
    # a resumed run is locked before anything is read, so two processes never continue it at once
    lock = RunLock(resume_dir).acquire() if resume_dir and dist.is_main() else None
    prep = None
    try:
        prep = prepare(cfg, technique, bus, resume_dir)
        prep.warnings = [w.message for w in validation.warnings]
        run = Run(prep, lock)
        run.open()
        return run.execute(cancel or CancelToken())
    finally:
        if lock is not None:
            lock.release()
        if prep is not None:
            for pd in prep.data:
                pd.close()  # the tokenized splits' scratch files


# ---------------------------------------------------------------------------- phase 1: the setup
def check_setup(cfg: RunConfig | None, resume: str | Path | None,
                validation: Validation | None = None) -> tuple[RunConfig, Any, Path | None, Validation]:
    """The config read (from the run folder on resume) and checked against its data, model and
    technique (``engine.validate``: its first error is raised); the technique made."""
    resume_dir = Path(resume).expanduser() if resume else None
    if resume_dir is not None:
        from ftstudio.engine.resume import check_resumable, resume_config

        check_resumable(resume_dir)  # not finished, not running elsewhere
        cfg = resume_config(resume_dir, given=cfg)  # only safe settings may differ from the run's
    if cfg is None:
        raise UserError(_t("no configuration given"))
    if validation is None:
        validation = validate(cfg, resuming=resume_dir is not None)
    validation.raise_first()
    from ftstudio.techniques import make_technique

    technique = make_technique(cfg.technique.name, cfg.technique.params)
    out_dir = resume_dir or (Path(cfg.output_dir).expanduser() if cfg.output_dir else None)
    check_writable(out_dir or _runs_dir(cfg))
    return cfg, technique, resume_dir, validation


def _runs_dir(cfg: RunConfig) -> Path:
    return Path(cfg.runs_dir).expanduser() if cfg.runs_dir else default_runs_dir()


# ---------------------------------------------------------------------------- phase 2: prepare
@dataclass
class Prepared:
    """Everything a run needs, loaded and checked; nothing written yet."""

    cfg: RunConfig
    technique: Any
    bus: EventBus
    resume_dir: Path | None
    saved_state: dict
    device: Any
    precision: str
    tokenizer: Any
    tasks: list[tuple[str, DataConfig]]
    data: list[Any]                 # PreparedData per task
    task_label_names: list[list[str] | None]
    offsets: list[int]              # each task's first index in the shared head
    all_names: list[str]
    model: Any
    ctx: RunContext
    optimizer: Any
    scaler: Any
    steps_per_task: list[int]
    trainable: int
    total: int
    majority: list[int | None] = field(default_factory=list)  # per task: most frequent training label id
    warnings: list[str] = field(default_factory=list)  # from engine.validate, logged once the run is open
    memory_baseline: int = 0  # bytes held before the model loaded (RSS on CPU, CUDA allocated)
    memory_estimate: dict | None = None  # pre-flight's estimate for this run (preflight.run_memory_estimate)


def prepare(cfg: RunConfig, technique: Any, bus: EventBus, resume_dir: Path | None = None) -> Prepared:
    """Load tokenizer, data (every task) and model; let the technique prepare the model; build
    the optimizer and count the steps. Bad input raises UserError here."""
    import torch

    def progress(what: str, done: int, total: int) -> None:
        bus.emit(Progress(what=what, done=done, total=total))

    torch.manual_seed(cfg.training.seed)
    random.seed(cfg.training.seed)
    device = pick_device(cfg.training.device)
    precision = pick_precision(device, cfg.training.precision)
    dist.init_if_needed(device.type)
    tokenizer, max_len = data_tokenizer(cfg, technique, progress)
    saved_state = read_json(resume_dir / "summary.json", {}) if resume_dir else {}
    fixed_labels = saved_state.get("task_label_names") if resume_dir else None
    tasks = task_list(cfg)
    data = []
    for i, (name, dcfg) in enumerate(tasks):
        bus.emit(Log(message=_t("Preparing data for {name}: {train}", name=name, train=dcfg.train)))
        data.append(prepare_data(dcfg, cfg.task, tokenizer, max_len, cfg.training.seed, progress,
                                 label_names=fixed_labels[i] if fixed_labels else None))
        for note in data[-1].notes:  # e.g. how many prompts were cut to max_length
            bus.emit(Log(message=note))
    task_label_names, offsets, all_names, masks = _label_space(cfg, tasks, data)
    # the run's own memory is measured from here: before the model loads (engine.memory)
    memory.reset_peak(device)
    memory_baseline = memory.current(device)
    model, ctx = build_model_and_context(
        cfg, technique, tokenizer, all_names, task_label_names[0], [n for n, _ in tasks], device, precision,
        bus, progress, masks,
    )
    from ftstudio.engine.preflight import run_memory_estimate

    estimate = run_memory_estimate(model, ctx, technique, data[0].train, cfg.training.batch_size,
                                   tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
                                   backward=dist.world_size() == 1)

    from ftstudio.engine.compiling import maybe_compile

    maybe_compile(model, cfg.training.compile, device, lambda m: bus.emit(Log(message=m)))
    if dist.world_size() > 1:
        model = _wrap_ddp(model, technique, device)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    from ftstudio.engine.optim import build_optimizer

    groups = technique.param_groups(model, cfg.training.learning_rate, cfg.training.weight_decay)
    if not any(len(g["params"]) for g in groups):
        raise UserError(_t("{title} leaves no trainable parameters on this model",
                           title=_t(technique.title)))
    optimizer = build_optimizer(groups, device.type)
    # CPU full fine-tuning: AdamW over the embedding rows the training data uses, not all of them
    if technique.weights_only_through_forward:
        table_optim.enable(optimizer, model, [pd.train for pd in data], device, dist.world_size())
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    steps_per_task = [_steps_for(cfg, len(pd.train), ctx.world_size) for pd in data]
    ctx.total_steps = sum(steps_per_task)
    return Prepared(
        cfg=cfg, technique=technique, bus=bus, resume_dir=resume_dir, saved_state=saved_state, device=device,
        precision=precision, tokenizer=tokenizer, tasks=tasks, data=data, task_label_names=task_label_names,
        offsets=offsets, all_names=all_names, model=model, ctx=ctx, optimizer=optimizer, scaler=scaler,
        steps_per_task=steps_per_task, trainable=trainable, total=total,
        memory_baseline=memory_baseline, memory_estimate=estimate,
        majority=[majority_label([e["label"] for e in pd.train]) if cfg.task == "classification" else None
                  for pd in data],
    )


def _label_space(cfg: RunConfig, tasks: list, data: list) -> tuple[list, list[int], list[str], Any]:
    """Labels per task, then one head over their union (sliced per task in per-task mode): the
    examples' labels are shifted to their task's offset and tagged with their task id."""
    import torch

    task_label_names = [pd.label_names for pd in data]
    offsets: list[int] = []
    all_names: list[str] = []
    if cfg.task == "classification":
        for (name, _), names in zip(tasks, task_label_names):
            offsets.append(len(all_names))
            all_names += [f"{name}:{n}" for n in names] if cfg.tasks else list(names)
        for t_i, (pd, off) in enumerate(zip(data, offsets)):
            if hasattr(pd.train, "with_task"):  # Arrow tables: shifted on access
                pd.train, pd.eval = pd.train.with_task(off, t_i), pd.eval.with_task(off, t_i)
                continue
            for split in (pd.train, pd.eval):
                for e in split:
                    e["label"] += off
                    e["task_id"] = t_i
    else:  # text generation: no labels to offset; replay still needs each example's task
        for t_i, pd in enumerate(data):
            for split in (pd.train, pd.eval):
                for e in split:
                    e["task_id"] = t_i
    masks = None
    if cfg.tasks and cfg.task == "classification" and cfg.heads == "per-task":
        masks = torch.zeros(len(tasks), len(all_names), dtype=torch.bool)
        for t_i, (off, names) in enumerate(zip(offsets, task_label_names)):
            masks[t_i, off:off + len(names)] = True
    return task_label_names, offsets, all_names, masks


def _wrap_ddp(model: Any, technique: Any, device: Any) -> Any:
    from torch.nn.parallel import DistributedDataParallel as DDP

    # DDP all-reduces only what requires grad when it wraps: a technique that unfreezes
    # more later (layer-wise) gets every parameter registered, and DDP told that some have
    # no gradient in a step (find_unused_parameters), or the unfrozen layers drift per rank
    dynamic = technique.trainable_set_changes
    frozen = [p for p in model.parameters() if not p.requires_grad] if dynamic else []
    for p in frozen:
        p.requires_grad_(True)
    model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=dynamic)
    for p in frozen:
        p.requires_grad_(False)
    return model


def _steps_for(cfg: RunConfig, train_rows: int, world_size: int) -> int:
    """Optimizer steps of one task: max_steps, else epochs × micro-batches / grad_accum."""
    if cfg.training.max_steps:
        return cfg.training.max_steps
    per_epoch = batches_per_epoch(train_rows, cfg.training.batch_size, world_size)
    return max(1, math.ceil(cfg.training.epochs * per_epoch / cfg.training.grad_accum))


# ---------------------------------------------------------------------------- phases 3 and 4: the run
class Run:
    """A prepared run with its folder: ``open`` records it, ``execute`` trains every task,
    evaluates, exports and records the outcome (finished, cancelled or failed)."""

    def __init__(self, prep: Prepared, lock: RunLock | None = None):
        self.p = prep
        self.lock = lock  # held by the caller (resume) or taken in open (a new run)
        self._own_lock: RunLock | None = None
        self.ctx = prep.ctx
        self.bus = prep.bus
        self.is_main = dist.is_main()
        self.run_dir: Path | None = None
        self.writer: RunWriter | None = None
        self.summary: dict[str, Any] = {}
        self.state = LoopState()
        self.start_task = 0
        self.R: list = []                # continual accuracy matrix, row per finished task
        self.baseline: list = []         # each task's accuracy before any training (forward transfer)
        self.peak = 0
        # time inside the training loops (their periodic evals included, as in HF Trainer's
        # train_runtime); the continual baseline, final evaluation and export are not training,
        # and counting them made short runs' samples/s depend on the eval set's size
        self.train_seconds = 0.0
        self.samples_done = 0
        self.started = time.time()
        self.phases: list[dict] = []     # the Plan of this session: the passes still to come
        self._phase_i = 0

    # -- phase 3
    def open(self) -> None:
        """Create (or reuse, on resume) the run folder and lock it; on resume load the newest
        usable checkpoint first (a damaged one falls back to the one before, none usable stops
        here with the folder untouched) and drop the events written after it; then write config
        + a 'running' summary and announce RunStarted."""
        p, ctx = self.p, self.ctx
        cfg, resume_dir = p.cfg, p.resume_dir
        if resume_dir:
            run_dir = resume_dir
        elif cfg.output_dir:
            run_dir = Path(cfg.output_dir).expanduser()
            run_dir.mkdir(parents=True, exist_ok=True)
        elif self.is_main:
            run_dir = new_run_dir(_runs_dir(cfg), f"{cfg.technique.name}-{cfg.model.split(':')[-1].split('/')[-1]}")
        else:
            run_dir = _runs_dir(cfg) / "_nonzero_rank"
        self.run_dir = run_dir = Path(dist.broadcast_object(str(run_dir)))
        ctx.run_dir = run_dir
        if self.is_main and self.lock is None:
            self.lock = self._own_lock = RunLock(run_dir).acquire()
        notes: list[Log] = []
        if resume_dir:
            self._resume_from_checkpoint(notes)
        if self.is_main:
            writer = self.writer = RunWriter(run_dir)
            self.bus.subscribe(lambda ev: writer.write_event(ev.to_dict()))
            tensorboard = tensorboard_events.subscriber(run_dir)  # None without the package
            if tensorboard:
                self.bus.subscribe(tensorboard)
            if not resume_dir or changed_config(resume_dir, cfg):
                cfg.save(run_dir / "config.yaml")
        self.summary = {
            "status": "running", "pid": os.getpid(), "pid_started": process_start_time(os.getpid()),
            "started": p.saved_state.get("started", self.started),
            "technique": cfg.technique.name, "model": cfg.model, "task": cfg.task,
            "trainable_params": p.trainable, "total_params": p.total,
            "trainable_percent": 100.0 * p.trainable / max(1, p.total), "device": str(p.device),
            "precision": p.precision, "run_dir": str(run_dir), "world_size": ctx.world_size,
            "label_names": p.all_names or None,
            "task_label_names": p.task_label_names if cfg.task == "classification" else None,
            "memory_estimate_bytes": (p.memory_estimate or {}).get("total"), "memory_estimate": p.memory_estimate,
            "memory_baseline_bytes": p.memory_baseline,
        }
        self._write_summary()
        for w in p.warnings:
            self.bus.emit(Log(message=w, level="warning"))
        for note in notes:
            self.bus.emit(note)
        ctx.step = sum(p.steps_per_task[:self.start_task]) + self.state.step
        self.bus.emit(RunStarted(
            run_dir=str(run_dir), config=cfg.to_dict(), trainable_params=p.trainable, total_params=p.total,
            device=str(p.device), precision=p.precision, total_steps=ctx.total_steps, resumed_from_step=ctx.step,
        ))
        self.phases = self.plan()
        self.bus.emit(Plan(phases=[dict(ph) for ph in self.phases]))

    def plan(self) -> list[dict]:
        """The passes ``execute`` will make from here, in order, with their work and cost (see
        ``events.Plan``): the sequence's baseline evaluation, each task's training (its periodic
        evaluations and a technique's extra work, e.g. a teacher's predictions, in its cost), the
        technique's pass after a task (EWC's Fisher), a sequence's evaluation after each task,
        the final evaluation, export."""
        p, cfg, ctx = self.p, self.p.cfg, self.ctx
        tr = cfg.training
        per_step = 3.0 * tr.batch_size * tr.grad_accum  # examples × (forward + backward)
        ev_n = [len(pd.eval) for pd in p.data]
        ev_b = [eval_batch_count(n, tr.batch_size, ctx.rank, ctx.world_size) for n in ev_n]
        every = tr.eval_every or 0
        phases: list[dict] = []
        if cfg.tasks and not self.baseline:
            phases.append({"name": "evaluating", "task": -1, "work": sum(ev_b), "cost": float(sum(ev_n))})
        start = sum(p.steps_per_task[:self.start_task])
        for t in range(self.start_task, len(p.tasks)):
            done = self.state.step if t == self.start_task else 0
            steps, n_train = p.steps_per_task[t] - done, len(p.data[t].train)
            evals = ((p.steps_per_task[t] - 1) // every - done // every) if every else 0
            cost = steps * per_step + max(0, evals) * ev_n[t] + p.technique.planned_extra_cost(t, n_train, steps)
            phases.append({"name": "training", "task": t, "work": steps, "cost": float(cost), "start": start + done})
            start += p.steps_per_task[t]
            after = p.technique.planned_task_end_pass(t, n_train)
            if after:
                phases.append({**after, "task": t})
            if cfg.tasks:
                phases.append({"name": "evaluating", "task": t, "work": sum(ev_b), "cost": float(sum(ev_n))})
        final = (sum(ev_b), sum(ev_n)) if cfg.tasks else (ev_b[0], ev_n[0])
        phases.append({"name": "evaluating", "task": -1, "work": final[0], "cost": float(final[1])})
        phases.append({"name": "exporting", "task": -1, "work": 0, "cost": 0.0})
        return phases

    def begin_phase(self, name: str, task: int = -1) -> None:
        """Announce the plan's next pass called ``name`` (for ``task``)."""
        for i in range(self._phase_i, len(self.phases)):
            ph = self.phases[i]
            if ph["name"] == name and ph.get("task", -1) == task:
                self._phase_i = i + 1
                self.bus.emit(Phase(index=i, name=name, task=task))
                return

    def _resume_from_checkpoint(self, notes: list) -> None:
        """Load the newest usable checkpoint into the prepared model/optimizer/technique; remove
        the damaged ones after it and the events written after it (they are trained again)."""
        from ftstudio.engine.resume import load_usable_checkpoint

        p, run_dir = self.p, self.run_dir
        ck, loaded = load_usable_checkpoint(
            run_dir, lambda c: load_checkpoint(c, p.model, p.optimizer, p.technique, p.device),
            lambda msg: notes.append(Log(message=msg, level="warning")))
        if ck is None:
            notes.append(Log(message=_t("No checkpoint found: starting from the beginning"), level="warning"))
            step = 0
        else:
            self.start_task, self.state, self.R, self.baseline = loaded
            step = sum(p.steps_per_task[:self.start_task]) + self.state.step
            notes.append(Log(message=_t("Resumed from {name}", name=ck.name)))
        if self.is_main:
            for newer in complete_checkpoints(run_dir):
                if newer != ck and int(newer.name.split("-")[1]) > step:
                    shutil.rmtree(newer, ignore_errors=True)  # damaged, or from the superseded steps
            prune_metrics(run_dir, step, self.start_task)

    # -- phase 4
    def execute(self, cancel: CancelToken) -> dict:
        """Train the tasks, then finish; a Stop or an error is recorded in the summary."""
        try:
            self.run_tasks(cancel)
            return self.finish()
        except Cancelled:
            return self._cancelled()
        except OSError as e:
            if e.errno != errno.ENOSPC:
                self._failed(e)
                raise
            err = UserError(_t("no space left on device while writing {run_dir}: free some space, then "
                               "continue with ftstudio train --resume {run_dir}",
                               run_dir=self.run_dir))
            self._failed(err)
            raise err from None
        except BaseException as e:
            self._failed(e)
            raise
        finally:
            if self.writer:
                self.writer.close()
            if self._own_lock is not None:
                self._own_lock.release()

    def run_tasks(self, cancel: CancelToken) -> None:
        p, ctx, technique = self.p, self.ctx, self.p.technique
        if p.cfg.tasks and not self.baseline:
            self.begin_phase("evaluating")
            self.baseline = [self.cl_score(self.eval_task(j)) for j in range(len(p.tasks))]  # for forward transfer
        technique.on_train_start(p.model, p.optimizer)
        step_offset = sum(p.steps_per_task[:self.start_task])
        for t_i in range(self.start_task, len(p.tasks)):
            ctx.task_index = t_i
            ctx.label_names = p.task_label_names[t_i]
            technique.on_task_start(t_i, p.model)
            if len(p.tasks) > 1:
                self.bus.emit(Log(message=_t("Task {index}/{count}: {name}",
                                             index=t_i + 1, count=len(p.tasks), name=p.tasks[t_i][0])))

            def eval_fn(j: int = t_i) -> dict:
                table_optim.sync(p.optimizer)  # the embedding rows no batch used, brought up to date
                m = self.eval_task(j)
                emit_eval(ctx, m)
                return m

            self.begin_phase("training", t_i)
            t_loop = time.perf_counter()
            try:
                self.state = train_task(
                    ctx, p.model, technique, p.optimizer, p.data[t_i].train, eval_fn, cancel, self.state,
                    p.steps_per_task[t_i], step_offset, lambda st, t=t_i: self.checkpoint(t, st), p.scaler,
                )
            finally:
                table_optim.sync(p.optimizer)
                self.train_seconds += time.perf_counter() - t_loop
            self.peak = max(self.peak, getattr(self.state, "peak_memory", 0))
            self.samples_done += self.state.samples
            after = technique.planned_task_end_pass(t_i, len(p.data[t_i].train))
            if after:
                self.begin_phase(after["name"], t_i)
            technique.on_task_end(t_i, p.model, p.data[t_i].train)
            if p.cfg.tasks:
                self.begin_phase("evaluating", t_i)
                self.R.append([self.cl_score(self.eval_task(j)) for j in range(len(p.tasks))])
                self.bus.emit(TaskFinished(task=t_i, task_name=p.tasks[t_i][0], acc_matrix=[list(r) for r in self.R],
                                           metrics=self.cl_metrics(), matrix_metric=self.matrix_metric))
            step_offset += p.steps_per_task[t_i]
            self.state = LoopState()

    def finish(self) -> dict:
        """Final evaluation (every task for a sequence), export, summary 'finished'."""
        p = self.p
        self.begin_phase("evaluating")
        if p.cfg.tasks:
            finals = [self.eval_task(j) for j in range(len(p.tasks))]
            final = {k: sum(m[k] for m in finals) / len(finals) for k in finals[0] if not isinstance(finals[0][k], bool)}
            final.update(self.cl_metrics())
            if self.matrix_metric == "accuracy":
                final["acc_matrix"] = self.R
                final["baseline_accuracy"] = self.baseline
            else:
                final["loss_matrix"] = self.R
                final["ppl_matrix"] = [[_ppl(v) for v in row] for row in self.R]
                final["baseline_loss"] = self.baseline
            final["matrix_metric"] = self.matrix_metric
            final["per_task"] = {p.tasks[j][0]: finals[j] for j in range(len(p.tasks))}
        else:
            final = self.eval_task(0)
        final.update(self._baseline(final, finals if p.cfg.tasks else [final]))
        emit_eval(self.ctx, {k: v for k, v in final.items() if isinstance(v, (int, float))})
        export_paths = []
        self.begin_phase("exporting")
        if self.is_main:
            export_paths = _export(self.run_dir, p.cfg, p.technique, p.model, p.tokenizer, final)
        self.summary.update(final)
        self.summary.update(_throughput(self.samples_done, self.train_seconds, self.peak, self.started))
        self.summary.update(memory_comparison(self.summary))
        self.summary.update(status="finished", export=export_paths, steps=self.ctx.step)
        self.summary.pop("pid", None)
        self._write_summary()
        self.bus.emit(Finished(status="finished", summary=self.summary))
        return self.summary

    # -- task sequences: the matrix holds accuracy (classification) or eval loss (text generation)
    @property
    def matrix_metric(self) -> str:
        return "accuracy" if self.p.cfg.task == "classification" else "eval_loss"

    def cl_score(self, m: dict) -> float:
        return m[self.matrix_metric]

    def cl_metrics(self) -> dict:
        if self.matrix_metric == "accuracy":
            return continual_metrics(self.R, self.baseline)
        return loss_metrics(self.R, self.baseline)

    def eval_task(self, j: int) -> dict:
        p, ctx = self.p, self.ctx
        ctx.task_index, old = j, ctx.task_index
        lab = list(range(p.offsets[j], p.offsets[j] + len(p.task_label_names[j]))) if p.offsets else None
        # the module under DDP: eval shards can be uneven, and DDP's forward would wait on
        # buffer broadcasts from ranks that have no batch left
        bare = p.model.module if dist.world_size() > 1 else p.model
        m = evaluate(ctx, bare, p.data[j].eval, len(p.all_names), _t("Evaluating {tasks}",
                                                                     tasks=p.tasks[j][0]), lab,
                     p.majority[j] if p.majority else None)
        ctx.task_index = old
        return m

    def _baseline(self, final: dict, finals: list[dict]) -> dict:
        """summary's ``baseline`` {label, accuracy} (always answering the most frequent training
        label) and ``beats_baseline``; a task sequence gives the mean and each task's."""
        p = self.p
        if p.cfg.task != "classification" or "majority_baseline" not in finals[0]:
            return {}
        per = [{"label": p.all_names[p.majority[j]].split(":", 1)[-1] if p.cfg.tasks else p.all_names[p.majority[j]],
                "accuracy": m["majority_baseline"]} for j, m in enumerate(finals)]
        if len(per) == 1:
            base = per[0]
        else:
            base = {"label": None, "accuracy": sum(b["accuracy"] for b in per) / len(per),
                    "per_task": {p.tasks[j][0]: b for j, b in enumerate(per)}}
        return {"baseline": base, "beats_baseline": bool(final["accuracy"] > base["accuracy"])}

    def checkpoint(self, task_i: int, st: LoopState) -> None:
        if self.is_main:
            path = save_checkpoint(self.run_dir, self.ctx.step, task_i, st, self.p.model, self.p.optimizer,
                                   self.p.technique, self.R, self.baseline, self.p.device)
            self.bus.emit(Checkpoint(step=self.ctx.step, path=str(path)))

    def _write_summary(self) -> None:
        if self.writer:
            self.writer.write_summary(self.summary)

    def _cancelled(self) -> dict:
        self.checkpoint(self.ctx.task_index, self.state)
        peak = max(self.peak, getattr(self.state, "peak_memory", 0))  # the stopped task's peak too
        self.summary.update(_throughput(self.samples_done + self.state.samples, self.train_seconds, peak,
                                        self.started))
        self.summary.update(memory_comparison(self.summary))
        self.summary.update(status="cancelled", steps=self.ctx.step)
        self.summary.pop("pid", None)
        self._write_summary()
        self.bus.emit(Finished(status="cancelled", summary=self.summary, message=_t("Stopped at step {step}",
                                                                                         step=self.ctx.step)))
        return self.summary

    def _failed(self, e: BaseException) -> None:
        """Record the failure: temporary folders removed first (on a full disk they hold the
        space the summary needs), then summary 'failed' with the reason, written at any cost."""
        msg = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
        self.summary.update(status="failed", error=msg, steps=self.ctx.step)
        self.summary.pop("pid", None)
        if self.writer:
            _remove_temporaries(self.run_dir)
            if not isinstance(e, UserError):
                try:
                    (self.run_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
                except OSError:
                    pass
            self.writer.write_summary(self.summary, last_resort=True)
        try:
            self.bus.emit(Finished(status="failed", summary=self.summary, message=msg))
        except OSError:
            pass  # metrics.jsonl on a full disk: the summary holds the outcome


def changed_config(run_dir: Path, cfg: RunConfig) -> bool:
    from ftstudio.engine.resume import changed_keys

    return bool(changed_keys(RunConfig.from_yaml(run_dir / "config.yaml"), cfg))


def _remove_temporaries(run_dir: Path) -> None:
    shutil.rmtree(run_dir / "export.tmp", ignore_errors=True)
    ck = run_dir / "checkpoints"
    if ck.exists():
        for t in ck.glob(".step-*.tmp"):
            shutil.rmtree(t, ignore_errors=True)


def _ppl(loss: float | None) -> float | None:
    return None if loss is None else math.exp(min(loss, 50.0))


def _throughput(samples: int, train_seconds: float, peak: int, started: float) -> dict:
    samples = int(dist.all_reduce_sum([float(samples)], "cpu")[0])  # all ranks' samples
    return {
        "samples_per_second": samples / train_seconds if train_seconds > 0 else 0.0,
        "train_seconds": train_seconds,
        "train_samples": samples,
        "peak_memory_bytes": int(peak),
        "wall_seconds": time.time() - started,
    }


def memory_comparison(summary: dict) -> dict:
    """The run's measured memory (peak minus what the process held before the model loaded) and
    pre-flight's estimate over it (1.0 = exact, 0.5 = the estimate was half the real need)."""
    peak, base = summary.get("peak_memory_bytes") or 0, summary.get("memory_baseline_bytes") or 0
    measured = max(0, int(peak) - int(base)) if peak else 0
    est = summary.get("memory_estimate_bytes")
    return {"measured_memory_bytes": measured or None,
            "memory_estimate_ratio": est / measured if est and measured else None}


def _export(run_dir: Path, cfg: RunConfig, technique: Any, model: Any, tokenizer: Any, metrics: dict) -> list[str]:
    from ftstudio.engine.export import write_model_card

    out = run_dir / "export"
    tmp = run_dir / "export.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    m = model.module if hasattr(model, "module") and not hasattr(model, "config") else model
    try:
        paths = technique.export(m, str(tmp), tokenizer)
        if tokenizer is not None and not (tmp / "tokenizer_config.json").exists():
            tokenizer.save_pretrained(tmp)
        data = [d.train for d in cfg.all_data()]
        write_model_card(
            tmp, technique=cfg.technique.name, params=cfg.technique.params, model=cfg.model,
            data=data if len(data) > 1 else data[0],
            metrics={k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}, task=cfg.task,
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a half-written export never lingers
        raise
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return [p.replace(str(tmp), str(out)) for p in paths]
