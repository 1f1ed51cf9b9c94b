"""Pre-flight's memory estimate against the measured peak, on this machine's device (CPU here).

    .venv/bin/python benchmarks/memory_estimate.py [--quick]

Each case trains in a fresh process (the RSS of a process that already trained says little) and
reads its summary.json: ``memory_estimate`` (weights + gradients + AdamW state + activations of one
forward/backward on the longest batch, as pre-flight measures them), ``measured_memory_bytes``
(the run's peak — CPU: Linux RSS high-water mark, CUDA: max allocated — minus what the process
held before the model loaded) and their ratio. The same child also computes the estimate the
way pre-flight did before (activations = the tensors autograd saves in the forward only), to
show what the backward's measured peak adds. Writes the ``memory_estimate`` section of
docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, data_root, machine, table, today, update_section  # noqa: E402

CHILD = textwrap.dedent("""
    import json, random, sys
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
    from ftstudio.engine.runner import train
    case = json.loads({case!r})
    tmp = Path({tmp!r})
    if case["model"].startswith("sized:"):
        from tests.tiny_models import build_sized_llama
        hidden, layers = map(int, case["model"][6:].split("x"))
        model = str(build_sized_llama(tmp / "m", hidden=hidden, layers=layers))
    else:
        model = case["model"]
    cfg = RunConfig(model=model, task="causal-lm",
                    data=DataConfig(train=case["train"], max_train_samples=case["batch"] * case["steps"],
                                    max_eval_samples=8),
                    runs_dir=str(tmp / "runs"), technique=TechniqueConfig(case["technique"], case.get("params", {{}})),
                    training=TrainingConfig(max_steps=case["steps"], batch_size=case["batch"],
                                            max_length=case["max_length"], eval_every=None, seed=42))
    s = train(cfg)
    print("RESULT " + json.dumps({{**{{k: s.get(k) for k in ("memory_estimate", "measured_memory_bytes",
        "memory_estimate_ratio", "memory_baseline_bytes", "peak_memory_bytes", "trainable_params", "total_params",
        "device")}}, "saved_only": s["memory_estimate"]["total"] - s["memory_estimate"]["activations"]
        + s["memory_estimate"]["activations_saved"]}}))
""")


def run_case(case: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="ftstudio-memest-") as tmp:
        code = CHILD.format(repo=str(REPO), case=json.dumps(case), tmp=tmp)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800,
                             env={**__import__("os").environ, "FTSTUDIO_TENSORBOARD": "0"})
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"case {case['name']} failed:\n{out.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="the config-built models only")
    args = ap.parse_args()
    t0 = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="ftstudio-memest-data-"))
    words = "the quick brown fox jumps over the lazy dog and the movie was great".split()
    rnd = __import__("random").Random(0)
    synth = tmp / "synth.jsonl"
    synth.write_text("\n".join(json.dumps({"instruction": " ".join(rnd.choice(words) for _ in range(60)),
                                           "output": " ".join(rnd.choice(words) for _ in range(60))})
                               for _ in range(64)))
    alpaca = str(data_root() / "alpaca" / "train.jsonl")
    cases = [
        dict(name="tiny Llama (tests' hidden 32, 2 layers)", model="sized:32x2", technique="full", train=str(synth),
             batch=8, steps=4, max_length=128),
        dict(name="config-built Llama hidden 256, 4 layers", model="sized:256x4", technique="full",
             train=str(synth), batch=8, steps=4, max_length=256),
        dict(name="config-built Llama hidden 256, 4 layers", model="sized:256x4", technique="lora",
             train=str(synth), batch=8, steps=4, max_length=256),
    ]
    if not args.quick:
        cases.append(dict(name="SmolLM2-135M-Instruct (alpaca)", model="builtin:smollm2-135m", technique="lora",
                          params={"r": 8, "alpha": 16}, train=alpaca, batch=4, steps=6, max_length=256))
    rows = []
    for c in cases:
        r = run_case(c)
        est, m = r["memory_estimate"], r["measured_memory_bytes"]
        mib = lambda b: f"{b / 2**20:.0f}"  # noqa: E731
        rows.append([c["name"], c["technique"], f"{c['batch']} × ≤{c['max_length']}",
                     mib(est["weights"]), mib(est["gradients"] + est["optimizer"]), mib(est["activations"]),
                     mib(est["total"]), mib(m), f"{r['memory_estimate_ratio']:.2f}",
                     mib(r["saved_only"]), f"{r['saved_only'] / m:.2f}"])
        print(rows[-1], flush=True)
    body = [
        "## Pre-flight's memory estimate vs the measured peak (`benchmarks/memory_estimate.py`)",
        "",
        f"- Date: {today()}",
        f"- Machine: {machine()}; device: cpu (no GPU lent to this task: the CUDA rows are not measured)",
        "- Every run is a fresh process; 'measured' = the run's peak RSS (Linux high-water mark, reset before the "
        "model loads) minus the RSS before the model loaded; the estimate is what the run records in "
        "summary.json (`memory_estimate`, pre-flight's arithmetic: weights + gradients + AdamW state + "
        "activations of one forward/backward on the longest batch). 'saved tensors only' is the estimate as "
        "pre-flight made it before this change (activations = what autograd saves in the forward).",
        f"- Wall: {(time.time() - t0) / 60:.1f} min",
        "",
        table(["model", "technique", "batch", "weights MiB", "grads + Adam MiB", "activations MiB", "estimate MiB",
               "measured MiB", "estimate / measured", "saved tensors only MiB", "saved only / measured"], rows,
              md=True),
        "",
        "The tests' hidden-32 model trains in a few MiB, below the process's own RSS noise (allocator, "
        "threads): its ratio says nothing. On the models whose training memory stands out, counting only "
        "the forward's saved tensors missed the backward (gradients of the activations, temporaries, "
        "allocator slack): up to 2x too low. The estimate now takes the measured peak of that step when it "
        "is larger (tests/test_memory_estimate.py holds the hidden-256 model within 0.75-1.5x).",
    ]
    update_section("memory_estimate", "\n".join(body))


if __name__ == "__main__":
    main()
