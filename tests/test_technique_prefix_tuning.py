"""Prefix tuning: every layer's attention changes, prefixes train, base frozen, masks right, export reloads."""
from __future__ import annotations

import copy
import sys
from dataclasses import dataclass

import pytest

from ftstudio.engine.errors import UserError
from ftstudio.techniques import get_technique, make_technique, param_specs

P = 3  # prefix length in these tests


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


def _ctx(tokenizer, task):
    import torch

    from ftstudio.engine.config import RunConfig
    from ftstudio.engine.context import RunContext

    return RunContext(config=RunConfig(), device=torch.device("cpu"), tokenizer=tokenizer,
                      model_info=None, task=task)


def _load(tiny_dir, kind, task):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    path = tiny_dir(kind)
    tok = AutoTokenizer.from_pretrained(path)
    if task == "classification":
        return AutoModelForSequenceClassification.from_pretrained(path, num_labels=2), tok
    return AutoModelForCausalLM.from_pretrained(path), tok


def _prepared(tiny_dir, kind, task="classification", **params):
    """(technique, prepared model, untouched copy of the base model, tokenizer)."""
    model, tok = _load(tiny_dir, kind, task)
    base = copy.deepcopy(model).eval()
    tech = make_technique("prefix_tuning", {"num_virtual_tokens": P, **params})
    tech.ctx = _ctx(tok, task)
    tech.check(Info(family=kind), task)
    return tech, tech.prepare_model(model, tech.ctx), base, tok


def _batch(tok, task):
    import torch

    b = dict(tok(["the movie was great and i loved it", "awful plot"], return_tensors="pt", padding=True))
    if task == "classification":
        b["labels"] = torch.tensor([1, 0])
    else:
        b["labels"] = b["input_ids"].masked_fill(b["attention_mask"] == 0, -100)
    return b


def _attention_modules(model):
    from ftstudio.engine.arch import family, layer_list

    fam = family(model)
    get = {"bert": lambda l: l.attention.self, "gpt2": lambda l: l.attn, "llama": lambda l: l.self_attn}[fam]
    return [get(layer) for layer in layer_list(model)]


def _prefix_grad_per_layer(model, tech):
    """Gradient norm that reaches each layer's slice of the prefix parameters."""
    if tech.mode == "peft":  # PEFT lays the flat prefix out as [P, layers * 2 (k, v), heads * head_dim]
        g = model.prompt_encoder["default"].embedding.weight.grad
        g = g.view(g.shape[0], 2, 2, -1)
        return [g[:, i].norm().item() for i in range(2)]
    enc = model.ftstudio_prefix
    g = enc.prefix.grad.view(enc.shape)  # [P, layers, 2, heads, head_dim]
    return [g[:, i].norm().item() for i in range(enc.shape[1])]


CASES = [("bert", "classification"), ("gpt2", "classification"), ("llama", "classification"),
         ("gpt2", "causal-lm"), ("llama", "causal-lm")]


def test_registered_params_documented_no_module_level_imports():
    cls = get_technique("prefix_tuning")
    assert cls.uses_peft and cls.tasks == ("classification", "causal-lm")
    assert "every layer" in cls.card and "gradient checkpointing" in cls.card
    specs = {s.name: s for s in param_specs(cls.Params)}
    assert set(specs) == {"num_virtual_tokens", "prefix_projection", "projection_hidden", "prefix_lr", "head_lr"}
    assert all(s.help and s.label for s in specs.values())
    assert specs["head_lr"].type is float and specs["head_lr"].optional
    src = open(sys.modules[cls.__module__].__file__).read()
    for mod in ("torch", "transformers", "peft", "safetensors"):
        assert f"\nimport {mod}" not in src and f"\nfrom {mod}" not in src


def test_check_rejects_unsupported():
    t = make_technique("prefix_tuning", {})
    with pytest.raises(UserError, match="'t5'"):
        t.check(Info(family="t5"), "classification")
    with pytest.raises(UserError, match="causal LM"):
        t.check(Info(family="bert"), "causal-lm")


def test_refuses_gradient_checkpointing(tiny_dir):
    model, tok = _load(tiny_dir, "bert", "classification")
    model.gradient_checkpointing_enable()
    tech = make_technique("prefix_tuning", {"num_virtual_tokens": P})
    with pytest.raises(UserError, match="gradient checkpointing"):
        tech.prepare_model(model, _ctx(tok, "classification"))


