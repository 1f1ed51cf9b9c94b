"""Sentence-transformers checkpoints classify from the masked mean they were trained for."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
from ftstudio.engine.models import load_model
from ftstudio.engine.pooling import MeanPooler


@pytest.fixture
def st_model(tmp_path, tiny_dir):
    d = tmp_path / "st-bert"
    shutil.copytree(tiny_dir("bert"), d)
    (d / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))
    (d / "1_Pooling").mkdir()
    (d / "1_Pooling" / "config.json").write_text(json.dumps(
        {"pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True}))
    return d


def test_mean_pooling_is_used_and_ignores_padding(st_model, tiny_dir):
    model, tok, _ = load_model(str(st_model), "classification", num_labels=2)
    assert isinstance(model.bert.pooler, MeanPooler)
    plain, _, _ = load_model(str(tiny_dir("bert")), "classification", num_labels=2)
    assert not isinstance(plain.bert.pooler, MeanPooler)  # ordinary BERT folders keep [CLS]
    model.eval()
    alone = tok(["a moving story"], return_tensors="pt")
    both = tok(["a moving story", "a terrible boring film , i hated every minute"], padding=True,
               return_tensors="pt")
    with torch.no_grad():
        hidden = model.bert(**alone).last_hidden_state
        pooled = model.bert(**alone).pooler_output
        a = model(**alone).logits[0]
        b = model(**both).logits[0]
    assert torch.allclose(pooled, hidden.mean(1), atol=1e-6)
    assert torch.allclose(a, b, atol=1e-5)


def test_full_export_reloads_with_the_same_pooling(st_model, tiny_csv):
    from ftstudio.engine.predict import Predictor
    from ftstudio.engine.runner import train
    from ftstudio.engine.store import list_runs

    cfg = RunConfig(model=str(st_model), data=DataConfig(train=str(tiny_csv)), technique=TechniqueConfig("full"),
                    training=TrainingConfig(max_steps=4, batch_size=8, learning_rate=1e-3, max_length=32,
                                            eval_every=None))
    summary = train(cfg)
    run = list_runs()[0].run_dir
    assert json.loads((run / "export" / "config.json").read_text())["ftstudio_pooling"] == "mean"
    pred = Predictor(run)
    assert isinstance(pred.model.bert.pooler, MeanPooler)
    probs = pred.predict("a moving story")["probabilities"]
    assert abs(sum(probs.values()) - 1) < 1e-5 and summary["status"] == "finished"


def test_a_student_cut_from_a_mean_pooling_teacher_pools_the_same_way(st_model):
    from ftstudio.techniques.distillation import build_student

    teacher, _, _ = load_model(str(st_model), "classification", num_labels=2)
    student = build_student(teacher, 1)
    assert isinstance(student.bert.pooler, MeanPooler)


@pytest.mark.parametrize("technique, params, sub", [("full", {}, ""), ("lora", {"r": 4, "export_merged": True}, "merged")])
def test_mean_pooling_exports_load_in_plain_transformers_with_the_same_logits(technique, params, sub, st_model,
                                                                             tiny_csv, tmp_path, monkeypatch):
    """Full and merged exports of a mean-pooling encoder: stock transformers (trust_remote_code, the
    modeling file shipped in the export) gives ftstudio's logits, padded batches included."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ftstudio.engine.predict import Predictor
    from ftstudio.engine.runner import train
    from ftstudio.engine.store import list_runs

    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "hf-modules"))
    cfg = RunConfig(model=str(st_model), data=DataConfig(train=str(tiny_csv)), technique=TechniqueConfig(technique, params),
                    training=TrainingConfig(max_steps=6, batch_size=8, learning_rate=5e-2, max_length=32, eval_every=None))
    train(cfg)
    run = list_runs()[0].run_dir
    folder = run / "export" / sub
    texts = ["a moving story", "terrible boring film , i hated every minute", "great"]
    tok = AutoTokenizer.from_pretrained(folder)
    enc = tok(texts, padding=True, return_tensors="pt")
    plain = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
    assert type(plain).__name__ == "BertMeanPoolingForSequenceClassification"
    pred = Predictor(run)
    with torch.no_grad():
        got = plain(**enc).logits
        want = pred.model(**enc).logits
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    probs = torch.softmax(got, -1)
    for text, row in zip(texts, probs):
        torch.testing.assert_close(row, torch.tensor(list(pred.predict(text)["probabilities"].values())),
                                   atol=1e-5, rtol=0)
    # without the shipped code, stock BERT's random [CLS] pooler gives other logits: the card says so
    stock = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        assert (stock(**enc).logits - want).abs().max() > 1e-3
    card = (run / "export" / "README.md").read_text()
    assert "trust_remote_code=True" in card and "mean" in card
