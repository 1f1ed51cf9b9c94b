"""Checkpoints of a run: the trainable weights, optimizer, RNG and technique state, written
atomically (a temporary folder renamed into place, a COMPLETE marker). The two newest are
kept, so a damaged newest one (a disk error, a truncated file) still leaves one to resume
from; a failed write (disk full) removes its temporary folder."""
from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

from ftstudio.engine.loop import LoopState
from ftstudio.engine.store import atomic_write_json, complete_checkpoints

__all__ = ["save_checkpoint", "load_checkpoint"]


def _trainable_state(model: Any) -> dict:
    return {n: p.detach().contiguous().clone().cpu() for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(run_dir: Path, step: int, task_i: int, state: LoopState, model: Any, optimizer: Any,
                     technique: Any, R: list, baseline: list, device: Any) -> Path:
    import torch
    from safetensors.torch import save_file

    from ftstudio.engine import table_optim

    table_optim.sync(optimizer)  # the weights as the dense optimizer would hold them
    ck_root = run_dir / "checkpoints"
    final = ck_root / f"step-{step}"
    tmp = ck_root / f".step-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
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
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()},
                      str(tmp / "technique.safetensors"))
        atomic_write_json(tmp / "trainer_state.json", {
            "step": step, "task_index": task_i, "loop": state.to_dict(), "acc_matrix": R, "baseline": baseline,
            "technique_meta": tstate.get("meta", {k: v for k, v in tstate.items() if k != "tensors"}),
            "python_random": _encode_random_state(),
        })
        (tmp / "COMPLETE").write_text("ok")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a half-written checkpoint never lingers
        raise
    keep = set(complete_checkpoints(run_dir)[:KEEP]) | {final}
    for old in ck_root.iterdir():  # the KEEP newest complete checkpoints stay
        if old.name.startswith("step-") and old not in keep:
            shutil.rmtree(old, ignore_errors=True)
    return final


KEEP = 2


def load_checkpoint(ck: Path, model: Any, optimizer: Any, technique: Any, device: Any):
    """Read every file of the checkpoint first (a damaged one raises before anything changes),
    then restore weights, optimizer, technique state and RNG."""
    import torch
    from safetensors.torch import load_file

    st = json.loads((ck / "trainer_state.json").read_text())
    if not isinstance(st, dict) or "loop" not in st or "task_index" not in st:
        raise ValueError("trainer_state.json is incomplete")
    weights = load_file(str(ck / "trainable.safetensors"))
    params = dict(model.named_parameters())
    for n, t in weights.items():
        if n in params and tuple(params[n].shape) != tuple(t.shape):
            raise ValueError(f"{n} has shape {tuple(t.shape)}, the model {tuple(params[n].shape)}")
    tech_tensors = load_file(str(ck / "technique.safetensors")) if (ck / "technique.safetensors").exists() else None
    opt_state = torch.load(ck / "optimizer.pt", weights_only=True, map_location=device)
    rng = torch.load(ck / "rng.pt", weights_only=True)
    loop = LoopState(**{k: v for k, v in st["loop"].items() if k in LoopState.__dataclass_fields__})

    optimizer.load_state_dict(opt_state)
    for n, t in weights.items():
        if n in params:
            with torch.no_grad():
                params[n].copy_(t.to(params[n].device))
    meta = st.get("technique_meta", {})
    tstate: dict = {"meta": meta, **(meta if isinstance(meta, dict) else {})}
    if tech_tensors is not None:
        tstate["tensors"] = tech_tensors
    technique.load_state_dict(tstate)
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"], device)
    _decode_random_state(st.get("python_random"))
    return st["task_index"], loop, st.get("acc_matrix", []), st.get("baseline", [])


def _encode_random_state() -> list:
    v, state, g = random.getstate()
    return [v, list(state), g]


def _decode_random_state(s: list | None) -> None:
    if s:
        random.setstate((s[0], tuple(s[1]), s[2]))
