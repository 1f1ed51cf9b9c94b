"""The memory plot: on a GPU two curves, allocated and reserved (the caching allocator's two
numbers), on a CPU the process RSS — from the engine's step events, live and from a finished
run's metrics.jsonl (the Runs page). The CUDA side runs here with torch.cuda's counters faked."""
from __future__ import annotations

import json

import pytest

MIB = 2**20


def _lm_config(tiny_dir, tmp_path):
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig

    p = tmp_path / "instr.jsonl"
    p.write_text("\n".join(json.dumps({"instruction": "name a color", "output": "blue"}) for _ in range(16)))
    return RunConfig(model=str(tiny_dir("llama")), task="causal-lm", data=DataConfig(train=str(p)),
                     runs_dir=str(tmp_path / "runs"), technique=TechniqueConfig("lora", {"r": 2}),
                     training=TrainingConfig(max_steps=3, batch_size=4, max_length=32, eval_every=None,
                                             log_every=1))


@pytest.fixture
def fake_cuda_counters(monkeypatch):
    """The engine's memory probe believes it runs on CUDA; torch.cuda's counters answer with
    numbers that grow per call (allocated = 100 MiB + k, reserved = 300 MiB + 2k)."""
    import torch

    from ftstudio.engine import memory

    calls = {"n": 0}

    def allocated(device=None):
        calls["n"] += 1
        return (100 + calls["n"]) * MIB

    monkeypatch.setattr(memory, "is_cuda", lambda device: True)
    monkeypatch.setattr(torch.cuda, "memory_allocated", allocated)
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: (300 + 2 * calls["n"]) * MIB)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: (100 + calls["n"]) * MIB)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    return calls


def _plots(qtbot):
    from ftstudio.gui.widgets.plots import TrainingPlots

    p = TrainingPlots(live=False)
    qtbot.addWidget(p)
    return p


def _legend(plot) -> list[str]:
    return [label.text for _sample, label in plot.plotItem.legend.items]


def test_gpu_run_plots_allocated_and_reserved_as_two_curves(qtbot, tiny_dir, tmp_path, fake_cuda_counters):
    from ftstudio.engine.runner import train
    from ftstudio.engine.store import read_metrics

    events: list[dict] = []
    s = train(_lm_config(tiny_dir, tmp_path), subscribers=[lambda e: events.append(e.to_dict())])
    steps = [e for e in events if e["event"] == "step"]
    assert len(steps) == 3
    for e in steps:
        assert set(e["memory"]) == {"cuda_allocated", "cuda_reserved"}
        assert e["memory"]["cuda_reserved"] > e["memory"]["cuda_allocated"] >= 100 * MIB
    for source in (events, read_metrics(s["run_dir"])):  # live, and the Runs page's finished run
        p = _plots(qtbot)
        p.feed_all(source)
        assert set(p.mem.series) == {"cuda_allocated", "cuda_reserved"}
        for key in ("cuda_allocated", "cuda_reserved"):
            assert p.mem.series[key].y == [e["memory"][key] / MIB for e in steps]
            assert p.mem.series[key].x == [e["step"] for e in steps]
        assert sorted(_legend(p.mem_plot)) == ["GPU allocated", "GPU reserved"]
    assert s["peak_memory_bytes"] >= 100 * MIB  # the allocator's peak, not the RSS


def test_cpu_run_plots_the_process_rss(qtbot, tiny_dir, tmp_path):
    import psutil

    from ftstudio.engine.runner import train

    events: list[dict] = []
    train(_lm_config(tiny_dir, tmp_path), subscribers=[lambda e: events.append(e.to_dict())])
    p = _plots(qtbot)
    p.feed_all(events)
    assert set(p.mem.series) == {"rss"}
    rss_mib = psutil.Process().memory_info().rss / MIB
    assert all(0.3 * rss_mib < y < 3 * rss_mib for y in p.mem.series["rss"].y)
    assert _legend(p.mem_plot) == ["process memory (RSS)"]


def test_run_details_and_runs_page_show_the_estimate_against_the_measured_peak(qtbot, tiny_dir, tmp_path):
    from ftstudio.engine.runner import train
    from ftstudio.gui.pages.run_page import RunPage
    from ftstudio.gui.pages.runs_page import COLUMNS, RunsPage
    from ftstudio.gui.util import fmt_bytes

    cfg = _lm_config(tiny_dir, tmp_path)
    s = train(cfg)
    ratio = f"{s['memory_estimate_ratio']:.2f}×"
    words = (f"pre-flight estimate {fmt_bytes(s['memory_estimate_bytes'])}, measured "
             f"{fmt_bytes(s['measured_memory_bytes'])} (estimate/measured {ratio})")

    page = RunPage()
    qtbot.addWidget(page)
    page.begin("x")
    assert page.memory_facts.isHidden()
    page.on_event({"event": "finished", "status": "finished", "summary": s})
    page.end("finished", s)
    assert page.memory_facts.text() == "Memory: " + words and not page.memory_facts.isHidden()
    assert words in page.log_text()

    runs = RunsPage(lambda: cfg.runs_dir)
    qtbot.addWidget(runs)
    runs.refresh()
    cell = runs.table.item(0, COLUMNS.index("Memory est./measured"))
    assert cell.text() == ratio and cell.toolTip() == words
    runs.compare([runs.records[0], runs.records[0]])
    rows = [runs.compare_table.verticalHeaderItem(i).text() for i in range(runs.compare_table.rowCount())]
    assert runs.compare_table.item(rows.index("Memory estimate"), 0).text() == words
