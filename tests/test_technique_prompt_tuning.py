"""Prompt tuning: soft prompt trains, the base stays frozen, the head learns, export reloads."""
from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest

from ftstudio.engine.errors import UserError
from ftstudio.techniques import get_technique, make_technique, param_specs


@dataclass
class Info:  # stand-in for engine.models.ModelInfo
    family: str
    architecture: str = ""
    total_params: int = 0
    num_layers: int = 2
    hidden_size: int = 32
    has_bias: bool = True
    bias_params: int = 0
    max_length: int = 128
    vocab_size: int = 200


def _ctx(tokenizer, task="classification"):
    import torch

    from ftstudio.engine.config import RunConfig
    from ftstudio.engine.context import RunContext

    return RunContext(config=RunConfig(), device=torch.device("cpu"), tokenizer=tokenizer,
                      model_info=None, task=task)


def _load(tiny_dir, kind, task="classification"):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    path = tiny_dir(kind)
    tok = AutoTokenizer.from_pretrained(path)
    if task == "classification":
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    else:
        model = AutoModelForCausalLM.from_pretrained(path)
    return model, tok


def _prepared(tiny_dir, kind, task="classification", **params):
    model, tok = _load(tiny_dir, kind, task)
    tech = make_technique("prompt_tuning", {"num_virtual_tokens": 4, **params})
    tech.ctx = _ctx(tok, task)
    tech.check(Info(family=kind), task)
    return tech, tech.prepare_model(model, tech.ctx), tok


def _batch(tok, task="classification"):
    import torch

    b = dict(tok(["the movie was great and i loved it", "awful plot"], return_tensors="pt", padding=True))
    if task == "classification":
        b["labels"] = torch.tensor([1, 0])
    else:
        b["labels"] = b["input_ids"].masked_fill(b["attention_mask"] == 0, -100)
    return b


def _train(model, groups, batch, steps=3):
    import torch

    opt = torch.optim.AdamW(groups)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        model(**batch).loss.backward()
        opt.step()


def test_registered_without_torch_and_params_documented():
    cls = get_technique("prompt_tuning")
    assert cls.uses_peft and cls.tasks == ("classification", "causal-lm")
    assert "10" in cls.card and "lags" in cls.card  # honest about small models
    specs = {s.name: s for s in param_specs(cls.Params)}
    assert set(specs) == {"num_virtual_tokens", "init", "init_text", "prompt_lr", "head_lr"}
    assert all(s.help and s.label for s in specs.values())
    assert specs["head_lr"].type is float and specs["head_lr"].optional
    assert specs["init"].choices == ("random", "text", "sample_vocab")
    assert specs["prompt_lr"].min == 1e-4 and specs["prompt_lr"].max == 1.0
    assert "0.3" in specs["prompt_lr"].help and "Adafactor" in specs["prompt_lr"].help
    src = open(sys.modules[cls.__module__].__file__).read()
    for mod in ("torch", "transformers", "peft"):
        assert f"\nimport {mod}" not in src and f"\nfrom {mod}" not in src


def test_check_rejects_unsupported():
    t = make_technique("prompt_tuning", {})
    with pytest.raises(UserError, match="t5"):
        t.check(Info(family="t5"), "classification")
    with pytest.raises(UserError, match="causal LM"):
        t.check(Info(family="bert"), "causal-lm")
    with pytest.raises(UserError, match="init_text"):
        make_technique("prompt_tuning", {"init": "text"}).check(Info(family="bert"), "classification")
    with pytest.raises(UserError, match="virtual tokens"):
        make_technique("prompt_tuning", {"num_virtual_tokens": 125}).check(Info(family="bert"), "classification")


@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_classification_trains_prompt_and_head_base_frozen(tiny_dir, kind):
    import torch

    tech, model, tok = _prepared(tiny_dir, kind, prompt_lr=0.05, head_lr=0.01)
    groups = tech.param_groups(model, lr=2e-5, weight_decay=0.01)
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {"prompt", "head"}
    assert by_name["prompt"]["lr"] == 0.05 and by_name["head"]["lr"] == 0.01
    assert sum(p.numel() for p in by_name["prompt"]["params"]) == 4 * 32

    base = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    prompt0 = by_name["prompt"]["params"][0].detach().clone()
    head0 = [p.detach().clone() for p in by_name["head"]["params"]]
    batch = _batch(tok)
    out = model(**batch)
    out.loss.backward()
    # The head must receive gradients (PEFT once silently stopped training it for SEQ_CLS).
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in by_name["head"]["params"])
    assert by_name["prompt"]["params"][0].grad.abs().sum() > 0

    _train(model, groups, batch)
    assert not torch.equal(prompt0, by_name["prompt"]["params"][0])
    assert all(not torch.equal(a, b) for a, b in zip(head0, by_name["head"]["params"]))
    for n, p in model.named_parameters():
        if n in base:
            assert torch.equal(base[n], p), f"frozen param changed: {n}"