@pytest.mark.parametrize("kind,task", CASES)
def test_prefix_changes_attention_in_every_layer(tiny_dir, kind, task):
    """Unlike prompt tuning, the embeddings are untouched but layer 0's attention already differs,
    and the loss gradient reaches the prefix of every layer."""
    import torch

    tech, model, base, tok = _prepared(tiny_dir, kind, task)
    enc = tok(["the movie was great"], return_tensors="pt")

    def capture(m):
        seen: dict = {}
        hooks = [a.register_forward_hook(lambda _m, _i, o, k=i: seen.__setitem__(k, o[0].detach()))
                 for i, a in enumerate(_attention_modules(m))]
        emb = m.get_input_embeddings().register_forward_hook(lambda _m, _i, o: seen.__setitem__("emb", o.detach()))
        with torch.no_grad():
            m(**enc)
        for h in [*hooks, emb]:
            h.remove()
        return seen

    model.eval()
    with_prefix, without = capture(model), capture(base)
    assert torch.equal(with_prefix["emb"], without["emb"])  # nothing prepended to the input
    for i in range(2):
        assert with_prefix[i].shape == without[i].shape  # same token count out of attention
        assert not torch.allclose(with_prefix[i], without[i], atol=1e-4), f"layer {i} unchanged"

    model.train()
    model(**_batch(tok, task)).loss.backward()
    assert all(g > 0 for g in _prefix_grad_per_layer(model, tech))


def test_bert_each_layer_attention_recomputed_differs(tiny_dir):
    """Re-run each frozen BERT self-attention on the input it saw: the prefixed output differs."""
    import torch

    tech, model, base, tok = _prepared(tiny_dir, "bert")
    model.eval()
    seen = {}
    hooks = [a.register_forward_hook(lambda _m, args, out, k=i: seen.__setitem__(k, (args[0], out[0])))
             for i, a in enumerate(_attention_modules(model))]
    with torch.no_grad():
        model(**tok(["wonderful acting"], return_tensors="pt"))
        for i, plain in enumerate(_attention_modules(base)):
            inp, out = seen[i]
            assert not torch.allclose(plain(inp)[0], out, atol=1e-4), f"layer {i} ignores its prefix"
    for h in hooks:
        h.remove()


@pytest.mark.parametrize("kind,task", CASES)
def test_trains_prefix_and_head_base_bitwise_frozen(tiny_dir, kind, task):
    import torch

    tech, model, _, tok = _prepared(tiny_dir, kind, task, prefix_lr=0.05, head_lr=0.01)
    groups = tech.param_groups(model, lr=2e-5, weight_decay=0.01)
    names = [g["name"] for g in groups]
    assert names == (["prefix", "head"] if task == "classification" else ["prefix"])
    assert groups[0]["lr"] == 0.05 and (task != "classification" or groups[1]["lr"] == 0.01)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    trained = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert frozen and trained
    opt = torch.optim.AdamW(groups)
    batch = _batch(tok, task)
    model.train()
    for _ in range(3):
        opt.zero_grad()
        model(**batch).loss.backward()
        opt.step()
    for n, p in model.named_parameters():
        if n in frozen:
            assert torch.equal(frozen[n], p), f"frozen param changed: {n}"
        else:
            assert not torch.equal(trained[n], p), f"trainable param did not move: {n}"


@pytest.mark.parametrize("kind,task", CASES)
@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_padding_keeps_short_sequence_logits(tiny_dir, kind, task, impl):
    import torch

    tech, model, _, tok = _prepared(tiny_dir, kind, task)
    model.get_base_model().set_attn_implementation(impl) if tech.mode == "peft" else model.set_attn_implementation(impl)
    model.eval()
    with torch.no_grad():
        alone = model(**tok(["awful plot"], return_tensors="pt")).logits
        both = model(**tok(["the movie was great and i loved it", "awful plot"], return_tensors="pt",
                           padding=True)).logits
    n = alone.shape[1] if alone.dim() == 3 else None
    assert torch.allclose(alone[0], both[1, :n] if n else both[1], atol=1e-5)


def test_max_length_reserved(tiny_dir):
    import torch

    tech, model, _, _ = _prepared(tiny_dir, "bert")
    assert tech.max_length_reserved() == 0  # BERT positions untouched by the per-layer prefix
    ids = torch.randint(5, 100, (1, 128))
    with torch.no_grad():
        assert model(input_ids=ids).logits.shape == (1, 2)

    tech, model, _, _ = _prepared(tiny_dir, "gpt2", "causal-lm")
    assert tech.max_length_reserved() == P  # decoder positions start after the prefix
    ids = torch.randint(5, 100, (1, 128 - P))
    with torch.no_grad():
        assert model(input_ids=ids).logits.shape[1] == 128 - P


