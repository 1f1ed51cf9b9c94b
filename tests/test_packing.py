"""Padding-free (packed) batches give the padded path's logits, loss and gradients."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from ftstudio.engine import packing
from ftstudio.engine.data import collate
from ftstudio.engine.models import load_model

LENGTHS = (7, 3, 12, 12, 1, 5)


def _inputs(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if k not in ("idx", "task_id")}


def _cls_examples(vocab: int) -> list[dict]:
    g = torch.Generator().manual_seed(1)
    return [{"input_ids": torch.randint(5, vocab, (n,), generator=g).tolist(),
             "token_type_ids": [0] * n, "label": i % 3} for i, n in enumerate(LENGTHS)]


def _lm_examples(vocab: int) -> list[dict]:
    g = torch.Generator().manual_seed(2)
    out = []
    for n in LENGTHS:
        ids = torch.randint(5, vocab, (n + 1,), generator=g).tolist()
        out.append({"input_ids": ids, "labels": [-100] * (len(ids) // 2) + ids[len(ids) // 2:]})
    return out


def _no_dropout(model) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0


@pytest.fixture(params=["runs", "cells"])
def attention_path(request, monkeypatch):
    """Both ways packed attention runs: views of equal-length runs, or padded cells."""
    if request.param == "cells":
        monkeypatch.setattr(packing, "MAX_GROUPS", 0)
    return request.param


def _compare(model, examples, per_token: bool) -> None:
    """Logits, loss and every gradient of a packed batch against the padded batch (a packed
    batch lays its examples out longest first; the padded reference takes the same order)."""
    examples = sorted(examples, key=lambda e: -len(e["input_ids"]))
    _no_dropout(model)
    model.train()
    padded = collate(examples, 0)
    out = model(**_inputs(padded))
    out.loss.backward()
    ref_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    packing.enable(model)
    packed = packing.collate_packed(examples, 0)
    got = model(**_inputs(packed))
    got.loss.backward()
    if per_token:
        rows = torch.cat([out.logits[i, :len(e["input_ids"])] for i, e in enumerate(examples)])
        assert got.logits.shape[1] == rows.shape[0]
        assert torch.allclose(got.logits[0], rows, atol=1e-4)
    else:
        assert got.logits.shape == out.logits.shape
        assert torch.allclose(got.logits, out.logits, atol=1e-4)
    assert abs(float(got.loss) - float(out.loss)) < 1e-5
    assert ref_grads
    for n, p in model.named_parameters():
        if n in ref_grads:
            assert torch.allclose(p.grad, ref_grads[n], atol=1e-4), n
    # the padded path still works on the same (packing-enabled) model: evaluation uses it
    model.zero_grad()
    again = model(**_inputs(padded))
    assert torch.allclose(again.logits, out.logits, atol=1e-5)


def test_packed_bert_cls_pooler_matches_padded(tiny_dir, attention_path):
    model, tok, _ = load_model(str(tiny_dir("bert")), "classification", num_labels=3)
    _compare(model, _cls_examples(len(tok)), per_token=False)


def test_packed_bert_mean_pooling_matches_padded(tmp_path, tiny_dir, attention_path):
    d = tmp_path / "st-bert"
    shutil.copytree(tiny_dir("bert"), d)
    (d / "modules.json").write_text(json.dumps([
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    (d / "1_Pooling").mkdir()
    (d / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    model, tok, _ = load_model(str(d), "classification", num_labels=3)
    from ftstudio.engine.pooling import MeanPooler

    assert isinstance(model.bert.pooler, MeanPooler)
    _compare(model, _cls_examples(len(tok)), per_token=False)


def test_packed_llama_matches_padded_with_answer_only_labels(tiny_dir, attention_path):
    model, tok, _ = load_model(str(tiny_dir("llama")), "causal-lm")
    _compare(model, _lm_examples(len(tok)), per_token=True)


def test_packed_lora_matches_padded(tiny_dir, attention_path):
    from peft import LoraConfig, TaskType, get_peft_model

    model, tok, _ = load_model(str(tiny_dir("bert")), "classification", num_labels=3)
    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, r=4, lora_alpha=8,
                                             target_modules=["query", "value"], init_lora_weights=False))
    _compare(model, _cls_examples(len(tok)), per_token=False)


def test_equal_lengths_need_no_mask_and_positions_restart():
    ex = [{"input_ids": [5, 6, 7], "label": 0}, {"input_ids": [8, 9, 10], "label": 1}]
    b = packing.collate_packed(ex, 0)
    assert b["input_ids"].tolist() == [[5, 6, 7, 8, 9, 10]]
    assert b["position_ids"].tolist() == [[0, 1, 2, 0, 1, 2]]
    assert b[packing.PACK_KEY].key_mask is None
    lm = packing.collate_packed([{"input_ids": [5, 6], "labels": [5, 6]}, {"input_ids": [7, 8], "labels": [7, 8]}], 0)
    assert lm["labels"].tolist() == [[-100, 6, -100, 8]]  # no target across the boundary
    mixed = packing.collate_packed([{"input_ids": [1] * n, "label": n} for n in (2, 5, 2, 5, 3)], 0)
    assert mixed["labels"].tolist() == [5, 5, 3, 2, 2]  # longest first, labels follow their examples
    assert mixed[packing.PACK_KEY].groups == ((0, 2, 5), (10, 1, 3), (13, 2, 2))


def test_packing_is_used_only_where_exact(tiny_dir):
    from ftstudio.techniques import get_technique

    bert, _, _ = load_model(str(tiny_dir("bert")), "classification", num_labels=2)
    gpt2, _, _ = load_model(str(tiny_dir("gpt2")), "causal-lm")
    full = get_technique("full")
    assert packing.supports(bert, "classification", full)
    assert not packing.supports(gpt2, "causal-lm", full)  # GPT-2 attention: padded batches
    for name in ("prompt_tuning", "prefix_tuning", "distillation"):
        assert not packing.supports(bert, "classification", get_technique(name)), name


@pytest.mark.parametrize("packing_mode", ["auto", "off"])
def test_engine_run_trains_the_same_packed_or_padded(tiny_dir, tiny_csv, packing_mode, tmp_path):
    """A whole run's per-step losses do not depend on the batch layout (dropout off)."""
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
    from ftstudio.engine.events import Step
    from ftstudio.engine.runner import train

    d = tmp_path / "nodrop"
    shutil.copytree(tiny_dir("bert"), d)
    cfg_json = json.loads((d / "config.json").read_text())
    cfg_json.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (d / "config.json").write_text(json.dumps(cfg_json))
    losses: list[float] = []
    cfg = RunConfig(model=str(d), data=DataConfig(train=str(tiny_csv)), technique=TechniqueConfig("full"),
                    training=TrainingConfig(max_steps=4, batch_size=8, learning_rate=1e-3, max_length=32,
                                            eval_every=None, packing=packing_mode))
    seen: list[bool] = []
    orig = packing.collate_packed

    def spy(*a, **k):
        seen.append(True)
        return orig(*a, **k)

    packing.collate_packed = spy
    try:
        train(cfg, [lambda ev: losses.append(ev.loss) if isinstance(ev, Step) else None])
    finally:
        packing.collate_packed = orig
    assert bool(seen) == (packing_mode == "auto")
    ref = REFERENCE.setdefault("losses", losses)
    assert len(losses) == 4
    assert losses == pytest.approx(ref, abs=1e-4)


