"""A whole run: load model + data, let the technique prepare the model, train one task or a
task sequence, evaluate, checkpoint, export, and keep the runs store current throughout.

    summary = train(cfg, subscribers=[print_event], cancel=CancelToken())
"""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable

from ftstudio.engine import distributed as dist
from ftstudio.engine.config import DataConfig, RunConfig
from ftstudio.engine.context import RunContext
from ftstudio.engine.data import batches_per_epoch, collate, length_grouped_batches, prepare_data
from ftstudio.engine.errors import Cancelled, UserError
from ftstudio.engine.events import Checkpoint, Event, EventBus, Finished, Log, RunStarted, TaskFinished
from ftstudio.engine.loop import CancelToken, LoopState, autocast_for, emit_eval, evaluate, make_forward, train_task
from ftstudio.engine.store import (
    RunWriter, atomic_write_json, check_writable, default_runs_dir, latest_checkpoint, new_run_dir, read_json,
)

__all__ = ["train", "CancelToken"]


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
            raise UserError("device 'cuda' was chosen but no CUDA GPU is available; use auto or cpu")
        return torch.device("cuda", dist.local_rank())
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError("device 'mps' was chosen but Apple's GPU backend is not available")
    return torch.device(name)


def pick_precision(device: Any, precision: str) -> str:
    import torch

    if device.type != "cuda":
        if precision in ("bf16", "fp16"):
            return "fp32"  # autocast on CPU is far slower than fp32 here; GPU-only by design
        return "fp32"
    if precision == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
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
    from transformers import AutoConfig

    c = AutoConfig.from_pretrained(path)
    positions = int(getattr(c, "max_position_embeddings", None) or getattr(c, "n_positions", None) or 512)
    reserved = technique.max_length_reserved(getattr(c, "model_type", None), cfg.task)
    max_len = min(cfg.training.max_length, positions - reserved)
    if max_len < 8:
        raise UserError(f"max_length {cfg.training.max_length} leaves no room for the input")
    return max_len


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
        lengths = [len(e["input_ids"]) for e in examples]
        for b in length_grouped_batches(lengths, batch_size, cfg.training.seed, 0, group_by_length=shuffle,
                                        shuffle=shuffle):
            yield collate([examples[i] for i in b], pad_id, device)

    ctx.make_batches = make_batches
    technique.ctx = ctx
    technique.check(info, cfg.task)
    model.to(device)
    model = technique.prepare_model(model, ctx)
    model.to(device)
    return model, ctx


