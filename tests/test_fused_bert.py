"""A BERT layer on packed rows as one autograd function (engine/fused_bert.py): the modules'
outputs and gradients (dropout on, the same masks), for full fine-tuning and LoRA, and the
modules wherever the function does not apply."""
from __future__ import annotations

import copy

import pytest
import torch

from ftstudio.engine import fast_dropout, fused_bert, lowrank, packing
from tests.autograd_graph import count_nodes

CPU = torch.device("cpu")
LENGTHS = (7, 3, 12, 12, 1, 5, 7)  # five runs of equal length, one of them a single token


def tiny_bert(layers: int = 2):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=layers, num_attention_heads=4,
                     intermediate_size=48, max_position_embeddings=64, num_labels=3,
                     attn_implementation="sdpa")
    return BertForSequenceClassification(cfg)


def examples() -> list[dict]:
    g = torch.Generator().manual_seed(1)
    return [{"input_ids": torch.randint(5, 60, (n,), generator=g).tolist(), "token_type_ids": [0] * n,
             "label": i % 3} for i, n in enumerate(LENGTHS)]


def with_lora(model, targets, dropout: float = 0.0):
    from peft import LoraConfig, TaskType, get_peft_model

    model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, r=4, lora_alpha=8,
                                             lora_dropout=dropout, target_modules=targets))
    for n, p in model.named_parameters():
        if "lora_B" in n:  # PEFT starts B at zero: give it values, or its gradients hide mistakes
            p.data.normal_(0, 0.5)
    return model


def pair(model):
    """(the engine's modules path, the same model with the fused layers)."""
    packing.enable(model)
    fast_dropout.enable(model, CPU)
    lowrank.enable(model, CPU)
    fused = copy.deepcopy(model)
    assert fused_bert.enable(fused, CPU) == len(list(_layers(fused)))
    return model, fused


def _layers(model):
    return [m for m in model.modules() if isinstance(m, fused_bert._layer_class())]


def fused_nodes(t: torch.Tensor) -> int:
    return count_nodes(t, "LayerFunctionBackward")


def run(model, batch: dict, seed: int = 3) -> tuple:
    torch.manual_seed(seed)  # the same dropout masks on both paths (drawn in the same order)
    out = model(**{k: v for k, v in batch.items() if k not in ("idx", "task_id")})
    nodes = fused_nodes(out.loss)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return out.logits.detach(), float(out.loss.detach()), grads, nodes


def assert_same(ref: tuple, got: tuple, layers: int) -> None:
    logits, loss, grads, nodes = ref
    assert nodes == 0
    assert got[3] == layers, "the fused function did not run in every layer"
    assert torch.allclose(got[0], logits, atol=1e-5)
    assert abs(got[1] - loss) < 1e-5
    assert set(got[2]) == set(grads)
    scale = max(float(g.abs().max()) for g in grads.values())
    for n, g in grads.items():  # the key bias's gradient is zero up to rounding: compare on one scale
        assert torch.allclose(got[2][n], g, rtol=1e-4, atol=1e-5 * scale), n


def test_full_fine_tuning_matches_the_modules_with_dropout():
    ref, fused = pair(tiny_bert())
    ref.train(), fused.train()
    batch = packing.collate_packed(examples(), 0)
    assert len(batch[packing.PACK_KEY].groups) == 5
    a, b = run(ref, batch), run(fused, batch)
    assert_same(a, b, 2)
    # dropout is really on: another seed gives another loss
    assert abs(run(fused, batch, seed=4)[1] - b[1]) > 1e-4


@pytest.mark.parametrize("targets", [["query", "value"], ["query", "key", "value", "dense"]])
def test_lora_matches_the_modules(targets):
    """query/value: layer 0 needs no input gradient and no key gradient (skipped); all six
    projections as LoRA layers: each merged weight and its A/B gradients."""
    pytest.importorskip("peft")
    ref, fused = pair(with_lora(tiny_bert(), targets))
    ref.train(), fused.train()
    batch = packing.collate_packed(examples(), 0)
    a, b = run(ref, batch), run(fused, batch)
    assert any("lora_A" in n for n in a[2]) and any("lora_B" in n for n in a[2])
    assert not any("attention.self.query.base_layer" in n for n in a[2])
    assert_same(a, b, 2)