REFERENCE: dict = {}


def test_engine_keeps_padded_batches_for_prompt_tuning(tiny_dir, tiny_csv):
    """Prompt tuning prepends virtual tokens to each example: the runner must not pack."""
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
    from ftstudio.engine.runner import train

    seen: list[bool] = []
    orig = packing.collate_packed
    packing.collate_packed = lambda *a, **k: seen.append(True) or orig(*a, **k)
    try:
        summary = train(RunConfig(
            model=str(tiny_dir("bert")), data=DataConfig(train=str(tiny_csv)),
            technique=TechniqueConfig("prompt_tuning", {"num_virtual_tokens": 4}),
            training=TrainingConfig(max_steps=2, batch_size=8, learning_rate=1e-2, max_length=32, eval_every=None)))
    finally:
        packing.collate_packed = orig
    assert not seen
    assert summary["status"] == "finished"


def test_grouped_attention_backward_copies_once_instead_of_zero_filling_per_run():
    """Runs of equal length are cut from the packed row by a split, whose backward is one cat:
    cutting them by slicing made each run's backward zero-fill and add a whole-row gradient, and
    taking the row by ``[0]`` made a select backward zero-fill and copy the whole row again."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Ops(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.names: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.names.append(func.__name__)
            return func(*args, **(kwargs or {}))

    groups = ((0, 2, 5), (10, 3, 4), (22, 1, 3))  # three runs: 2 x 5, 3 x 4, 1 x 3 tokens
    q, k, v = (torch.randn(1, 2, 25, 8, requires_grad=True) for _ in range(3))
    out = packing._grouped_attention(q, k, v, groups, 0.0, None, False)
    # the same as attention per example
    starts = [(s + i * n_len, n_len) for s, n, n_len in groups for i in range(n)]
    ref = torch.cat([torch.nn.functional.scaled_dot_product_attention(
        q[:, :, a:a + n], k[:, :, a:a + n], v[:, :, a:a + n]).transpose(1, 2)[0] for a, n in starts])
    assert torch.allclose(out[0], ref, atol=1e-6)
    ops = Ops()
    with ops:
        out.square().sum().backward()
    assert not [n for n in ops.names if n.startswith(("slice_backward", "select_backward", "zeros", "fill_",
                                                      "new_zeros"))], ops.names
