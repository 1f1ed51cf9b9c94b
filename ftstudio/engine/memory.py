"""Memory of a run, as the step events plot it and summary.json records it. No Qt here.

* CUDA: the caching allocator's ``memory_allocated`` (tensors alive) and ``memory_reserved``
  (what the allocator holds from the driver) — two curves in the studio's memory plot; the peak
  is ``max_memory_allocated`` since the run's start (``reset_peak`` before the model loads).
* CPU (and MPS): the process's resident set (RSS); the peak is the OS high-water mark where it
  can be reset (Linux ``VmHWM`` through ``/proc/self/clear_refs``), else the largest sample.
  The high-water mark sees the forward/backward peak that per-step samples (taken after the
  optimizer step, activations already freed) miss.

The run's *own* memory is the peak minus the ``baseline`` taken before its model loaded (on a CPU
the process already holds Python, torch and the tokenized data) — what pre-flight's estimate
(weights + gradients + optimizer state + activations) is compared with.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

_HWM_RESET = {"ok": False}  # whether the OS high-water mark was reset for this run


def is_cuda(device: Any) -> bool:
    return getattr(device, "type", str(device)) == "cuda"


def cuda_stats(device: Any = None) -> tuple[float, float, float]:
    """(allocated, reserved, peak allocated) bytes on the CUDA device."""
    import torch

    return (float(torch.cuda.memory_allocated(device)), float(torch.cuda.memory_reserved(device)),
            float(torch.cuda.max_memory_allocated(device)))


def rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def current(device: Any) -> int:
    """What the process holds now where the run lives: CUDA allocated, else RSS."""
    if is_cuda(device):
        return int(cuda_stats(device)[0])
    return rss()


def trim() -> None:
    """Hand the C heap's free pages back to the OS (glibc malloc_trim), so the RSS is what is in
    use: memory freed earlier in the process and then reused would otherwise never show as growth."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak(device: Any) -> None:
    """Start the peak over: CUDA's peak statistics, or (trimmed first) the Linux RSS high-water mark."""
    if is_cuda(device):
        import torch

        torch.cuda.reset_peak_memory_stats(device)
        return
    trim()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # "5": reset the peak RSS (Linux >= 4.0)
        _HWM_RESET["ok"] = True
    except OSError:
        _HWM_RESET["ok"] = False


def os_peak(device: Any) -> int | None:
    """The peak since ``reset_peak``, where the OS or CUDA keeps one; None otherwise."""
    if is_cuda(device):
        return int(cuda_stats(device)[2])
    if _HWM_RESET["ok"]:
        return _status_kib("VmHWM")
    return None


class MemoryProbe:
    """Samples for the Step events (``cuda_allocated`` + ``cuda_reserved`` on a GPU, ``rss``
    elsewhere) and keeps the peak."""

    def __init__(self, device: Any):
        self.device = device
        self.cuda = is_cuda(device)
        self.peak = 0

    def sample(self) -> dict[str, float]:
        if self.cuda:
            alloc, res, peak = cuda_stats(self.device)
            self.peak = max(self.peak, int(peak))
            return {"cuda_allocated": alloc, "cuda_reserved": res}
        now = rss()
        self.peak = max(self.peak, now)
        return {"rss": float(now)}

    def final_peak(self) -> int:
        """The peak up to now: the samples' and the OS/allocator high-water mark."""
        hw = os_peak(self.device)
        self.peak = max(self.peak, hw or 0)
        return self.peak
