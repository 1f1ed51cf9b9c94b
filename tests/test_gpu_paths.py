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


no_cuda_here = pytest.mark.skipif(_cuda(), reason="checks what a machine without a CUDA GPU says")


@no_cuda_here
def test_validate_refuses_qlora_without_a_gpu_in_one_line(tiny_dir, tmp_path, capsys):
    from ftstudio.cli import main
    from ftstudio.engine.runner import train
    from ftstudio.engine.validate import validate

    cfg = _lm_cfg(tiny_dir, tmp_path, params={"quantize_base": "nf4"})
    cfg.training.device = "auto"
    cfg.runs_dir = str(tmp_path / "runs")
    v = validate(cfg)
    assert [(p.where, p.field) for p in v.errors] == [("technique", "technique.params.quantize_base")]
    assert v.errors[0].message == "LoRA's 4-bit base (QLoRA) needs a CUDA GPU; set quantize_base to none on cpu"
    with pytest.raises(UserError, match="needs a CUDA GPU"):
        train(cfg)
    assert not (tmp_path / "runs").exists()  # refused before any data was read or folder made
    cfg.save(tmp_path / "q.yaml")
    assert main(["check", str(tmp_path / "q.yaml")]) == 2
    out = capsys.readouterr()
    text = out.out + out.err
    assert text.count("QLoRA) needs a CUDA GPU") == 1 and "Traceback" not in text


@no_cuda_here
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_asked_on_a_cpu_is_said_and_trains_in_fp32(tiny_dir, tmp_path, precision):
    from ftstudio.engine.runner import pick_device, pick_precision
    from ftstudio.engine.validate import validate

    cfg = _lm_cfg(tiny_dir, tmp_path, precision=precision)
    cfg.training.device = "cpu"
    v = validate(cfg)
    assert v.ok
    assert [(p.field, p.message) for p in v.warnings if p.field == "training.precision"] == [
        ("training.precision", f"precision {precision} is for CUDA GPUs: on cpu this run trains in fp32")]
    assert pick_precision(pick_device("cpu"), precision) == "fp32"
    cfg.training.precision = "auto"
    assert not [p for p in validate(cfg).warnings if p.field == "training.precision"]


@no_cuda_here
def test_cuda_asked_without_a_gpu_is_a_training_page_error(tiny_dir, tmp_path):
    from ftstudio.engine.validate import validate

    v = validate(_lm_cfg(tiny_dir, tmp_path))  # device: cuda
    assert [(p.where, p.field) for p in v.errors] == [("training", "training.device")]
    assert "no CUDA GPU is available" in v.errors[0].message


@needs_cuda
def test_gpu_memory_reaches_the_steps_and_the_estimate_is_recorded(tiny_dir, tmp_path):
    from ftstudio.engine.runner import train

    events: list = []
    cfg = _lm_cfg(tiny_dir, tmp_path)
    cfg.training.log_every = 1
    s = train(cfg, subscribers=[events.append])
    mems = [e.memory for e in events if e.kind == "step"]
    assert mems and all(set(m) == {"cuda_allocated", "cuda_reserved"} for m in mems)
    assert all(m["cuda_reserved"] >= m["cuda_allocated"] > 0 for m in mems)
    assert s["memory_estimate_bytes"] > 0 and s["measured_memory_bytes"] > 0
    assert 0.5 <= s["memory_estimate_ratio"] <= 2.0, s
