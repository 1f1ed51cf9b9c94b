"""Exporting finished runs: ONNX (whole forward, dynamic axes, logits equal under onnxruntime),
merged and adapter folders; the CLI command and its refusals."""
from __future__ import annotations

import csv
import json

import pytest
import torch

from ftstudio.engine.config import DataConfig, RunConfig, TaskSpec, TechniqueConfig, TrainingConfig
from ftstudio.engine.errors import UserError
from ftstudio.engine.run_export import export_run, formats_for, onnx_available
from ftstudio.engine.runner import train
from ftstudio.engine.store import list_runs

needs_onnx = pytest.mark.skipif(onnx_available() is not None,
                                reason=f"{onnx_available()} (the 'onnx' extra; part of the 'test' extra)")
TECHNIQUES = {
    "full": {}, "lora": {"r": 4}, "adapter": {}, "prompt_tuning": {"num_virtual_tokens": 4},
    "prefix_tuning": {"num_virtual_tokens": 4}, "bitfit": {}, "layerwise": {}, "distillation": None,
    "ewc": {}, "continual": {"buffer_size": 8},
}


def _sst2_dev(shared_data, n=32) -> list[str]:
    from ftstudio.engine.data import read_table

    folder = shared_data / "sst2"
    f = next(p for p in sorted(folder.iterdir()) if "dev" in p.name or "valid" in p.name)
    rows = read_table(str(f))
    col = "sentence" if "sentence" in rows[0] else "text"
    return [str(r[col]) for r in rows[:n]]


def _train(name, tiny_dir, tiny_csv, tmp_path):
    params = TECHNIQUES[name]
    if params is None:  # a distillation teacher: a plain HF classifier folder
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        labels = {0: "negative", 1: "positive"}
        c = AutoConfig.from_pretrained(tiny_dir("bert"), num_labels=2, id2label=labels,
                                       label2id={v: k for k, v in labels.items()})
        AutoModelForSequenceClassification.from_config(c).save_pretrained(tmp_path / "teacher")
        AutoTokenizer.from_pretrained(tiny_dir("bert")).save_pretrained(tmp_path / "teacher")
        params = {"teacher": str(tmp_path / "teacher")}
    cfg = RunConfig(model=str(tiny_dir("bert")), data=DataConfig(train=str(tiny_csv)),
                    technique=TechniqueConfig(name, params),
                    training=TrainingConfig(max_steps=3, batch_size=8, learning_rate=1e-2, max_length=32,
                                            eval_every=None))
    if name in ("ewc", "continual"):
        topics = tmp_path / "topics.csv"
        with open(topics, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            for i in range(12):
                w.writerow([["the team won", "stocks rose"][i % 2], ["sports", "business"][i % 2]])
        cfg.data, cfg.tasks = None, [TaskSpec("a", DataConfig(train=str(tiny_csv))),
                                     TaskSpec("b", DataConfig(train=str(topics)))]
    assert train(cfg)["status"] == "finished"
    return list_runs()[0].run_dir


@needs_onnx
@pytest.mark.parametrize("name", list(TECHNIQUES))
def test_onnx_export_equals_the_run_on_sst2_dev(name, tiny_dir, tiny_csv, tmp_path, shared_data):
    import onnx
    import onnxruntime as ort
    from transformers import AutoTokenizer

    from ftstudio.engine.predict import Predictor

    run = _train(name, tiny_dir, tiny_csv, tmp_path)
    out = export_run(run, "onnx")
    assert sorted(p.name for p in out.iterdir()) >= ["README.md", "labels.json", "model.onnx"]
    graph = onnx.load(str(out / "model.onnx")).graph
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input]
    assert all(d == ["batch", "sequence"] for d in dims)  # dynamic batch and sequence axes
    meta = json.loads((out / "labels.json").read_text())
    pred = Predictor(run)
    assert meta["labels"] == pred.label_names
    texts = _sst2_dev(shared_data)
    tok = AutoTokenizer.from_pretrained(out)
    enc = tok(texts, padding=True, truncation=True, max_length=meta["max_length"], return_tensors="pt")
    sess = ort.InferenceSession(str(out / "model.onnx"))
    got = sess.run(None, {k: enc[k].numpy() for k in meta["inputs"]})[0]
    with torch.no_grad():
        want = pred.model(**{k: enc[k] for k in meta["inputs"]}).logits
    assert got.shape == tuple(want.shape) == (32, len(pred.label_names))
    torch.testing.assert_close(torch.from_numpy(got), want, atol=1e-4, rtol=0)
    # one sentence alone (no padding) gives the playground's own probabilities
    one = tok(texts[:1], truncation=True, max_length=meta["max_length"], return_tensors="np")
    probs = torch.softmax(torch.from_numpy(sess.run(None, {k: one[k] for k in meta["inputs"]})[0][0]), -1)
    want_p = torch.tensor(list(pred.predict(texts[0])["probabilities"].values()))
    torch.testing.assert_close(probs, want_p, atol=1e-4, rtol=0)


def test_merged_and_adapter_exports_and_refusals(tiny_dir, tiny_csv, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ftstudio.engine.predict import Predictor

    run = _train("lora", tiny_dir, tiny_csv, tmp_path)
    assert formats_for(run)[-2:] == ["merged", "adapter"]
    merged = export_run(run, "merged")
    plain = AutoModelForSequenceClassification.from_pretrained(merged).eval()
    tok = AutoTokenizer.from_pretrained(merged)
    enc = tok(["a moving story", "awful plot"], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(plain(**enc).logits, Predictor(run).model(**enc).logits, atol=1e-5, rtol=0)
    assert "How to load" in (merged / "README.md").read_text()
    adapter = export_run(run, "adapter", tmp_path / "adapter-copy")
    assert (adapter / "adapter_config.json").exists() and not (adapter / "merged").exists()
    with pytest.raises(UserError, match="already exists"):
        export_run(run, "merged")
    full = _train("adapter", tiny_dir, tiny_csv, tmp_path)
    with pytest.raises(UserError, match="cannot be merged.*exported as: onnx, adapter"):
        export_run(full, "merged")
    with pytest.raises(UserError, match="unknown export format"):
        export_run(run, "gguf")


def test_cli_export(tiny_dir, tiny_csv, tmp_path, capsys):
    from ftstudio.cli import main

    run = _train("full", tiny_dir, tiny_csv, tmp_path)
    assert main(["export", str(run), "--format", "merged"]) == 0
    assert (run / "export-merged" / "config.json").exists()
    assert str(run / "export-merged") in capsys.readouterr().out
    assert main(["export", str(run), "--format", "adapter"]) == 2
    err = capsys.readouterr().err
    assert "has no adapter" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
