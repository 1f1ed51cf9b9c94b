"""The real built-in models, end to end (the few slow tests of the suite)."""
from __future__ import annotations

import pytest

from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
from ftstudio.engine.models import model_info
from ftstudio.engine.runner import train


def test_minilm_model_report():
    info = model_info("builtin:minilm-l6")
    assert info.architecture == "BertModel" and info.family == "bert"
    assert info.num_layers == 6 and info.hidden_size == 384 and info.max_length == 512
    assert 22_000_000 < info.total_params < 23_000_000
    assert info.has_bias and info.bias_params > 10_000


def test_minilm_lora_learns_the_builtin_sentiment_set():
    cfg = RunConfig(
        model="builtin:minilm-l6", data=DataConfig(train="builtin:sentiment"),
        technique=TechniqueConfig("lora", {"r": 8, "alpha": 16}),
        training=TrainingConfig(max_steps=40, batch_size=16, learning_rate=3e-3, max_length=64, eval_every=None),
    )
    summary = train(cfg)
    assert summary["status"] == "finished"
    assert summary["trainable_params"] == 74_498  # 6 layers x (q, v) x 2 x 384 x 8 + head 770
    assert summary["accuracy"] >= 0.8  # chance is 0.5


def test_smollm2_converts_once_and_loads_from_the_cache(tmp_path, monkeypatch):
    """First use dequantizes the GGUF into a safetensors folder; later loads read that folder."""
    from ftstudio.engine.models import cache_dir, resolve_model_path

    steps = []
    path = resolve_model_path("builtin:smollm2-135m", progress=lambda w, d, t: steps.append((d, t)))
    assert str(path).startswith(str(cache_dir()))
    from pathlib import Path

    p = Path(path)
    assert (p / "COMPLETE").exists() and any(p.glob("*.safetensors"))
    info = model_info("builtin:smollm2-135m")
    assert info.family == "llama" and info.num_layers == 30 and not info.has_bias
