"""Build a one-folder PyInstaller bundle of ftstudio (CPU torch), built-in models included.

    .venv/bin/python -m pip install "pyinstaller==6.22.3"      # or: pip install -e ".[bundle]"
    .venv/bin/python packaging/build_bundle.py [--dist DIR] [--work DIR] [--smoke]

Run it with the Python environment whose packages go into the bundle (the one made by
packaging/setup.py). Result: DIR/ftstudio/ftstudio (ftstudio.exe on Windows) — with no
arguments it opens the studio, `ftstudio train --demo` trains offline. --smoke runs
packaging/smoke_bundle.py on the result. Size and build time: docs/PACKAGING.md.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # ftstudio's own tables (model packages) from this checkout

# transformers imports model code by name at run time (its lazy modules): list the families
# a bundle should run; others need the pip install. Keep in step with engine/arch.py.
TRANSFORMERS_FAMILIES = ["auto", "bert", "distilbert", "roberta", "xlm_roberta", "electra", "deberta_v2",
                         "gpt2", "llama", "mistral", "qwen2", "qwen3", "phi3", "gemma", "smollm3"]
EXCLUDES = ["tkinter", "IPython", "pytest", "matplotlib", "sklearn", "scipy", "sentence_transformers",
            "llama_cpp", "tensorflow", "jax", "flax", "torchvision", "torchaudio", "PySide6.QtWebEngineCore",
            "PySide6.Qt3DCore", "PySide6.QtQuick", "PySide6.QtQml"]


def _model_datas() -> list[tuple[str, str]]:
    """The built-in models' weight files (not their Python code) under builtin_models/PACKAGE."""
    from ftstudio.engine.models import BUILTIN_MODELS, builtin_package_dir

    out = []
    for b in BUILTIN_MODELS.values():
        pkg = builtin_package_dir(b.package)
        if pkg is None:
            raise SystemExit(f"built-in model {b.source} is not installed here: run `ftstudio models --install`")
        for f in pkg.rglob("*"):
            if f.is_file() and f.suffix not in (".py", ".pyc"):
                out.append((str(f), str(Path("builtin_models", b.package, f.relative_to(pkg).parent))))
    return out


def pyinstaller_args(dist: Path, work: Path) -> list[str]:
    from PyInstaller.utils.hooks import collect_submodules

    sep = os.pathsep
    hidden = collect_submodules("ftstudio")
    keep = tuple(f"transformers.models.{f}" for f in TRANSFORMERS_FAMILIES)
    hidden += collect_submodules("transformers.models", filter=lambda m: m == "transformers.models" or m.startswith(keep))
    hidden += collect_submodules("peft") + ["gguf", "transformers.integrations.ggml",
                                             "transformers.modeling_gguf_pytorch_utils"]
    args = [
        str(ROOT / "packaging" / "bundle_entry.py"), "--name", "ftstudio", "--onedir", "--console",
        "--noconfirm", "--clean", "--log-level", "WARN",
        "--distpath", str(dist), "--workpath", str(work), "--specpath", str(work),
        "--add-data", f"{ROOT / 'resources'}{sep}ftstudio/resources",
        "--copy-metadata", "ftstudio", "--collect-data", "gguf",
        "--collect-data", "ftstudio",  # locale/ (.qm, .mo) and any other package data
        "--collect-data", "huggingface_hub",  # model-card templates read when peft saves an adapter
    ]
    if sys.platform == "win32" or sys.platform == "darwin":
        icon = ROOT / "resources" / "icons" / "ftstudio.png"  # PyInstaller converts it (needs Pillow)
        if importlib.util.find_spec("PIL"):
            args += ["--icon", str(icon)]
    for src, dest in _model_datas():
        args += ["--add-data", f"{src}{sep}{dest}"]
    for m in sorted(set(hidden)):
        args += ["--hidden-import", m]
    for m in EXCLUDES:
        args += ["--exclude-module", m]
    return args


def folder_size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file() and not f.is_symlink())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dist", default=str(ROOT / "dist" / "bundle"))
    ap.add_argument("--work", default=str(ROOT / "build" / "bundle"))
    ap.add_argument("--smoke", action="store_true", help="smoke-test the bundle after building it")
    a = ap.parse_args(argv)
    if importlib.util.find_spec("PyInstaller") is None:
        print('PyInstaller is not installed: pip install "pyinstaller==6.22.3"', file=sys.stderr)
        return 2
    dist, work = Path(a.dist).resolve(), Path(a.work).resolve()
    shutil.rmtree(dist / "ftstudio", ignore_errors=True)
    t0 = time.time()
    import PyInstaller.__main__

    print(f"build_bundle: PyInstaller → {dist / 'ftstudio'} (several minutes)", flush=True)
    PyInstaller.__main__.run(pyinstaller_args(dist, work))
    secs = time.time() - t0
    size = folder_size(dist / "ftstudio")
    print(f"build_bundle: built in {secs / 60:.1f} min, {size / 2**20:.0f} MiB in {dist / 'ftstudio'}")
    if a.smoke:
        from smoke_bundle import smoke  # packaging/ is on sys.path as this script's folder

        return smoke(dist / "ftstudio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
