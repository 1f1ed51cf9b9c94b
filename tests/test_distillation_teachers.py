"""Any finished run is a distillation teacher: it is rebuilt the way the playground rebuilds it, reads
the text with its own tokenizer, and its labels are matched to the student's by name."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
from ftstudio.engine.context import RunContext, model_inputs
from ftstudio.engine.data import collate
from ftstudio.engine.errors import UserError
from ftstudio.engine.runner import train
from ftstudio.techniques import make_technique

TEXTS = ["a moving story", "awful plot , bad dialogue", "i loved the film", "terrible boring film",
         "wonderful acting", "i hated it"]
TEACHERS = {
    "lora": {"r": 4, "export_merged": True},
    "adapter": {},
    "prompt_tuning": {"num_virtual_tokens": 4},
    "prefix_tuning": {"num_virtual_tokens": 4},
    "bitfit": {},
}


@pytest.fixture(scope="module")
def teacher_runs(tiny_dir, tmp_path_factory):
    """One finished run per technique on the tiny BERT (WordPiece tokenizer)."""
    import csv

    root = tmp_path_factory.mktemp("teachers")
    data = root / "d.csv"
    pos = ["great movie , loved it", "wonderful acting", "a moving story", "i loved the film"]
    neg = ["terrible boring film", "awful plot", "bad dialogue", "i hated it"]
    with open(data, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(12):
            w.writerow([pos[i % 4], "positive"])
            w.writerow([neg[i % 4], "negative"])
    runs = {}
    for name, params in TEACHERS.items():
        cfg = RunConfig(model=str(tiny_dir("bert")), data=DataConfig(train=str(data)),
                        technique=TechniqueConfig(name, params), output_dir=str(root / name),
                        training=TrainingConfig(epochs=2, batch_size=8, learning_rate=5e-2, max_length=32,
                                                eval_every=None, seed=1))
        assert train(cfg)["status"] == "finished"
        runs[name] = root / name
    return SimpleNamespace(runs=runs, data=data)


def _gpt2_student(tiny_dir, labels):
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    d = tiny_dir("gpt2")
    tok = AutoTokenizer.from_pretrained(d)
    tok.pad_token = tok.pad_token or "<pad>"
    cfg = AutoConfig.from_pretrained(d, num_labels=len(labels), id2label=dict(enumerate(labels)),
                                     label2id={n: i for i, n in enumerate(labels)}, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(cfg), tok


def _ctx(tok):
    ctx = RunContext(config=SimpleNamespace(training=SimpleNamespace(seed=0)), device=torch.device("cpu"),
                     tokenizer=tok, model_info=SimpleNamespace(hidden_size=32), task="classification")

    def forward(model, batch):
        out = model(**model_inputs(batch))
        return out, out.loss

    ctx.forward = forward
    return ctx


def _batch(tok, texts):
    exs = [{"input_ids": tok(t)["input_ids"], "label": 0, "idx": i, "task_id": 0, "text": t}
           for i, t in enumerate(texts)]
    return collate(exs, tok.pad_token_id)


@pytest.mark.parametrize("technique", list(TEACHERS))
def test_a_finished_run_teaches_a_student_with_another_tokenizer(technique, teacher_runs, tiny_dir):
    """The student (GPT-2, byte-level BPE) sees KD targets equal to the teacher run's own
    predictions (BERT, WordPiece) on the same texts; labels matched by name, not position."""
    from ftstudio.engine.predict import Predictor

    run = teacher_runs.runs[technique]
    student, tok = _gpt2_student(tiny_dir, ["positive", "negative"])  # the teacher's order reversed
    tech = make_technique("distillation", {"teacher": str(run)})
    tech.check(SimpleNamespace(hidden_size=32), "classification")
    tech.prepare_model(student, _ctx(tok))
    assert not tech.same_tokens
    batch = _batch(tok, TEXTS)
    targets = tech._teacher_targets(batch, use_cache=True)
    pred = Predictor(run)
    for text, row in zip(TEXTS, torch.softmax(targets, -1)):
        probs = pred.predict(text)["probabilities"]
        want = torch.tensor([probs["positive"], probs["negative"]])
        torch.testing.assert_close(row, want, atol=1e-5, rtol=0)
    # the logit cache works for every kind of teacher: a second epoch asks the teacher nothing
    again = tech._teacher_targets(batch, use_cache=True)
    assert torch.equal(again, targets) and tech.teacher_examples == len(TEXTS)


def test_merged_export_folder_and_run_name_are_teachers(teacher_runs, tiny_dir, monkeypatch):
    from ftstudio.engine.predict import Predictor

    run = teacher_runs.runs["lora"]
    student, tok = _gpt2_student(tiny_dir, ["negative", "positive"])
    pred = Predictor(run)
    monkeypatch.setenv("FTSTUDIO_RUNS_DIR", str(run.parent))
    for spec in (run / "export" / "merged", run / "export", run.name):
        tech = make_technique("distillation", {"teacher": str(spec)})
        tech.check(SimpleNamespace(hidden_size=32), "classification")
        tech.prepare_model(student, _ctx(tok))
        t = torch.softmax(tech._teacher_targets(_batch(tok, TEXTS[:2]), use_cache=False), -1)
        want = torch.tensor([list(pred.predict(x)["probabilities"].values()) for x in TEXTS[:2]])
        torch.testing.assert_close(t, want, atol=1e-5, rtol=0)


def test_teacher_with_other_labels_is_refused_with_the_names(teacher_runs, tiny_dir):
    student, tok = _gpt2_student(tiny_dir, ["spam", "ham"])
    tech = make_technique("distillation", {"teacher": str(teacher_runs.runs["lora"])})
    with pytest.raises(UserError, match=r"labels negative, positive but this data has spam, ham"):
        tech.prepare_model(student, _ctx(tok))


def test_student_layers_needs_a_plain_teacher(teacher_runs):
    tech = make_technique("distillation", {"teacher": str(teacher_runs.runs["adapter"]), "student_layers": 1})
    with pytest.raises(UserError, match="adapter run"):
        tech.check(SimpleNamespace(hidden_size=32), "classification")


def test_distillation_run_end_to_end_from_a_lora_run_into_gpt2(teacher_runs, tiny_dir):
    cfg = RunConfig(model=str(tiny_dir("gpt2")), data=DataConfig(train=str(teacher_runs.data)),
                    technique=TechniqueConfig("distillation", {"teacher": str(teacher_runs.runs["lora"])}),
                    training=TrainingConfig(epochs=2, batch_size=8, learning_rate=1e-3, max_length=32,
                                            eval_every=None, seed=1))
    events = []
    summary = train(cfg, subscribers=[events.append])
    assert summary["status"] == "finished"
    kd = [e.extra["kd_loss"] for e in events if e.kind == "step"]
    assert kd and all(k > 0 for k in kd)
    assert any("its own tokenizer" in e.message for e in events if e.kind == "log")


def test_student_cut_from_a_lora_teacher_reads_the_teachers_tokens(teacher_runs, tiny_dir):
    """student_layers: the run's model is GPT-2, but the student is cut from the BERT teacher, so
    the data must be tokenized with the teacher's WordPiece tokenizer."""
    from ftstudio.engine.store import list_runs

    cfg = RunConfig(model=str(tiny_dir("gpt2")), data=DataConfig(train=str(teacher_runs.data)),
                    technique=TechniqueConfig("distillation", {"teacher": str(teacher_runs.runs["lora"]),
                                                               "student_layers": 1}),
                    training=TrainingConfig(epochs=1, batch_size=8, learning_rate=1e-3, max_length=32,
                                            eval_every=None, seed=1))
    assert train(cfg)["status"] == "finished"
    export = list_runs()[0].run_dir / "export"
    import json

    saved = json.loads((export / "config.json").read_text())
    assert saved["model_type"] == "bert" and saved["num_hidden_layers"] == 1
    assert (export / "vocab.txt").exists() or "WordPiece" in (export / "tokenizer.json").read_text()


def test_preflight_counts_the_teacher(teacher_runs, tiny_dir):
    from ftstudio.engine.preflight import preflight
    from ftstudio.techniques.loading import load_run

    cfg = RunConfig(model=str(tiny_dir("gpt2")), data=DataConfig(train=str(teacher_runs.data)),
                    technique=TechniqueConfig("distillation", {"teacher": str(teacher_runs.runs["lora"])}),
                    training=TrainingConfig(epochs=1, batch_size=32, max_length=32, eval_every=None))
    r = preflight(cfg, measure_step=True)  # batch > rows: the warm-up step has seen every example
    teacher = load_run(teacher_runs.runs["lora"]).model
    want = sum(t.numel() * t.element_size() for t in list(teacher.parameters()) + list(teacher.buffers()))
    assert r.memory["teacher"] == want
    assert r.memory["total"] == sum(v for k, v in r.memory.items() if k != "total")
    assert r.teacher_seconds is not None and 0 < r.teacher_seconds < r.step_seconds
