"""Tests that catch the wrong twins of adapters, prefix tuning and LoRA (issue 13): the adapter
reads the output projection (not the whole sublayer), prefix values train as well as keys, the LoRA
classifier head trains, GPT-2/Llama LoRA target the right modules and merge exactly."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from ftstudio.engine.context import RunContext
from ftstudio.techniques import make_technique
from tests.test_technique_adapter import _inputs as _adapter_inputs
from tests.test_technique_adapter import _train as _steps


def _inputs():
    return _adapter_inputs("bert")  # random ids valid for every tiny tokenizer


def _ctx(task="classification", family="bert", tok=None):
    return RunContext(config=None, device="cpu", tokenizer=tok, model_info=SimpleNamespace(family=family), task=task)


def _cls(path, num_labels=2):
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels)


# -- 1. adapter placement ------------------------------------------------------
@pytest.mark.parametrize("variant", ["houlsby", "pfeiffer"])
def test_bert_adapter_reads_the_output_projection_before_residual_and_layernorm(tiny_dir, variant):
    """Each adapter's input is exactly its dense projection's output, and what the sublayer's
    LayerNorm then sees is dense + adapter delta + residual (hand-computed)."""
    import torch

    model = _cls(tiny_dir("bert")).eval()
    model = make_technique("adapter", {"variant": variant, "reduction_factor": 4}).prepare_model(model, _ctx())
    with torch.no_grad():  # a non-zero W_up so the adapter actually changes things
        for n, p in model.named_parameters():
            if ".adapter.up." in n:
                p.copy_(torch.randn_like(p) * 0.5)
    adapters = {n: m for n, m in model.named_modules() if n.endswith(".adapter")}
    layers = model.bert.encoder.layer
    subs = [(f"bert.encoder.layer.{i}.output", layers[i].output) for i in range(len(layers))]
    if variant == "houlsby":
        subs += [(f"bert.encoder.layer.{i}.attention.output", layers[i].attention.output) for i in range(len(layers))]
    assert set(adapters) == {f"{name}.dense.adapter" for name, _ in subs}

    seen: dict = {}
    hooks = []
    for name, sub in subs:  # BertSelfOutput / BertOutput: LayerNorm(dropout(dense(h)) + input_tensor)
        hooks.append(sub.register_forward_hook(
            lambda m, args, out, k=name: seen.__setitem__(k + ":sub", (args[0], args[1]))))
        hooks.append(sub.dense.register_forward_hook(lambda m, a, o, k=name: seen.__setitem__(k + ":dense", o)))
        hooks.append(sub.LayerNorm.register_forward_pre_hook(lambda m, a, k=name: seen.__setitem__(k + ":ln", a[0])))
        hooks.append(adapters[f"{name}.dense.adapter"].register_forward_pre_hook(
            lambda m, a, k=name: seen.__setitem__(k + ":ad", a[0])))
    with torch.no_grad():
        model(**_inputs())
    for h in hooks:
        h.remove()
    for name, sub in subs:
        hidden, residual = seen[name + ":sub"]
        with torch.no_grad():
            raw = torch.nn.functional.linear(hidden, sub.dense.weight, sub.dense.bias)  # dense without its hook
            ad = adapters[f"{name}.dense.adapter"]
            expected_ln_input = raw + ad.up(ad.act(ad.down(raw))) + residual
        torch.testing.assert_close(seen[name + ":ad"], raw, atol=1e-6, rtol=0)
        torch.testing.assert_close(seen[name + ":ln"], expected_ln_input, atol=1e-5, rtol=0)


# -- 2. prefix tuning trains keys AND values ------------------------------------
CASES = [("bert", "classification"), ("gpt2", "classification"), ("llama", "classification"),
         ("gpt2", "causal-lm"), ("llama", "causal-lm")]


def _kv_slices(model, tech, tensor_of):
    """[(key part, value part)] per layer of the prefix parameter (or of its gradient)."""
    if tech.mode == "peft":  # PEFT: [P, layers * 2 (k, v), kv_heads * head_dim]
        t = tensor_of(model.prompt_encoder["default"].embedding.weight)
        t = t.view(t.shape[0], len(_layers(model)), 2, -1)
        return [(t[:, i, 0], t[:, i, 1]) for i in range(t.shape[1])]
    enc = model.ftstudio_prefix
    t = tensor_of(enc.prefix).view(enc.shape)  # [P, layers, 2, heads, head_dim]
    return [(t[:, i, 0], t[:, i, 1]) for i in range(enc.shape[1])]


def _layers(model):
    from ftstudio.engine.arch import layer_list

    return layer_list(model.get_base_model() if hasattr(model, "get_base_model") else model)


@pytest.mark.parametrize("kind,task", CASES)
def test_prefix_keys_and_values_both_get_gradients_and_move(tiny_dir, kind, task):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    path = tiny_dir(kind)
    tok = AutoTokenizer.from_pretrained(path)
    model = _cls(path) if task == "classification" else AutoModelForCausalLM.from_pretrained(path)
    from ftstudio.engine.config import RunConfig

    tech = make_technique("prefix_tuning", {"num_virtual_tokens": 3})
    tech.ctx = RunContext(config=RunConfig(), device=torch.device("cpu"), tokenizer=tok, model_info=None, task=task)
    model = tech.prepare_model(model, tech.ctx)
    b = dict(tok(["the movie was great and i loved it", "awful plot"], return_tensors="pt", padding=True))
    b["labels"] = torch.tensor([1, 0]) if task == "classification" else \
        b["input_ids"].masked_fill(b["attention_mask"] == 0, -100)
    before = _kv_slices(model, tech, lambda p: p.detach().clone())
    opt = torch.optim.AdamW(tech.param_groups(model, lr=1e-3, weight_decay=0.0))
    model.train()
    model(**b).loss.backward()
    grads = _kv_slices(model, tech, lambda p: p.grad)
    for i, (gk, gv) in enumerate(grads):
        assert gk.abs().sum() > 0, f"layer {i}: key prefix gets no gradient"
        assert gv.abs().sum() > 0, f"layer {i}: value prefix gets no gradient"
    opt.step()
    after = _kv_slices(model, tech, lambda p: p.detach())
    for i, ((k0, v0), (k1, v1)) in enumerate(zip(before, after)):
        assert not torch.equal(k0, k1), f"layer {i}: key prefix did not move"
        assert not torch.equal(v0, v1), f"layer {i}: value prefix did not move"


# -- 3. LoRA trains the classifier head -----------------------------------------
@pytest.mark.parametrize("kind", ["bert", "gpt2", "llama"])
def test_lora_classifier_head_requires_grad_and_changes(tiny_dir, kind):
    import torch

    model = make_technique("lora", {"r": 4}).prepare_model(_cls(tiny_dir(kind)), _ctx(family=kind))
    head = [(n, p) for n, p in model.named_parameters()
            if any(h in n for h in ("classifier", "score")) and "lora_" not in n
            and "original_module" not in n]  # PEFT keeps a frozen copy beside the trained one
    assert head, "no classifier head found"
    assert all(p.requires_grad for _, p in head), [n for n, p in head if not p.requires_grad]
    before = {n: p.detach().clone() for n, p in head}
    _steps(model, _inputs(), torch.tensor([0, 1, 1]))
    moved = [n for n, p in head if not torch.equal(p, before[n])]
    assert any(n.endswith("weight") for n in moved), f"head did not train: {moved}"


# -- 5. GPT-2 / Llama LoRA: targets, fan_in_fan_out, merge exact ------------------
def _lora_modules(model):
    return sorted({n.split(".lora_A.")[0] for n, _ in model.named_parameters() if ".lora_A." in n})


@pytest.mark.parametrize("kind,targets", [("gpt2", ["c_attn"]), ("llama", ["q_proj", "v_proj"])])
def test_lora_default_targets_and_merged_export_equals_adapter_model(tiny_dir, tmp_path, kind, targets):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir(kind))
    tech = make_technique("lora", {"r": 4, "alpha": 8, "export_merged": True})
    model = tech.prepare_model(_cls(tiny_dir(kind)), _ctx(family=kind, tok=tok))
    mods = _lora_modules(model)
    assert {m.rsplit(".", 1)[-1] for m in mods} == set(targets)
    assert len(mods) == 2 * len(targets)  # every layer (2 in the tiny models)
    cfg = model.peft_config["default"]
    assert cfg.fan_in_fan_out is (kind == "gpt2")
    inputs = _inputs()
    _steps(model, inputs, torch.tensor([0, 1, 1]), steps=4, lr=3e-2)
    model.eval()
    if kind == "gpt2":  # Conv1D keeps (in, out): the merged delta is (B @ A)^T
        layer = model.base_model.model.transformer.h[0].attn.c_attn
        delta = (layer.lora_B["default"].weight @ layer.lora_A["default"].weight).T * (8 / 4)
        assert delta.abs().max() > 0
    with torch.no_grad():
        want = model(**inputs).logits
    out = tmp_path / "export"
    tech.export(model, str(out), tok)
    plain = AutoModelForSequenceClassification.from_pretrained(out / "merged").eval()
    assert not any("lora" in n for n, _ in plain.named_parameters())
    with torch.no_grad():
        got = plain(**inputs).logits
    base = _cls(tiny_dir(kind)).eval()
    with torch.no_grad():
        assert (base(**inputs).logits - want).abs().max() > 1e-3  # the update matters
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    if kind == "gpt2":
        w_base = base.transformer.h[0].attn.c_attn.weight
        w_merged = plain.transformer.h[0].attn.c_attn.weight
        torch.testing.assert_close(w_merged - w_base, delta.detach(), atol=1e-5, rtol=0)