def train(
    cfg: RunConfig | None,
    subscribers: Iterable[Callable[[Event], None]] = (),
    cancel: CancelToken | None = None,
    resume: str | Path | None = None,
) -> dict:
    """Run training; see the module docstring. Returns the summary dict."""
    bus = EventBus()
    for s in subscribers:
        bus.subscribe(s)
    cancel = cancel or CancelToken()
    resume_dir = Path(resume) if resume else None
    if resume_dir is not None:
        if not (resume_dir / "config.yaml").exists():
            raise UserError(f"{resume_dir} is not a run folder (no config.yaml)")
        cfg = RunConfig.from_yaml(resume_dir / "config.yaml")
    if cfg is None:
        raise UserError("no configuration given")
    cfg.validate()
    from ftstudio.techniques import make_technique

    technique = make_technique(cfg.technique.name, cfg.technique.params)
    if technique.needs_task_sequence and not cfg.tasks:
        raise UserError(f"{technique.title} needs a task sequence: list datasets under 'tasks:' instead of 'data:'")
    if cfg.tasks and cfg.task != "classification":
        raise UserError("task sequences are supported for classification only")
    out_dir = resume_dir or (Path(cfg.output_dir) if cfg.output_dir else None)
    runs_dir = Path(cfg.runs_dir) if cfg.runs_dir else default_runs_dir()
    check_writable(out_dir or runs_dir)

    def progress(what: str, done: int, total: int) -> None:
        from ftstudio.engine.events import Progress

        bus.emit(Progress(what=what, done=done, total=total))

    # ---- load data and model (bad input fails here, before a run folder exists) ----
    import torch

    from ftstudio.engine.models import load_tokenizer, resolve_model_path

    torch.manual_seed(cfg.training.seed)
    random.seed(cfg.training.seed)
    device = pick_device(cfg.training.device)
    precision = pick_precision(device, cfg.training.precision)
    dist.init_if_needed(device.type)
    path = resolve_model_path(cfg.model, progress)
    tokenizer = load_tokenizer(path, cfg.trust_remote_code)
    max_len = input_max_length(cfg, technique, path)
    saved_state = read_json(resume_dir / "summary.json", {}) if resume_dir else {}
    fixed_labels = saved_state.get("task_label_names") if resume_dir else None
    tasks = task_list(cfg)
    prepared = []
    for i, (name, dcfg) in enumerate(tasks):
        bus.emit(Log(message=f"Preparing data for {name}: {dcfg.train}"))
        pd = prepare_data(dcfg, cfg.task, tokenizer, max_len, cfg.training.seed, progress,
                          label_names=fixed_labels[i] if fixed_labels else None)
        prepared.append(pd)
    # labels: per task, then one head over their union (sliced per task in per-task mode)
    task_label_names = [pd.label_names for pd in prepared]
    offsets, all_names = [], []
    if cfg.task == "classification":
        for (name, _), names in zip(tasks, task_label_names):
            offsets.append(len(all_names))
            all_names += [f"{name}:{n}" for n in names] if cfg.tasks else list(names)
        for pd, off, t_i in zip(prepared, offsets, range(len(tasks))):
            for split in (pd.train, pd.eval):
                for e in split:
                    e["label"] += off
                    e["task_id"] = t_i
    masks = None
    if cfg.tasks and cfg.task == "classification" and cfg.heads == "per-task":
        masks = torch.zeros(len(tasks), len(all_names), dtype=torch.bool)
        for t_i, (off, names) in enumerate(zip(offsets, task_label_names)):
            masks[t_i, off:off + len(names)] = True
    model, ctx = build_model_and_context(
        cfg, technique, tokenizer, all_names, task_label_names[0], [n for n, _ in tasks], device, precision,
        bus, progress, masks,
    )
    if dist.world_size() > 1:
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
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    from ftstudio.engine.optim import build_optimizer

    groups = technique.param_groups(model, cfg.training.learning_rate, cfg.training.weight_decay)
    if not any(len(g["params"]) for g in groups):
        raise UserError(f"{technique.title} leaves no trainable parameters on this model")
    optimizer = build_optimizer(groups, device.type)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    acc = cfg.training.grad_accum
    steps_per_task = []
    for pd in prepared:
        if cfg.training.max_steps:
            steps_per_task.append(cfg.training.max_steps)
        else:
            per_epoch = batches_per_epoch(len(pd.train), cfg.training.batch_size, ctx.world_size)
            steps_per_task.append(max(1, math.ceil(cfg.training.epochs * per_epoch / acc)))
    ctx.total_steps = sum(steps_per_task)

    # ---- the run folder: from here on, every outcome is recorded ----
    is_main = dist.is_main()
    if resume_dir:
        run_dir = resume_dir
    elif out_dir:
        run_dir = out_dir
        run_dir.mkdir(parents=True, exist_ok=True)
    else:
        run_dir = new_run_dir(runs_dir, f"{cfg.technique.name}-{cfg.model.split(':')[-1].split('/')[-1]}") \
            if is_main else runs_dir / "_nonzero_rank"
    run_dir = Path(dist.broadcast_object(str(run_dir)))
    ctx.run_dir = run_dir
    writer = RunWriter(run_dir) if is_main else None
    if writer:
        bus.subscribe(lambda ev: writer.write_event(ev.to_dict()))
        if not resume_dir:
            cfg.save(run_dir / "config.yaml")
    started = time.time()
    summary: dict[str, Any] = {
        "status": "running", "pid": os.getpid(), "started": saved_state.get("started", started),
        "technique": cfg.technique.name, "model": cfg.model, "task": cfg.task,
        "trainable_params": trainable, "total_params": total,
        "trainable_percent": 100.0 * trainable / max(1, total), "device": str(device), "precision": precision,
        "run_dir": str(run_dir), "world_size": ctx.world_size, "label_names": all_names or None, "task_label_names": task_label_names if cfg.task == "classification" else None,
    }
    if writer:
        writer.write_summary(summary)

    state = LoopState()
    start_task, R, baseline = 0, [], []
    ck = latest_checkpoint(run_dir) if resume_dir else None
    if ck is not None:
        start_task, state, R, baseline = _load_checkpoint(ck, model, optimizer, technique, device)
        bus.emit(Log(message=f"Resumed from {ck.name}"))
    elif resume_dir:
        bus.emit(Log(message="No checkpoint found: starting from the beginning", level="warning"))
    step_offset = sum(steps_per_task[:start_task])
    ctx.step = step_offset + state.step
    bus.emit(RunStarted(
        run_dir=str(run_dir), config=cfg.to_dict(), trainable_params=trainable, total_params=total,
        device=str(device), precision=precision, total_steps=ctx.total_steps, resumed_from_step=ctx.step,
    ))
    peak = 0
    train_seconds = 0.0  # time inside the training loops (their periodic evals included, as in
    # HF Trainer's train_runtime); the continual baseline, final evaluation and export are not
    # training, and counting them made short runs' samples/s depend on the eval set's size
    samples_done = 0
    final: dict = {}

    def eval_task(j: int) -> dict:
        ctx.task_index, old = j, ctx.task_index
        lab = list(range(offsets[j], offsets[j] + len(task_label_names[j]))) if offsets else None
        # the module under DDP: eval shards can be uneven, and DDP's forward would wait on
        # buffer broadcasts from ranks that have no batch left
        bare = model.module if dist.world_size() > 1 else model
        m = evaluate(ctx, bare, prepared[j].eval, len(all_names), f"Evaluating {tasks[j][0]}", lab)
        ctx.task_index = old
        return m

    def checkpoint(task_i: int, st: LoopState) -> None:
        if is_main:
            p = _save_checkpoint(run_dir, ctx.step, task_i, st, model, optimizer, technique, R, baseline, device)
            bus.emit(Checkpoint(step=ctx.step, path=str(p)))

    try:
        if cfg.tasks and not baseline:
            baseline = [eval_task(j)["accuracy"] for j in range(len(tasks))]  # for forward transfer
        technique.on_train_start(model, optimizer)
        for t_i in range(start_task, len(tasks)):
            ctx.task_index = t_i
            ctx.label_names = task_label_names[t_i]
            technique.on_task_start(t_i, model)
            if len(tasks) > 1:
                bus.emit(Log(message=f"Task {t_i + 1}/{len(tasks)}: {tasks[t_i][0]}"))

            def eval_fn(j: int = t_i) -> dict:
                m = eval_task(j)
                emit_eval(ctx, m)
                return m

            t_loop = time.perf_counter()
            try:
                state = train_task(
                    ctx, model, technique, optimizer, prepared[t_i].train, eval_fn, cancel, state,
                    steps_per_task[t_i], step_offset, lambda st, t=t_i: checkpoint(t, st), scaler,
                )
            finally:
                train_seconds += time.perf_counter() - t_loop
            peak = max(peak, getattr(state, "peak_memory", 0))
            samples_done += state.samples
            technique.on_task_end(t_i, model, prepared[t_i].train)
            if cfg.tasks:
                row = [eval_task(j)["accuracy"] for j in range(len(tasks))]
                R.append(row)
                from ftstudio.engine.cl_metrics import continual_metrics

                cl = continual_metrics(R, baseline)
                bus.emit(TaskFinished(task=t_i, task_name=tasks[t_i][0], acc_matrix=[list(r) for r in R], metrics=cl))
            step_offset += steps_per_task[t_i]
            state = LoopState()
        if cfg.tasks:
            finals = [eval_task(j) for j in range(len(tasks))]
            final = {k: sum(m[k] for m in finals) / len(finals) for k in finals[0]}
            final.update(continual_metrics(R, baseline))
            final["acc_matrix"] = R
            final["baseline_accuracy"] = baseline
            final["per_task"] = {tasks[j][0]: finals[j] for j in range(len(tasks))}
        else:
            final = eval_task(0)
        emit_eval(ctx, {k: v for k, v in final.items() if isinstance(v, (int, float))})
        export_paths = []
        if is_main:
            export_paths = _export(run_dir, cfg, technique, model, tokenizer, final)
        summary.update(final)
        summary.update(_throughput(samples_done, train_seconds, peak, started))
        summary.update(status="finished", export=export_paths, steps=ctx.step)
        summary.pop("pid", None)
        if writer:
            writer.write_summary(summary)
        bus.emit(Finished(status="finished", summary=summary))
        return summary
    except Cancelled:
        checkpoint(ctx.task_index, state)
        summary.update(_throughput(samples_done + state.samples, train_seconds, peak, started))
        summary.update(status="cancelled", steps=ctx.step)
        summary.pop("pid", None)
        if writer:
            writer.write_summary(summary)
        bus.emit(Finished(status="cancelled", summary=summary, message=f"Stopped at step {ctx.step}"))
        return summary
    except BaseException as e:
        msg = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
        summary.update(status="failed", error=msg, steps=ctx.step)
        summary.pop("pid", None)
        if writer:
            if not isinstance(e, UserError):
                (run_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
            writer.write_summary(summary)
        bus.emit(Finished(status="failed", summary=summary, message=msg))
        raise
    finally:
        if writer:
            writer.close()


def _throughput(samples: int, train_seconds: float, peak: int, started: float) -> dict:
    samples = int(dist.all_reduce_sum([float(samples)], "cpu")[0])  # all ranks' samples
    return {
        "samples_per_second": samples / train_seconds if train_seconds > 0 else 0.0,
        "train_seconds": train_seconds,
        "train_samples": samples,
        "peak_memory_bytes": int(peak),
        "wall_seconds": time.time() - started,
    }


def _export(run_dir: Path, cfg: RunConfig, technique: Any, model: Any, tokenizer: Any, metrics: dict) -> list[str]:
    from ftstudio.engine.export import write_model_card

    out = run_dir / "export"
    tmp = run_dir / "export.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    m = model.module if hasattr(model, "module") and not hasattr(model, "config") else model
    paths = technique.export(m, str(tmp), tokenizer)
    if tokenizer is not None and not (tmp / "tokenizer_config.json").exists():
        tokenizer.save_pretrained(tmp)
    data = [d.train for d in cfg.all_data()]
    write_model_card(
        tmp, technique=cfg.technique.name, params=cfg.technique.params, model=cfg.model,
        data=data if len(data) > 1 else data[0], metrics={k: v for k, v in metrics.items() if not isinstance(v, (list, dict))},
        task=cfg.task,
    )
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return [p.replace(str(tmp), str(out)) for p in paths]


# ---------------------------------------------------------------------------- checkpoints
def _trainable_state(model: Any) -> dict:
    return {n: p.detach().contiguous().clone().cpu() for n, p in model.named_parameters() if p.requires_grad}


def _save_checkpoint(run_dir: Path, step: int, task_i: int, state: LoopState, model: Any, optimizer: Any,
                     technique: Any, R: list, baseline: list, device: Any) -> Path:
    import torch
    from safetensors.torch import save_file

    ck_root = run_dir / "checkpoints"
    final = ck_root / f"step-{step}"
    tmp = ck_root / f".step-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(_trainable_state(model), str(tmp / "trainable.safetensors"))
    # optimizer state and RNG: tensors only, reloaded with weights_only=True (no code execution)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    rng = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    torch.save(rng, tmp / "rng.pt")
    tstate = technique.state_dict() or {}
    tensors = tstate.get("tensors") or {}
    if tensors:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp / "technique.safetensors"))
    atomic_write_json(tmp / "trainer_state.json", {
        "step": step, "task_index": task_i, "loop": state.to_dict(), "acc_matrix": R, "baseline": baseline,
        "technique_meta": tstate.get("meta", {k: v for k, v in tstate.items() if k != "tensors"}),
        "python_random": _encode_random_state(),
    })
    (tmp / "COMPLETE").write_text("ok")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in ck_root.iterdir():  # keep only the newest complete checkpoint
        if old != final and old.name.startswith("step-"):
            shutil.rmtree(old, ignore_errors=True)
    return final


