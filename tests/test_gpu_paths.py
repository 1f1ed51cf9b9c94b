"""The GPU paths: CUDA training in bf16/fp16 for causal LM and classification, GPU memory in the
step events, and QLoRA (4-bit base through bitsandbytes). The CUDA tests skip without a CUDA GPU;
the CPU-side checks (QLoRA refused with one readable line) always run."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from ftstudio.engine.errors import UserError


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def _bnb() -> bool:
    import importlib.util

    return importlib.util.find_spec("bitsandbytes") is not None


needs_cuda = pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU (none on this machine: the CPU "
                                "suite cannot run the bf16/fp16 autocast and GPU-memory paths)")
needs_qlora = pytest.mark.skipif(not (_cuda() and _bnb()), reason="QLoRA needs a CUDA GPU and bitsandbytes "
                                 "(pip install 'ftstudio[qlora]'); not available here")


def test_qlora_on_cpu_is_refused_in_one_line(tiny_dir):
    from transformers import AutoModelForCausalLM

    from ftstudio.techniques import make_technique

    model = AutoModelForCausalLM.from_pretrained(tiny_dir("llama"))
    tech = make_technique("lora", {"quantize_base": "nf4"})
    with pytest.raises(UserError, match="needs a CUDA GPU"):
        tech.prepare_model(model, SimpleNamespace(device=SimpleNamespace(type="cpu"), task="causal-lm"))
    with pytest.raises(UserError):
        make_technique("lora", {"quantize_base": "int3"})


def _lm_cfg(tiny_dir, tmp_path, technique="lora", params=None, precision="auto"):
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig

    p = tmp_path / "instr.jsonl"
    p.write_text("\n".join(json.dumps({"instruction": "name a color", "output": "blue"}) for _ in range(32)))
    return RunConfig(model=str(tiny_dir("llama")), task="causal-lm", data=DataConfig(train=str(p)),
                     technique=TechniqueConfig(technique, params or {}),
                     training=TrainingConfig(max_steps=8, batch_size=8, learning_rate=5e-3, max_length=64,
                                             eval_every=None, device="cuda", precision=precision))


@needs_cuda
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_causal_lm_trains_on_cuda_with_autocast(tiny_dir, tmp_path, precision):
    import torch

    from ftstudio.engine.runner import train

    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    events: list = []
    s = train(_lm_cfg(tiny_dir, tmp_path, precision=precision), subscribers=[events.append])
    assert s["status"] == "finished" and s["precision"] == precision and s["device"].startswith("cuda")
    losses = [e.loss for e in events if e.kind == "step"]
    assert all(l == l for l in losses) and losses[-1] < losses[0]  # finite (GradScaler for fp16), learning
    assert s["peak_memory_bytes"] > 0


@needs_cuda
def test_classification_trains_on_cuda(tiny_dir, tiny_csv):
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
    from ftstudio.engine.runner import train

    s = train(RunConfig(model=str(tiny_dir("bert")), data=DataConfig(train=str(tiny_csv)),
                        technique=TechniqueConfig("lora"),
                        training=TrainingConfig(max_steps=6, batch_size=8, max_length=32, eval_every=None,
                                                device="cuda")))
    assert s["status"] == "finished" and s["device"].startswith("cuda") and s["precision"] in ("bf16", "fp16")


@needs_qlora
def test_qlora_quantizes_the_base_to_4_bit_and_trains_only_lora(tiny_dir, tmp_path):
    import bitsandbytes as bnb

    from ftstudio.engine.runner import train

    events: list = []
    s = train(_lm_cfg(tiny_dir, tmp_path, params={"quantize_base": "nf4", "r": 4}), subscribers=[events.append])
    assert s["status"] == "finished"
    losses = [e.loss for e in events if e.kind == "step"]
    assert losses[-1] < losses[0]
    from ftstudio.engine.predict import Predictor

    out = Predictor(s["run_dir"]).predict("name a color")  # the adapter applies to the ordinary base
    assert isinstance(out["text"], str)
    assert bnb  # imported: the environment really had bitsandbytes
