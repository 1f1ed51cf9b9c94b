"""Task sequences headless through the runner (no GUI): the accuracy matrix after each task, per-task
heads masking the other tasks' logits, EWC's Fisher measured on the finished task's data only.
(Stop-and-resume in the middle of task 2 is tests/test_resume_exact.py's ewc/continual cases.)"""
from __future__ import annotations

import csv

import pytest

from ftstudio.engine.config import DataConfig, RunConfig, TaskSpec, TechniqueConfig, TrainingConfig
from ftstudio.engine.runner import train
from tests.test_resume_exact import topics_csv  # noqa: F401  (fixture)


@pytest.fixture
def spam_csv(tmp_path):
    p = tmp_path / "spam.csv"
    rows = [("win a free prize now", "spam"), ("are we still meeting for lunch", "ham"),
            ("call this number to win", "spam"), ("see you tomorrow", "ham")]
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(16):
            w.writerow(rows[i % 4])
    return p


def _cfg(tiny_dir, tasks, technique="ewc", params=None) -> RunConfig:
    return RunConfig(
        model=str(tiny_dir("bert")), task="classification", data=None,
        tasks=[TaskSpec(name, DataConfig(train=str(path))) for name, path in tasks],
        technique=TechniqueConfig(technique, params or {}),
        training=TrainingConfig(epochs=1, batch_size=8, learning_rate=1e-2, max_length=32, eval_every=None,
                                seed=3, warmup_ratio=0.0),
    )


@pytest.fixture
def three_tasks(tiny_csv, topics_csv, spam_csv):  # noqa: F811
    return [("sentiment", tiny_csv), ("topics", topics_csv), ("spam", spam_csv)]


def test_sequence_matrix_masks_and_fisher(tiny_dir, three_tasks, monkeypatch):
    import torch

    import ftstudio.engine.runner as runner
    import ftstudio.techniques.ewc as ewc

    # spy 1: every forward of the run (training, evaluation, Fisher) with its task ids and logits
    seen_forward: list = []
    real_make_forward = runner.make_forward

    def spying_make_forward(ctx, task_masks=None):
        fwd = real_make_forward(ctx, task_masks)

        def forward(model, batch):
            out, loss = fwd(model, batch)
            seen_forward.append((batch["task_id"].clone(), batch["labels"].clone(), out.logits.detach().clone(),
                                 loss.detach().clone()))
            return out, loss
        return forward

    monkeypatch.setattr(runner, "make_forward", spying_make_forward)
    # spy 2: the examples each Fisher is measured on
    fisher_batches: list[list] = []
    real_fisher = ewc.diagonal_fisher

    def spying_fisher(model, batches, *a, **k):
        batches = list(batches)
        fisher_batches.append([(b["task_id"].tolist(), b["labels"].tolist()) for b in batches])
        return real_fisher(model, batches, *a, **k)

    monkeypatch.setattr(ewc, "diagonal_fisher", spying_fisher)

    events: list = []
    params = {"fisher_samples": 10, "replay_buffer_size": 8, "replay_ratio": 0.5}
    summary = train(_cfg(tiny_dir, three_tasks, "ewc", params), subscribers=[events.append])
    assert summary["status"] == "finished"

    # the accuracy matrix: after task i, row i holds every task's accuracy (earlier ones included)
    finished = [e for e in events if e.kind == "task_finished"]
    assert [e.task for e in finished] == [0, 1, 2]
    for i, e in enumerate(finished):
        assert len(e.acc_matrix) == i + 1
        assert all(len(row) == 3 for row in e.acc_matrix)
        for r, row in enumerate(e.acc_matrix):
            assert all(v is not None and 0.0 <= v <= 1.0 for v in row[:r + 1]), (i, r, row)
        if i:
            assert e.acc_matrix[:i] == finished[i - 1].acc_matrix  # rows are never rewritten
    R = summary["acc_matrix"]
    assert R == finished[-1].acc_matrix
    # the last row is what the final evaluation of each task measures
    assert R[-1] == pytest.approx([summary["per_task"][n]["accuracy"] for n, _ in three_tasks])

    # per-task heads: one 2+3+2-way head, each example scored only on its own task's slice
    slices = {0: range(0, 2), 1: range(2, 5), 2: range(5, 7)}
    assert seen_forward
    for task_ids, labels, logits, loss in seen_forward:
        assert logits.shape[-1] == 7
        low = torch.finfo(logits.dtype).min
        for row, t, y in zip(logits, task_ids.tolist(), labels.tolist()):
            own = torch.zeros(7, dtype=torch.bool)
            own[list(slices[t])] = True
            assert y in slices[t]
            assert (row[~own] == low).all(), f"task {t}: other tasks' logits not masked: {row}"
            assert torch.isfinite(row[own]).all() and (row[own] > low).all()
            assert row.argmax().item() in slices[t]
        own_ce = torch.stack([
            torch.nn.functional.cross_entropy(lg[list(slices[t])][None], torch.tensor([y - slices[t][0]]))
            for lg, t, y in zip(logits, task_ids.tolist(), labels.tolist())]).mean()
        torch.testing.assert_close(loss, own_ce, atol=1e-4, rtol=1e-4)

    # EWC: a Fisher after each task but the last, on that task's own examples only (no replay mixed in)
    assert len(fisher_batches) == 2
    for t, batches in enumerate(fisher_batches):
        assert sum(len(ids) for ids, _ in batches) == 10
        assert {i for ids, _ in batches for i in ids} == {t}, f"Fisher after task {t} saw other tasks' data"
        assert all(y in slices[t] for _, ys in batches for y in ys)