def test_head_lr_none_uses_run_lr(tiny_dir):
    tech, model, _ = _prepared(tiny_dir, "bert", head_lr=None)
    groups = {g["name"]: g for g in tech.param_groups(model, lr=7e-4, weight_decay=0.0)}
    assert groups["head"]["lr"] == 7e-4


@pytest.mark.parametrize("kind", ["bert", "gpt2", "llama"])
def test_padding_does_not_change_a_short_sequence(tiny_dir, kind):
    """A short text gives the same logits alone and right-padded next to a long one.

    For GPT-2/Llama this needs our last-real-token pooling: PEFT passes inputs_embeds, so the
    HF classifier would otherwise pool a pad token.
    """
    import torch

    tech, model, tok = _prepared(tiny_dir, kind)
    model.eval()
    with torch.no_grad():
        alone = model(**tok(["awful plot"], return_tensors="pt")).logits
        both = model(**tok(["the movie was great and i loved it", "awful plot"], return_tensors="pt",
                           padding=True)).logits
    assert torch.allclose(alone[0], both[1], atol=1e-5)


def test_max_length_reserved_and_forward_at_model_max(tiny_dir):
    import torch

    tech, model, tok = _prepared(tiny_dir, "bert")
    assert tech.max_length_reserved() == 4
    n = 128 - tech.max_length_reserved()  # what the loop feeds: model max minus virtual tokens
    ids = torch.randint(5, 100, (1, n))
    with torch.no_grad():
        assert model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.shape == (1, 2)
    with pytest.raises(Exception):  # one more token overflows the position embeddings
        ids = torch.randint(5, 100, (1, n + 1))
        model(input_ids=ids, attention_mask=torch.ones_like(ids))


def test_text_init_uses_token_embeddings(tiny_dir):
    import torch

    tech, model, tok = _prepared(tiny_dir, "bert", init="text", init_text="great movie")
    ids = tok("great movie", add_special_tokens=False)["input_ids"]
    want = model.get_input_embeddings().weight[torch.tensor((ids * 4)[:4])]
    got = model.prompt_encoder["default"].embedding.weight
    assert torch.equal(got, want)


def test_causal_lm_trains_and_export_reloads(tiny_dir, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    tech, model, tok = _prepared(tiny_dir, "gpt2", task="causal-lm", init="sample_vocab")
    groups = tech.param_groups(model, lr=1e-3, weight_decay=0.0)
    assert [g["name"] for g in groups] == ["prompt"]  # no head for generation
    batch = _batch(tok, "causal-lm")
    model.eval()
    with torch.no_grad():
        loss0 = model(**batch).loss.item()
    _train(model, groups, batch, steps=20)
    model.eval()
    with torch.no_grad():
        loss1 = model(**batch).loss.item()
        ref = model(**batch).logits
    assert loss1 < loss0

    paths = tech.export(model, str(tmp_path / "exp"), tok, "adapter")
    base = AutoModelForCausalLM.from_pretrained(tiny_dir("gpt2"))
    reloaded = PeftModel.from_pretrained(base, paths[0]).eval()
    with torch.no_grad():
        assert torch.allclose(reloaded(**batch).logits, ref, atol=1e-6)


def test_classification_export_reloads_prompt_and_head(tiny_dir, tmp_path):
    import torch

    tech, model, tok = _prepared(tiny_dir, "gpt2")
    batch = _batch(tok)
    _train(model, tech.param_groups(model, 1e-3, 0.0), batch)
    model.eval()
    with torch.no_grad():
        ref = model(**batch).logits
    tech.export(model, str(tmp_path / "exp"), tok, "adapter")
    base, _ = _load(tiny_dir, "gpt2")  # fresh random head: must be replaced by the exported one
    loaded = tech.load_for_inference(base, str(tmp_path / "exp"))
    with torch.no_grad():
        assert torch.allclose(loaded(**batch).logits, ref, atol=1e-6)


def test_end_to_end_run_and_reload(tiny_dir, tiny_csv):
    """Through the engine's runner (if present): trains, exports, and the export reloads."""
    runner = pytest.importorskip("ftstudio.engine.runner")
    from ftstudio.engine.config import RunConfig

    cfg = RunConfig.from_dict({
        "model": str(tiny_dir("bert")), "task": "classification", "data": {"train": str(tiny_csv)},
        "technique": {"name": "prompt_tuning", "params": {"num_virtual_tokens": 4}},
        "training": {"max_steps": 3, "batch_size": 8, "eval_every": None, "device": "cpu"},
    })
    summary = runner.train(cfg)
    assert summary["status"] == "finished"
    base, _ = _load(tiny_dir, "bert")
    model = make_technique("prompt_tuning", {}).load_for_inference(base, summary["export"][0])
    assert model.peft_config["default"].num_virtual_tokens == 4
