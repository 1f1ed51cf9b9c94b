"""``training.compile``: regional torch.compile of the repeated transformer block.

Compiling each block (not the whole model) compiles one graph that all layers share, so the
compile time is that of one block; ``dynamic=True`` keeps varying sequence lengths from
recompiling. ``auto`` compiles on CUDA only: on CPU it was measured not to pay for the built-in
models (docs/BENCHMARKS.md, "Compilation"). Without a C++ compiler (CPU) or Triton (CUDA), or
when inductor's C++ build helpers cannot be loaded, compilation is skipped with one log line,
never a failed run.
"""
from __future__ import annotations

import os
import shutil
from typing import Any, Callable

from ftstudio.i18n import _t


def compiler_missing(device: Any) -> str | None:
    """Why torch.compile cannot run here, or None."""
    if getattr(device, "type", "cpu") == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError:
            return _t("Triton is not installed")
        return None
    cxx = os.environ.get("CXX") or "c++"
    if not (shutil.which(cxx) or shutil.which("g++") or shutil.which("clang++")):
        return _t("no C++ compiler was found")
    # Inductor imports its C++ build helpers (torch.utils.cpp_extension -> setuptools) lazily, in
    # the middle of the first backward pass, where a failure ends the run (CI: "AssertionError:
    # .../distutils/core.py" once something had asked importlib for "pip", which turns setuptools'
    # distutils shim off). Import them here, before anything compiles: failing means no compile.
    try:
        import torch.utils.cpp_extension  # noqa: F401
    except Exception as e:  # noqa: BLE001 - any failure here means inductor cannot build either
        return _t("the C++ build helpers could not be loaded: {error}",
                  error=str(e).splitlines()[0][:120] if str(e) else type(e).__name__)
    return None


def maybe_compile(model: Any, mode: str, device: Any, log: Callable[[str], None]) -> bool:
    """Compile the model's transformer blocks in place when ``mode`` asks for it; True if done."""
    if mode == "off" or (mode == "auto" and getattr(device, "type", "cpu") != "cuda"):
        return False
    why = compiler_missing(device)
    if why:
        log(_t("torch.compile skipped ({why}): training runs uncompiled", why=why))
        return False
    import torch._dynamo

    from ftstudio.engine.arch import layer_list

    torch._dynamo.config.suppress_errors = True  # a graph that fails to compile runs eagerly
    from ftstudio.engine import fused_bert

    fused_bert.disable(model)  # the compiler traces transformers' own layer, not our fused function
    layers = list(layer_list(model))
    for layer in layers:
        layer.compile(dynamic=True)
    log(_t("compiling the {n} transformer blocks (torch.compile): the first steps are slower",
           n=len(layers)))
    return True
