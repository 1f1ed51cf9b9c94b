"""Shared fixtures: tiny models, demo data, an isolated runs directory, offline mode."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Messages in English whatever the machine's locale or the studio's saved Language menu choice;
# the translation tests switch language explicitly.
os.environ["FTSTUDIO_LANG"] = "en"

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """Factory: tiny_dir('bert'|'gpt2'|'llama') -> folder with a tiny HF model + tokenizer."""
    from tests.tiny_models import build_tiny

    cache: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in cache:
            cache[kind] = build_tiny(kind, tmp_path_factory.mktemp(f"tiny-{kind}"))
        return cache[kind]

    return get


def _users_runs() -> set:
    """The runs in the machine user's own runs folder (where the studio writes by default)."""
    import platformdirs

    d = Path(platformdirs.user_data_dir("ftstudio", appauthor=False)) / "runs"
    return set(os.listdir(d)) if d.is_dir() else set()


@pytest.fixture(autouse=True)
def _isolated_runs(tmp_path, monkeypatch):
    before = _users_runs()
    monkeypatch.setenv("FTSTUDIO_RUNS_DIR", str(tmp_path / "runs"))
    yield
    # a test that undid the folder above (monkeypatch.undo() undoes it too) wrote into the user's list
    leaked = _users_runs() - before
    assert not leaked, f"this test wrote runs into the user's own runs folder: {sorted(leaked)}"


@pytest.fixture
def shared_data():
    if not SHARED_DATA.exists():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (../shared/data beside the checkout)")
    return SHARED_DATA


@pytest.fixture
def tiny_csv(tmp_path):
    """A small two-class CSV with string labels."""
    import csv

    pos = ["great movie , loved it", "wonderful acting", "a moving story", "i loved the film"]
    neg = ["terrible boring film", "awful plot", "bad dialogue", "i hated it"]
    p = tmp_path / "tiny.csv"
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(12):
            w.writerow([pos[i % 4], "positive"])
            w.writerow([neg[i % 4], "negative"])
    return p


@pytest.fixture
def run_with_switch(tiny_dir, tiny_csv, monkeypatch, tmp_path):
    """Factory: run_with_switch(module, on, technique, params, export, **training) -> the exported
    tensors of a tiny BERT run in which ``module.enable`` (an engine speed path) did its work
    (on) or changed nothing (off); checks that the runner called it and that it swapped modules
    exactly when on."""
    def run(module, on: bool, technique: str, params: dict, export: str, **training) -> dict:
        from safetensors.torch import load_file

        from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
        from ftstudio.engine.runner import train

        swapped, real = [], module.enable
        monkeypatch.setattr(module, "enable", lambda *a, **k: swapped.append(real(*a, **k) if on else 0) or swapped[-1])
        out = tmp_path / f"{technique}-{'on' if on else 'off'}"
        cfg = RunConfig(model=str(tiny_dir("bert")), task="classification", data=DataConfig(train=str(tiny_csv)),
                        technique=TechniqueConfig(technique, params), output_dir=str(out),
                        training=TrainingConfig(max_steps=6, batch_size=8, max_length=32, eval_every=None,
                                                device="cpu", **training))
        try:
            assert train(cfg)["status"] == "finished"
        finally:
            monkeypatch.setattr(module, "enable", real)
        assert swapped and (swapped[0] > 0) == on
        return load_file(next(out.rglob(export)))

    return run
