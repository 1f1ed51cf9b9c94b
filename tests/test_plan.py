"""The run's Plan (every pass still to come, with its work) and the ETA over it: EWC's Fisher pass,
the evaluations and the later tasks of a sequence count, not only the task training now."""
from __future__ import annotations

import pytest

from ftstudio.engine.events import Phase, Plan, Progress, Step
from ftstudio.engine.plan import PlanClock
from ftstudio.engine.runner import train
from tests.test_resume_exact import topics_csv  # noqa: F401  (fixture)
from tests.test_task_sequences import _cfg


def _step(step: int) -> Step:
    return Step(step=step, total_steps=20, epoch=0.0, loss=1.0, lr={}, grad_norm=0.0, samples_per_second=0.0,
                tokens_per_second=0.0, memory={}, elapsed=0.0, eta=0.0)


PHASES = [
    {"name": "evaluating", "task": -1, "work": 2, "cost": 20.0},
    {"name": "training", "task": 0, "work": 10, "cost": 300.0, "start": 0},
    {"name": "Fisher", "task": 0, "work": 50, "cost": 150.0},
    {"name": "evaluating", "task": 0, "work": 2, "cost": 20.0},
    {"name": "training", "task": 1, "work": 10, "cost": 300.0, "start": 10},
    {"name": "evaluating", "task": 1, "work": 2, "cost": 20.0},
    {"name": "evaluating", "task": -1, "work": 2, "cost": 20.0},
    {"name": "exporting", "task": -1, "work": 0, "cost": 0.0},
]


def test_eta_counts_every_pass_still_to_come():
    t = [0.0]
    clock = PlanClock(now=lambda: t[0])
    clock.feed(Plan(phases=PHASES))
    assert clock.eta() is None  # nothing measured yet
    clock.feed(Phase(index=0, name="evaluating"))
    t[0] = 1.0
    clock.feed(Progress(what="Evaluating a", done=1, total=1))
    clock.feed(Progress(what="Evaluating b", done=1, total=1))
    t[0] = 2.0  # the baseline evaluation: 2 s for 20 example passes (0.1 s each)
    clock.feed(Phase(index=1, name="training", task=0))
    for s in range(1, 6):  # 5 of task 0's 10 steps, 1 s each: 5 s for 150 example passes
        t[0] = 2.0 + s
        clock.feed(_step(s))
    train_rate, eval_rate = 5.0 / 150, 0.1
    overall = (2.0 + 5.0) / (20 + 150)  # Fisher has not run: timed at the rate of all that has
    expected = 150 * train_rate + 150 * overall + 300 * train_rate + 3 * 20 * eval_rate
    assert clock.eta() == pytest.approx(expected, rel=1e-6)
    # the task's own steps alone (5 s) or all training steps (15 s) leave out Fisher and the evaluations
    assert clock.eta() > 5 * 1.0 + 10 * 1.0 + 6.0
    # once the Fisher pass runs, its own rate replaces the estimate
    for s in range(6, 11):
        t[0] = 2.0 + s
        clock.feed(_step(s))
    clock.feed(Phase(index=2, name="Fisher", task=0))
    t[0] = 22.0
    clock.feed(Progress(what="Computing Fisher", done=25, total=50))  # 10 s for half: 20 s in all
    fisher_rate = 10.0 / 75
    expected = 75 * fisher_rate + 300 * train_rate + 3 * 20 * eval_rate
    assert clock.eta() == pytest.approx(expected, rel=1e-6)
    clock.feed(Phase(index=7, name="exporting"))
    assert clock.eta() == pytest.approx(0.0)


def test_the_plan_is_what_the_run_does(tiny_dir, tiny_csv, topics_csv):  # noqa: F811
    """EWC over two tasks: the Plan announces each pass in order with the work it then does
    (steps trained, Fisher examples, evaluation batches)."""
    cfg = _cfg(tiny_dir, [("sentiment", tiny_csv), ("topics", topics_csv)], "ewc", {"fisher_samples": 6})
    cfg.training.eval_every = 2
    events: list = []
    train(cfg, subscribers=[events.append])
    kinds = [e.kind for e in events]
    assert kinds.count("plan") == 1 and kinds.index("plan") > kinds.index("run_started")
    plan = events[kinds.index("plan")].phases
    assert [(p["name"], p["task"]) for p in plan] == [
        ("evaluating", -1), ("training", 0), ("Fisher", 0), ("evaluating", 0), ("training", 1),
        ("evaluating", 1), ("evaluating", -1), ("exporting", -1)]
    phase_at = [i for i, e in enumerate(events) if e.kind == "phase"]
    assert [events[i].index for i in phase_at] == list(range(len(plan)))
    for n, i in enumerate(phase_at):
        ph, within = plan[n], events[i + 1:(phase_at[n + 1] if n + 1 < len(phase_at) else len(events))]
        if ph["name"] == "training":
            steps = [e.step for e in within if e.kind == "step"]
            assert steps and steps[-1] - ph["start"] == ph["work"] and steps[0] == ph["start"] + 1
        elif ph["name"] != "exporting":
            ends = [e.total for e in within if e.kind == "progress" and e.done == e.total]
            assert sum(ends) == ph["work"], (ph, ends)
            assert ph["cost"] > 0
    # the ETA over this plan is the whole rest of the run. Replayed on a clock where one unit of
    # planned cost takes one second (a tiny run's wall times are mostly start-up noise, 13x off
    # under load): at the first task's second step the ETA is then exactly the cost still to come.
    t = [0.0]
    clock = PlanClock(now=lambda: t[0])
    done, current, first_step_eta = 0.0, None, None
    for e in events:
        if e.kind == "phase":
            done += plan[current]["cost"] if current is not None else 0.0
            current, t[0] = e.index, done
        elif e.kind == "step" and current is not None and plan[current]["name"] == "training":
            ph = plan[current]
            t[0] = done + ph["cost"] * (e.step - ph["start"]) / ph["work"]
        clock.feed(e)
        if e.kind == "step" and first_step_eta is None and e.step >= 2:
            first_step_eta = (clock.eta(), t[0])
    eta, at = first_step_eta
    total = sum(p["cost"] for p in plan)
    assert eta == pytest.approx(total - at, rel=1e-6), (eta, total, at)  # Fisher, evaluations, task 2


def test_cli_progress_line_shows_the_plan_eta():
    import io

    from ftstudio.cli import TerminalProgress, _fmt_time

    out = io.StringIO()
    term = TerminalProgress(out)
    t = [0.0]
    term.clock.now = lambda: t[0]
    term(Plan(phases=PHASES))
    term(Phase(index=1, name="training", task=0))
    for s in range(1, 11):
        t[0] = float(s)
        term(_step(s))  # the step's own eta is 0
    left = term.clock.eta()
    assert left == pytest.approx((150 + 3 * 20 + 300) / 30)  # Fisher, 3 evaluations, task 2; task 1 is done
    assert f"ETA {_fmt_time(left)}" in out.getvalue(), out.getvalue()
