"""GGUF export: a tiny Llama written with the gguf package's writer, read back by transformers
(gguf_file=), gives the same logits and greedy output as the merged HF model; tokenizer and chat
template travel in the metadata; the CLI and the Modelfile."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("gguf")

from ftstudio.engine.errors import UserError  # noqa: E402

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
TEXTS = ["the quick brown fox jumps over the lazy dog", "name a color", "stocks rose as markets rallied"]


def _load_back(path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    m = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name).eval()
    t = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    return m, t


def _compare(m, t, m2, t2):
    import torch

    worst, same = 0.0, 0
    for text in TEXTS:
        assert t2(text)["input_ids"] == t(text)["input_ids"]
        ids = torch.tensor([t(text)["input_ids"]])
        with torch.no_grad():
            worst = max(worst, (m(ids).logits - m2(ids).logits).abs().max().item())
            g1 = m.generate(ids, max_new_tokens=8, do_sample=False, pad_token_id=0)
            g2 = m2.generate(ids, max_new_tokens=8, do_sample=False, pad_token_id=0)
        same += g1.tolist() == g2.tolist()
    return worst, same


@pytest.fixture(scope="module")
def tiny_llama(tiny_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = tiny_dir("llama")
    m = AutoModelForCausalLM.from_pretrained(src).eval()
    torch.manual_seed(1)
    with torch.no_grad():  # sharper logits than the random init, so greedy paths are decisive
        for p in m.parameters():
            if p.ndim == 2:
                p.mul_(4.0)
    t = AutoTokenizer.from_pretrained(src)
    return m, t


@pytest.mark.parametrize("quant,tol", [("f16", 2e-2), ("q8_0", 0.25)])
def test_round_trip_matches_logits_and_greedy_output(tiny_llama, tmp_path, quant, tol):
    from ftstudio.engine.gguf_export import write_gguf

    m, t = tiny_llama
    path = write_gguf(m, t, tmp_path / f"tiny-{quant}.gguf", quant, name="tiny", chat_template=CHATML)
    m2, t2 = _load_back(path)
    worst, same = _compare(m, t, m2, t2)
    assert worst < tol, worst
    assert same == len(TEXTS)
    assert t2.chat_template == CHATML
    assert t2.eos_token == t.eos_token and t2.pad_token_id == t.pad_token_id


def test_q8_0_is_smaller_and_f16_is_exacter(tiny_llama, tmp_path):
    from ftstudio.engine.gguf_export import write_gguf

    m, t = tiny_llama
    f16 = write_gguf(m, t, tmp_path / "a" / "m.gguf", "f16")
    q8 = write_gguf(m, t, tmp_path / "b" / "m.gguf", "q8_0")
    assert q8.stat().st_size < 0.8 * f16.stat().st_size
    w16, _ = _compare(m, t, *_load_back(f16))
    w8, _ = _compare(m, t, *_load_back(q8))
    assert w16 < w8


def test_non_llama_models_and_bad_quant_are_refused(tiny_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ftstudio.engine.gguf_export import write_gguf

    src = tiny_dir("gpt2")
    m, t = AutoModelForCausalLM.from_pretrained(src), AutoTokenizer.from_pretrained(src)
    with pytest.raises(UserError, match="Llama-family.*'gpt2'"):
        write_gguf(m, t, tmp_path / "x.gguf")
    with pytest.raises(UserError, match="--quant must be one of f16, q8_0"):
        write_gguf(m, t, tmp_path / "x.gguf", "q4_k")


def test_modelfile_follows_the_chat_template_family(tmp_path):
    from ftstudio.engine.gguf_export import template_family, write_modelfile

    assert template_family(CHATML) == "chatml"
    assert template_family(None) == "default"
    mf = write_modelfile(tmp_path, "m.gguf", CHATML, stop_tokens=["<|im_end|>", "<|endoftext|>"]).read_text()
    assert "FROM ./m.gguf" in mf and "<|im_start|>assistant" in mf
    assert mf.count('PARAMETER stop "<|im_end|>"') == 1 and 'PARAMETER stop "<|endoftext|>"' in mf


@pytest.fixture(scope="module")
def lora_run(tiny_dir, tmp_path_factory):
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
    from ftstudio.engine.runner import train

    tmp = tmp_path_factory.mktemp("ggrun")
    p = tmp / "chat.jsonl"
    p.write_text("\n".join(json.dumps({"messages": [{"role": "user", "content": "name a color"},
                                                    {"role": "assistant", "content": "blue"}]})
                           for _ in range(16)))
    cfg = RunConfig(model=str(tiny_dir("llama")), task="causal-lm",
                    data=DataConfig(train=str(p), chat_template=CHATML), runs_dir=str(tmp / "runs"),
                    technique=TechniqueConfig("lora", {"r": 4, "alpha": 8}),
                    training=TrainingConfig(max_steps=6, batch_size=8, learning_rate=5e-2, max_length=96,
                                            eval_every=None))
    s = train(cfg)
    assert s["status"] == "finished"
    return s["run_dir"]


def test_cli_exports_a_lora_run_merged_and_it_generates_like_the_run(lora_run, capsys):
    import torch
    from pathlib import Path

    from ftstudio.cli import main
    from ftstudio.engine.predict import GenerationSettings, Predictor

    assert main(["export", lora_run, "--format", "gguf", "--quant", "f16"]) == 0
    paths = [Path(x) for x in capsys.readouterr().out.split()]
    gg = next(p for p in paths if p.suffix == ".gguf")
    assert (gg.parent / "Modelfile").read_text().count("<|im_start|>assistant") == 1
    m2, t2 = _load_back(gg)
    assert t2.chat_template == CHATML  # the template the run trained with
    pred = Predictor(lora_run)
    merged = pred.model.merge_and_unload() if hasattr(pred.model, "merge_and_unload") else pred.model
    prompt = pred.prompt_for("name a color")
    ids = t2(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        assert (merged(ids).logits - m2(ids).logits).abs().max().item() < 2e-2
    ours = pred.predict("name a color", GenerationSettings(max_new_tokens=8))["text"]
    with torch.no_grad():
        out = m2.generate(ids, max_new_tokens=8, do_sample=False, pad_token_id=0,
                          eos_token_id=t2.eos_token_id)
    assert t2.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip() == ours


def test_cli_export_errors_are_one_line(lora_run, tmp_path, capsys):
    from ftstudio.cli import main

    assert main(["export", str(tmp_path), "--format", "gguf"]) == 2
    assert "is not a run folder" in capsys.readouterr().err