def test_frozen_lower_layer_gets_no_gradient_and_upper_matches():
    ref, fused = pair(tiny_bert(3))
    for m in (ref, fused):
        for n, p in m.named_parameters():
            if n.startswith("bert.embeddings") or ".layer.0." in n:
                p.requires_grad_(False)
        m.train()
    batch = packing.collate_packed(examples(), 0)
    a, b = run(ref, batch), run(fused, batch)
    assert not any(".layer.0." in n for n in b[2])
    assert_same(a, b, 2)  # layer 0 needs no gradient at all: its call leaves no node


def test_the_modules_run_wherever_the_function_does_not_apply():
    pytest.importorskip("peft")
    model = tiny_bert()
    ref, fused = pair(model)
    batch = packing.collate_packed(examples(), 0)
    # evaluation: no dropout, the modules (same logits)
    ref.eval(), fused.eval()
    with torch.no_grad():
        inputs = {k: v for k, v in batch.items() if k not in ("idx", "task_id")}
        assert torch.allclose(fused(**inputs).logits, ref(**inputs).logits, atol=1e-6)
    fused.train()
    # a padded batch
    from ftstudio.engine.data import collate

    padded = collate(sorted(examples(), key=lambda e: -len(e["input_ids"])), 0)
    assert run(fused, padded)[3] == 0
    # a hook on a part (BitFit and others watch modules): that layer keeps its modules
    for part in (fused.bert.encoder.layer[1].intermediate.dense, fused.bert.encoder.layer[1].output.LayerNorm):
        handle = part.register_forward_hook(lambda *a: None)
        assert run(fused, batch)[3] == 1
        handle.remove()
        assert run(fused, batch)[3] == 2
    # a hook on a LoRA projection: that layer keeps its modules
    _, lora = pair(with_lora(tiny_bert(), ["query", "value"]))
    lora.train()
    handle = lora.base_model.model.bert.encoder.layer[0].attention.self.query.register_forward_hook(lambda *a: None)
    assert run(lora, batch)[3] == 1
    handle.remove()
    assert run(lora, batch)[3] == 2
    # LoRA with dropout on its input: PEFT's layers, not a merged weight
    _, lora_fused = pair(with_lora(tiny_bert(), ["query", "value"], dropout=0.2))
    lora_fused.train()
    assert run(lora_fused, batch)[3] == 0


def test_engine_swaps_bert_layers_for_packed_runs_only(tiny_dir):
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
    from ftstudio.engine.events import EventBus
    from ftstudio.engine.runner import build_model_and_context
    from ftstudio.techniques import make_technique

    def layers_swapped(packing_mode: str) -> int:
        cfg = RunConfig(model=str(tiny_dir("bert")), data=DataConfig(train="unused.csv"),
                        technique=TechniqueConfig("full"),
                        training=TrainingConfig(device="cpu", packing=packing_mode))
        from ftstudio.engine.models import load_tokenizer

        tech = make_technique("full", {})
        model, _ = build_model_and_context(cfg, tech, load_tokenizer(str(tiny_dir("bert"))), ["a", "b"], ["a", "b"],
                                           ["t"], CPU, "fp32", EventBus(), lambda *a: None, None)
        return sum(type(m) is fused_bert._fused_layer_class() for m in model.modules())

    assert layers_swapped("auto") == 2
    assert layers_swapped("off") == 0


def test_saved_tensors_are_visible_to_preflight():
    """Pre-flight counts activations by saved-tensor hooks: the fused layer saves everything it
    keeps through them (about what the modules keep)."""

    def saved_bytes(model, batch) -> int:
        seen: dict = {}

        def pack(t):
            seen[(t.untyped_storage().data_ptr(), t.dtype)] = t.untyped_storage().nbytes()
            return t

        torch.manual_seed(3)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(**{k: v for k, v in batch.items() if k not in ("idx", "task_id")}).loss.backward()
        return sum(seen.values())

    ref, fused = pair(tiny_bert())
    ref.train(), fused.train()
    batch = packing.collate_packed(examples(), 0)
    a, b = saved_bytes(ref, batch), saved_bytes(fused, batch)
    assert 0.8 * a < b < 1.25 * a, (a, b)
