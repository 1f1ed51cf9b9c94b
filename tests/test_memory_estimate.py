"""Pre-flight's memory estimate beside the measured peak in summary.json: the run records the
estimate (weights + gradients + optimizer state + one forward/backward's activations on its
longest batch), its own measured memory (peak minus what the process held before the model
loaded) and their ratio; measuring the estimate does not change the training; and on a CPU the
estimate is within 2x of the measured peak for a config-built causal LM."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _instr(tmp_path, n=16, words=4):
    p = tmp_path / "instr.jsonl"
    p.write_text("\n".join(json.dumps({"instruction": "name a color " * words, "output": "blue " * words})
                           for _ in range(n)))
    return p


def test_summary_records_estimate_measured_memory_and_their_ratio(tiny_dir, tmp_path):
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
    from ftstudio.engine.runner import train

    cfg = RunConfig(model=str(tiny_dir("llama")), task="causal-lm", data=DataConfig(train=str(_instr(tmp_path))),
                    runs_dir=str(tmp_path / "runs"), technique=TechniqueConfig("full"),
                    training=TrainingConfig(max_steps=2, batch_size=4, max_length=32, eval_every=None))
    s = train(cfg)
    on_disk = json.loads((Path(s["run_dir"]) / "summary.json").read_text())
    est = on_disk["memory_estimate"]
    assert set(est) >= {"weights", "gradients", "optimizer", "activations", "total"}
    assert est["total"] == on_disk["memory_estimate_bytes"] == sum(v for k, v in est.items()
                                                                  if k not in ("total", "activations_saved"))
    assert est["activations"] >= est["activations_saved"] > 0
    n = s["total_params"]
    assert est["weights"] >= 4 * n and est["gradients"] == 4 * s["trainable_params"]
    assert est["optimizer"] == 8 * s["trainable_params"] and est["activations"] > 0
    assert on_disk["measured_memory_bytes"] == on_disk["peak_memory_bytes"] - on_disk["memory_baseline_bytes"] > 0
    assert on_disk["memory_estimate_ratio"] == pytest.approx(est["total"] / on_disk["measured_memory_bytes"])


def test_measuring_the_estimate_leaves_the_training_unchanged(tiny_dir, tiny_csv, tmp_path, monkeypatch):
    """The estimate's forward/backward runs with dropout (random numbers) and leaves gradients:
    both are undone, so the losses are those of a run without it."""
    from ftstudio.engine import preflight
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
    from ftstudio.engine.runner import train

    def losses(tag):
        cfg = RunConfig(model=str(tiny_dir("bert")), data=DataConfig(train=str(tiny_csv)),
                        runs_dir=str(tmp_path / tag), technique=TechniqueConfig("full"),
                        training=TrainingConfig(max_steps=4, batch_size=4, max_length=32, eval_every=None,
                                                log_every=1, seed=3))
        ev: list = []
        s = train(cfg, subscribers=[ev.append])
        return [e.loss for e in ev if e.kind == "step"], s

    with_estimate, s = losses("a")
    assert s["memory_estimate_bytes"]
    monkeypatch.setattr(preflight, "run_memory_estimate", lambda *a, **k: None)
    without, s2 = losses("b")
    assert s2["memory_estimate_bytes"] is None and s2["memory_estimate_ratio"] is None
    assert with_estimate == without


CHILD = textwrap.dedent("""
    import json, random, sys
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from tests.tiny_models import build_sized_llama
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
    from ftstudio.engine.runner import train
    tmp = Path({tmp!r})
    m = build_sized_llama(tmp / "m", hidden=256, layers=2)
    words = "the quick brown fox jumps over the lazy dog and the movie was great".split()
    random.seed(0)
    rows = [{{"instruction": " ".join(random.choice(words) for _ in range(50)),
              "output": " ".join(random.choice(words) for _ in range(50))}} for _ in range(24)]
    (tmp / "d.jsonl").write_text("\\n".join(json.dumps(r) for r in rows))
    cfg = RunConfig(model=str(m), task="causal-lm", data=DataConfig(train=str(tmp / "d.jsonl"), max_eval_samples=4),
                    runs_dir=str(tmp / "runs"), technique=TechniqueConfig("full"),
                    training=TrainingConfig(max_steps=3, batch_size=8, max_length=256, eval_every=None))
    s = train(cfg)
    print("RESULT " + json.dumps({{k: s.get(k) for k in ("memory_estimate", "measured_memory_bytes",
                                                        "memory_estimate_ratio")}}))
""")


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(),
                    reason="the CPU peak needs Linux's resettable RSS high-water mark (/proc/self/clear_refs)")
def test_cpu_estimate_is_close_to_the_measured_peak(tmp_path):
    """A fresh process (the test runner's own heap would blur the RSS): full fine-tuning of a
    config-built Llama (hidden 256, 2 layers, batch 8 x ~200 tokens: ~100-300 MiB of training
    memory, well above the process's noise)."""
    code = CHILD.format(repo=str(REPO), tmp=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "FTSTUDIO_TENSORBOARD": "0"})
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, out.stderr[-2000:]
    r = json.loads(line[len("RESULT "):])
    assert r["measured_memory_bytes"] > 50 * 2**20, r  # the model's training, not noise
    # within 2x is the promise; the band is narrower so that the estimate without the backward's
    # measured peak (saved tensors only: ~0.65 here, 0.45 at 4 layers) fails it
    assert 0.75 <= r["memory_estimate_ratio"] <= 1.5, r
