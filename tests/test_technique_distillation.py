"""Distillation: the loss's closed form, a frozen teacher run once per example, student building,
and clear errors for incompatible teachers."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from ftstudio.engine.context import RunContext, model_inputs
from ftstudio.engine.data import collate
from ftstudio.engine.errors import UserError
from ftstudio.techniques import make_technique
from ftstudio.techniques.distillation import build_student, evenly_spaced, kd_loss

LABELS = {0: "negative", 1: "positive"}
TEXTS = ["the movie was great", "awful plot", "a moving story", "bad dialogue", "i loved it",
         "terrible boring film", "wonderful acting", "i hated it", "great", "weak characters"]


def _cls_model(d, seed=0, labels=LABELS, **cfg):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    torch.manual_seed(seed)
    config = AutoConfig.from_pretrained(d, num_labels=len(labels), id2label=labels,
                                        label2id={v: k for k, v in labels.items()}, **cfg)
    return AutoModelForSequenceClassification.from_config(config)


def _save(model, tok, path):
    model.save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path


def _ctx(tok, task="classification"):
    ctx = RunContext(config=SimpleNamespace(training=SimpleNamespace(seed=0)), device=torch.device("cpu"),
                     tokenizer=tok, model_info=SimpleNamespace(hidden_size=32), task=task)

    def forward(model, batch):
        out = model(**model_inputs(batch))
        return out, out.loss

    ctx.forward = forward
    return ctx


def _examples(tok):
    return [{"input_ids": tok(t)["input_ids"], "label": i % 2, "idx": i, "task_id": 0} for i, t in enumerate(TEXTS)]


@pytest.fixture(scope="module")
def bert(tiny_dir, tmp_path_factory):
    from transformers import AutoTokenizer

    d = tiny_dir("bert")
    tok = AutoTokenizer.from_pretrained(d)
    teacher_dir = _save(_cls_model(d, seed=1), tok, tmp_path_factory.mktemp("teacher"))
    return SimpleNamespace(dir=d, tok=tok, teacher=teacher_dir)


def _full_run(run, model, bert):
    """A finished full fine-tuning run folder whose export is ``model``."""
    import json

    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig

    _save(model, bert.tok, run / "export")
    RunConfig(model=str(bert.dir), data=DataConfig(train="x.csv"), technique=TechniqueConfig("full")).save(
        run / "config.yaml")
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    (run / "summary.json").write_text(json.dumps({"status": "finished", "label_names": names}))
    return run


def _technique(teacher, **params):
    return make_technique("distillation", {"teacher": str(teacher), **params})


def test_kd_loss_closed_form():
    s = torch.tensor([[1.0, -0.5, 0.2], [0.3, 0.8, -1.0]])
    t = torch.tensor([[2.0, 0.0, -1.0], [-0.2, 1.5, 0.4]])
    T = 2.0
    want = 0.0
    for i in range(2):
        pt = torch.softmax(t[i] / T, -1)
        ps = torch.softmax(s[i] / T, -1)
        want += float((pt * (pt.log() - ps.log())).sum())
    want = want / 2 * T * T  # batchmean, times T²
    assert float(kd_loss(s, t, T)) == pytest.approx(want, rel=1e-6)
    assert float(kd_loss(t, t, T)) == pytest.approx(0.0, abs=1e-7)


def test_compute_loss_mixes_kd_and_ce(bert):
    tech = _technique(bert.teacher, alpha=0.3, temperature=2.0)
    tech.ctx = _ctx(bert.tok)
    t_logits = torch.tensor([[2.0, -1.0], [0.5, 0.5]])
    tech.teacher = lambda **kw: SimpleNamespace(logits=t_logits)  # a fixed stand-in teacher
    s_logits = torch.tensor([[0.1, 0.4], [1.0, -2.0]], requires_grad=True)
    batch = {"input_ids": torch.ones(2, 3, dtype=torch.long), "labels": torch.tensor([0, 1]),
             "idx": torch.tensor([0, 1]), "task_id": torch.tensor([0, 0])}
    ce = torch.nn.functional.cross_entropy(s_logits, batch["labels"])
    total, extra = tech.compute_loss(SimpleNamespace(training=True), batch, SimpleNamespace(logits=s_logits), ce)
    kd = kd_loss(s_logits, t_logits, 2.0)
    assert total.item() == pytest.approx(0.3 * kd.item() + 0.7 * ce.item())
    assert extra == pytest.approx({"kd_loss": kd.item(), "ce_loss": ce.item()})


def test_gradients_reach_only_the_student_and_teacher_runs_once_per_example(bert):
    tech = _technique(bert.teacher)
    ctx = _ctx(bert.tok)
    student = tech.prepare_model(_cls_model(bert.dir, seed=2), ctx)
    teacher_before = {n: p.clone() for n, p in tech.teacher.named_parameters()}
    assert not tech.teacher.training and not any(p.requires_grad for p in tech.teacher.parameters())
    assert not any(p is q for p in student.parameters() for q in tech.teacher.parameters())
    opt = torch.optim.SGD(student.parameters(), lr=0.1)
    exs = _examples(bert.tok)
    student.train()
    first_kd = None
    for epoch in range(3):
        order = torch.randperm(len(exs), generator=torch.Generator().manual_seed(epoch)).tolist()
        for i in range(0, len(exs), 4):
            batch = collate([exs[j] for j in order[i : i + 4]], bert.tok.pad_token_id)
            out, loss = ctx.forward(student, batch)
            total, extra = tech.compute_loss(student, batch, out, loss)
            opt.zero_grad()
            total.backward()
            assert all(p.grad is None for p in tech.teacher.parameters())
            assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
            opt.step()
            first_kd = first_kd if first_kd is not None else extra["kd_loss"]
    assert tech.teacher_examples == len(exs)  # 3 epochs, one teacher pass per example
    for n, p in tech.teacher.named_parameters():
        assert torch.equal(p, teacher_before[n])
    # cached logits are the teacher's real outputs
    batch = collate(exs[:3], bert.tok.pad_token_id)
    cached = tech._teacher_targets(batch, use_cache=True)
    fresh = tech._teacher_targets(batch, use_cache=False)
    torch.testing.assert_close(cached, fresh)


def test_student_built_from_teacher_layers(bert, tmp_path):
    assert evenly_spaced(12, 6) == [0, 2, 4, 7, 9, 11]  # DistilBERT's choice
    assert evenly_spaced(4, 2) == [0, 3]
    from ftstudio.engine.arch import layer_list

    teacher = _cls_model(bert.dir, seed=3, num_hidden_layers=4)
    student = build_student(teacher, 2)
    assert len(layer_list(student)) == 2 and student.config.num_hidden_layers == 2
    sd_t, sd_s = teacher.state_dict(), student.state_dict()
    for name in ("bert.embeddings.word_embeddings.weight", "classifier.weight", "bert.pooler.dense.weight"):
        assert torch.equal(sd_s[name], sd_t[name])
    for si, ti in ((0, 0), (1, 3)):
        for k, v in layer_list(student)[si].state_dict().items():
            assert torch.equal(v, layer_list(teacher)[ti].state_dict()[k]), (si, k)
    # through the technique, with a run folder as the teacher (its export/ is used)
    run = _full_run(tmp_path / "run-1", teacher, bert)
    tech = _technique(run, student_layers=2)
    tech.check(SimpleNamespace(hidden_size=32), "classification")
    s = tech.prepare_model(_cls_model(bert.dir), _ctx(bert.tok))
    assert len(layer_list(s)) == 2 and s.config.id2label == teacher.config.id2label
    with pytest.raises(UserError, match="student_layers"):
        _technique(run, student_layers=4).check(None, "classification")


def test_causal_lm_student_and_token_level_kd(tiny_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ftstudio.engine.arch import layer_list

    d = tiny_dir("gpt2")
    tok = AutoTokenizer.from_pretrained(d)
    teacher = AutoModelForCausalLM.from_pretrained(d)
    small = build_student(teacher, 1)
    assert len(layer_list(small)) == 1
    tech = _technique(d, alpha=1.0)
    ctx = _ctx(tok, "causal-lm")
    student = tech.prepare_model(AutoModelForCausalLM.from_pretrained(d), ctx)  # same weights as teacher
    student.train()  # the cache is used for training batches only
    student.config.attn_pdrop = student.config.resid_pdrop = student.config.embd_pdrop = 0.0
    for m in student.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    ids = [tok("a moving story")["input_ids"], tok("the quick brown fox jumps")["input_ids"]]
    exs = [{"input_ids": x, "labels": [-100, -100] + x[2:], "idx": i, "task_id": 0} for i, x in enumerate(ids)]
    batch = collate(exs, tok.pad_token_id)
    out, loss = ctx.forward(student, batch)
    total, extra = tech.compute_loss(student, batch, out, loss)
    assert extra["kd_loss"] == pytest.approx(0.0, abs=1e-5)  # identical teacher and student
    # perturb the student: kd equals the closed form over the labelled positions only
    with torch.no_grad():
        student.lm_head.weight.mul_(1.5)
    out, loss = ctx.forward(student, batch)
    _, extra = tech.compute_loss(student, batch, out, loss)
    with torch.no_grad():
        t = teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    keep = batch["labels"][:, 1:] != -100
    want = kd_loss(out.logits[:, :-1][keep], t[:, :-1][keep], 2.0)
    assert extra["kd_loss"] == pytest.approx(want.item(), rel=1e-5)
    assert tech.teacher_examples == 2  # second pass used the cache
    # a teacher with another vocabulary is refused
    bigger = AutoModelForCausalLM.from_pretrained(d)
    bigger.resize_token_embeddings(len(tok) + 8)
    _save(bigger, tok, tmp_path / "big")
    with pytest.raises(UserError, match="vocabulary"):
        _technique(tmp_path / "big").prepare_model(AutoModelForCausalLM.from_pretrained(d), _ctx(tok, "causal-lm"))


def test_mismatched_teachers_give_user_errors(bert, tmp_path):
    three = _save(_cls_model(bert.dir, labels={0: "a", 1: "b", 2: "c"}), bert.tok, tmp_path / "three")
    with pytest.raises(UserError, match="same label set"):
        _technique(three).prepare_model(_cls_model(bert.dir), _ctx(bert.tok))
    other = _save(_cls_model(bert.dir, labels={0: "negative", 1: "neutral"}), bert.tok, tmp_path / "other")
    with pytest.raises(UserError, match="only the teacher: neutral; only the data: positive"):
        _technique(other).prepare_model(_cls_model(bert.dir), _ctx(bert.tok))
    with pytest.raises(UserError, match="needs a teacher"):
        make_technique("distillation", {}).check(None, "classification")
    with pytest.raises(UserError, match="not found"):
        _technique(tmp_path / "nope").check(None, "classification")
    with pytest.raises(UserError, match="not a text-generation model"):
        _technique(bert.teacher).check(None, "causal-lm")
    unfinished = tmp_path / "run-unfinished"
    unfinished.mkdir()
    (unfinished / "config.yaml").write_text("model: x\n")
    with pytest.raises(UserError, match="no export"):
        _technique(unfinished).check(None, "classification")
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((bert.teacher / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(UserError, match="safetensors"):
        _technique(pickled).check(None, "classification")


def test_hidden_state_matching(bert):
    from transformers import AutoModelForSequenceClassification

    tech = _technique(bert.teacher, hidden_loss_weight=1.0)
    ctx = _ctx(bert.tok)
    twin = AutoModelForSequenceClassification.from_pretrained(bert.teacher)  # eval mode: no dropout
    student = tech.prepare_model(twin, ctx)
    batch = collate(_examples(bert.tok)[:4], bert.tok.pad_token_id)
    out, loss = ctx.forward(student, batch)
    _, extra = tech.compute_loss(student, batch, out, loss)
    assert extra["hidden_loss"] == pytest.approx(0.0, abs=1e-10) and extra["kd_loss"] == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        student.bert.embeddings.word_embeddings.weight.add_(0.5)
    out, loss = ctx.forward(student, batch)
    _, extra = tech.compute_loss(student, batch, out, loss)
    assert extra["hidden_loss"] > 0
    assert tech.teacher_calls == 2  # hidden matching needs the teacher every step (no cache)


@pytest.mark.parametrize("params, expected", [
    ({}, 10),                         # cached: one teacher pass per example over 3 epochs
    ({"cache_teacher": False}, 30),   # no cache: every epoch asks the teacher again
    ({"alpha": 0.0}, 0),              # CE only: the teacher is never consulted
])
def test_teacher_passes_follow_cache_and_alpha(bert, params, expected):
    tech = _technique(bert.teacher, **params)
    ctx = _ctx(bert.tok)
    student = tech.prepare_model(_cls_model(bert.dir, seed=2), ctx)
    exs = _examples(bert.tok)
    assert len(exs) == 10
    student.train()
    for _epoch in range(3):
        for i in range(0, len(exs), 4):
            batch = collate(exs[i:i + 4], bert.tok.pad_token_id)
            out, loss = ctx.forward(student, batch)
            total, extra = tech.compute_loss(student, batch, out, loss)
            if params.get("alpha") == 0.0:
                assert torch.equal(total, loss) and "kd_loss" not in extra
    assert tech.teacher_examples == expected