def _load_checkpoint(ck: Path, model: Any, optimizer: Any, technique: Any, device: Any):
    import torch
    from safetensors.torch import load_file

    st = json.loads((ck / "trainer_state.json").read_text())
    params = dict(model.named_parameters())
    for n, t in load_file(str(ck / "trainable.safetensors")).items():
        if n in params:
            with torch.no_grad():
                params[n].copy_(t.to(params[n].device))
    meta = st.get("technique_meta", {})
    tstate: dict = {"meta": meta, **(meta if isinstance(meta, dict) else {})}
    if (ck / "technique.safetensors").exists():
        tstate["tensors"] = load_file(str(ck / "technique.safetensors"))
    technique.load_state_dict(tstate)
    optimizer.load_state_dict(torch.load(ck / "optimizer.pt", weights_only=True, map_location=device))
    rng = torch.load(ck / "rng.pt", weights_only=True)
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"], device)
    _decode_random_state(st.get("python_random"))
    loop = LoopState(**{k: v for k, v in st["loop"].items() if k in LoopState.__dataclass_fields__})
    return st["task_index"], loop, st.get("acc_matrix", []), st.get("baseline", [])


def _encode_random_state() -> list:
    v, state, g = random.getstate()
    return [v, list(state), g]


def _decode_random_state(s: list | None) -> None:
    if s:
        random.setstate((s[0], tuple(s[1]), s[2]))