@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_own_export_drops_mlp_and_reloads(tiny_dir, tmp_path, kind):
    import torch
    from safetensors.torch import load_file

    tech, model, _, tok = _prepared(tiny_dir, kind, prefix_projection=True, projection_hidden=16)
    assert hasattr(model.ftstudio_prefix, "mlp")
    batch = _batch(tok, "classification")
    opt = torch.optim.AdamW(tech.param_groups(model, 1e-3, 0.0))
    for _ in range(2):
        opt.zero_grad()
        model(**batch).loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        ref = model(**batch).logits
    out = tech.export(model, str(tmp_path / "exp"), tok, "adapter")[0]
    saved = load_file(f"{out}/prefix.safetensors")
    assert saved["prefix"].shape == (2, 2, 2, P, 16)  # computed prefixes only, no MLP weights
    assert not any("mlp" in k or "embedding" in k for k in saved)

    fresh, _ = _load(tiny_dir, kind, "classification")  # a different random head
    loaded = make_technique("prefix_tuning", {}).load_for_inference(fresh, out)
    with torch.no_grad():
        assert torch.allclose(loaded(**batch).logits, ref, atol=1e-5)


def test_peft_causal_lm_export_loads_with_peft(tiny_dir, tmp_path):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    tech, model, _, tok = _prepared(tiny_dir, "gpt2", "causal-lm", prefix_projection=True, projection_hidden=16)
    batch = _batch(tok, "causal-lm")
    opt = torch.optim.AdamW(tech.param_groups(model, 1e-3, 0.0))
    for _ in range(2):
        opt.zero_grad()
        model(**batch).loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        ref = model(**batch).logits
    out = tech.export(model, str(tmp_path / "exp"), tok, "adapter")[0]
    reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_dir("gpt2")), out).eval()
    saved = load_file(f"{out}/adapter_model.safetensors")
    assert {k: tuple(v.shape) for k, v in saved.items()} == {"prompt_embeddings": (P, 2 * 2 * 32)}  # MLP dropped
    again = make_technique("prefix_tuning", {}).load_for_inference(
        AutoModelForCausalLM.from_pretrained(tiny_dir("gpt2")), out)
    with torch.no_grad():
        assert torch.allclose(reloaded(**batch).logits, ref, atol=1e-5)
        assert torch.allclose(again(**batch).logits, ref, atol=1e-5)


def test_end_to_end_run_and_reload(tiny_dir, tiny_csv):
    """Through the engine's runner (if present): trains, exports, and the export reloads."""
    runner = pytest.importorskip("ftstudio.engine.runner")
    from ftstudio.engine.config import RunConfig

    cfg = RunConfig.from_dict({
        "model": str(tiny_dir("bert")), "task": "classification", "data": {"train": str(tiny_csv)},
        "technique": {"name": "prefix_tuning", "params": {"num_virtual_tokens": P, "prefix_projection": True}},
        "training": {"max_steps": 3, "batch_size": 8, "eval_every": None, "device": "cpu"},
    })
    summary = runner.train(cfg)
    assert summary["status"] == "finished"
    base, _ = _load(tiny_dir, "bert", "classification")
    model = make_technique("prefix_tuning", {}).load_for_inference(base, summary["export"][0])
    assert model.ftstudio_prefix.prefix.shape[0] == P


@pytest.mark.parametrize("technique,kind,task,expected", [
    ("prefix_tuning", "bert", "classification", 128),  # per-layer prefix: BERT keeps every position
    ("prefix_tuning", "gpt2", "classification", 128 - 8),  # decoder text starts after the prefix
    ("prefix_tuning", "gpt2", "causal-lm", 128 - 8),
    ("prompt_tuning", "bert", "classification", 128 - 8),  # virtual tokens sit in front of the text
    ("lora", "bert", "classification", 128),
])
def test_text_length_the_engine_tokenizes_to(tiny_dir, technique, kind, task, expected):
    """Decided before the model loads (the data is tokenized first), so the technique is told
    the model type: BERT prefix tuning used to lose its 8 virtual tokens' worth of text."""
    from ftstudio.engine.config import RunConfig, TechniqueConfig, TrainingConfig
    from ftstudio.engine.runner import input_max_length
    from ftstudio.techniques import make_technique

    params = {"num_virtual_tokens": 8} if technique != "lora" else {}
    cfg = RunConfig(model=str(tiny_dir(kind)), task=task, technique=TechniqueConfig(technique, params),
                    training=TrainingConfig(max_length=512))
    assert input_max_length(cfg, make_technique(technique, params), str(tiny_dir(kind))) == expected
