"""Rank/world helpers so the same YAML runs under torchrun / accelerate launch.

With WORLD_SIZE unset (the desktop case) every helper is a cheap no-op.
"""
from __future__ import annotations

import os
from typing import Any


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def init_if_needed(device_type: str) -> bool:
    """Start the process group when launched by torchrun; returns True when distributed."""
    if world_size() <= 1:
        return False
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return True


def all_reduce_mean(values: list[float], device: Any) -> list[float]:
    """Average scalars across ranks (loss, throughput) in one collective."""
    if world_size() <= 1:
        return values
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return (t / world_size()).tolist()


def all_reduce_sum(values: list[float], device: Any) -> list[float]:
    if world_size() <= 1:
        return values
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def broadcast_object(obj: Any) -> Any:
    if world_size() <= 1:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shutdown() -> None:
    """Tear the process group down before exit (gloo aborts at interpreter exit otherwise)."""
    if world_size() <= 1:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
