"""Technique quality benchmark (issue: technique quality).

SST-2, MiniLM-L6, the SAME budget for every technique: 1 epoch over a seeded subset of SST-2 train
(data.max_train_samples), batch 32, max_length 64, evaluated on the full SST-2 dev set (872), each
technique at its class attribute ``default_learning_rate``. Reports trainable params, peak memory
(process peak RSS: every run is a fresh subprocess), samples/s (from the Step events), dev accuracy
and the gap to full fine-tuning. Then a causal-LM check on builtin:smollm2-135m (LoRA, prompt tuning,
prefix tuning): loss goes down on instruction data and the exported adapter generates text.

    .venv/bin/python benchmarks/quality.py [--quick] [--samples N] [--no-lm] [--no-doc]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, data_root, isolated_runs_dir, machine, table, today, update_section  # noqa: E402

MODEL = "builtin:minilm-l6"
# (label, technique, params); lr = the technique's default_learning_rate unless a row overrides it
TECHNIQUES = [
    ("full", "full", {}),
    ("lora", "lora", {}),
    ("adapter (houlsby)", "adapter", {"variant": "houlsby"}),
    ("bitfit", "bitfit", {}),
    ("prefix_tuning", "prefix_tuning", {}),
    ("prompt_tuning", "prompt_tuning", {}),
    ("adapter (pfeiffer)", "adapter", {"variant": "pfeiffer"}),
    ("layerwise (unfreeze every N steps, N = steps / 8)", "layerwise", {"unfreeze_every": "steps"}),
    ("layerwise (defaults: unfreezing spread over the run)", "layerwise", {}),
]
TARGETS = {"adapter": 1.5, "bitfit": 3.0, "prefix_tuning": 4.0}  # max points below full FT
RETRY_LRS = {  # tried when a technique misses its target by > 1 point at its defaults
    "adapter": [("lr", 3e-3), ("lr", 3e-4)],
    "bitfit": [("lr", 3e-3), ("lr", 3e-4)],
    "prefix_tuning": [("prefix_lr", 3e-2), ("prefix_lr", 3e-3)],
}
PROMPT_LRS = [0.03, 0.1]  # prompt tuning is known to need a high prompt_lr: also tried


# --------------------------------------------------------------------------- one run (subprocess)
def one_run(spec: dict) -> dict:
    from ftstudio.engine.config import RunConfig
    from ftstudio.engine.events import RunStarted, Step
    from ftstudio.engine.runner import train
    from ftstudio.techniques import get_technique

    tech = spec["technique"]
    lr = spec.get("lr") or get_technique(tech).default_learning_rate
    cfg = RunConfig.from_dict({
        "model": spec.get("model", MODEL), "task": spec.get("task", "classification"),
        "data": spec["data"],
        "technique": {"name": tech, "params": spec.get("params", {})},
        "training": {"epochs": 1, "batch_size": spec.get("batch", 32), "max_length": spec.get("max_length", 64),
                     "learning_rate": lr, "eval_every": None, "log_every": 1, "device": "cpu", "seed": 42,
                     **({"max_steps": spec["max_steps"]} if spec.get("max_steps") else {})},
    })
    steps: list[tuple[float, int, float]] = []
    run_dir: list[str] = []

    def sub(ev) -> None:
        if isinstance(ev, RunStarted):
            run_dir.append(ev.run_dir)
        if isinstance(ev, Step):
            steps.append((time.perf_counter(), ev.step, ev.loss))

    s = train(cfg, [sub])
    warm = min(3, len(steps) - 2)
    dt = steps[-1][0] - steps[warm][0]
    sps = (steps[-1][1] - steps[warm][1]) * cfg.training.batch_size / dt if dt > 0 else 0.0
    out = {
        "lr": lr, "trainable": s["trainable_params"], "total": s["total_params"], "pct": s["trainable_percent"],
        "accuracy": s.get("accuracy"), "eval_loss": s.get("eval_loss"), "sps": sps, "steps": s["steps"],
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "run_dir": run_dir[0],
        "losses": [x[2] for x in steps],
    }
    if spec.get("generate"):
        from ftstudio.engine.predict import Predictor

        out["generation"] = Predictor(run_dir[0]).predict(spec["generate"])
    return out


def run_sub(spec: dict) -> dict:
    """Each run in a fresh interpreter: peak RSS is that technique's, not the previous run's."""
    p = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], cwd=REPO, capture_output=True,
                       text=True)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        print(p.stdout[-2000:], p.stderr[-4000:], sep="\n")
        raise SystemExit(f"run failed: {spec}")
    return json.loads(lines[-1][7:])


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="2,000 training samples, no retries")
    ap.add_argument("--samples", type=int, default=None, help="SST-2 training subset (default 8000)")
    ap.add_argument("--no-lm", action="store_true", help="skip the causal-LM check")
    ap.add_argument("--cls", action="store_true",
                    help="also run the per-technique SST-2 table (superseded by benchmarks/study.py, whose study "
                         "section of docs/BENCHMARKS.md replaced it)")
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args()
    args.no_cls = not args.cls
    if args.one:
        res = one_run(json.loads(args.one))
        print("RESULT " + json.dumps(res, default=str))
        return
    data_root()
    isolated_runs_dir("quality")
    n = args.samples or (2000 if args.quick else 8000)
    data = {"train": "../shared/data/sst2", "max_train_samples": n}  # dev.csv (872) is the eval set
    t_start = time.time()
    results: list[tuple[str, str, dict, dict]] = []
    notes: list[str] = []

    rows_lm: list[list[str]] = []
    head = ["technique", "lr", "params", "trainable", "trainable %", "peak RSS MiB", "samples/s",
            "dev acc %", "gap to full (pts)", "target"]
    head_lm = ["technique", "lr", "trainable", "loss first 5", "loss last 5", "down", "generates", "output (first 160 chars)"]

    def cls_rows() -> list[list[str]]:
        if not results:
            return []
        full_acc = results[0][3]["accuracy"]
        rows = []
        for label, tech, params, r in results:
            gap = 100 * (full_acc - r["accuracy"])
            tgt = TARGETS.get(tech)
            verdict = "" if tgt is None or label == "full" else ("met" if gap <= tgt else "MISSED") + f" (≤ {tgt:g})"
            rows.append([label, f"{r['lr']:g}", ", ".join(f"{k}={v}" for k, v in params.items()) or "-",
                         f"{r['trainable']:,}", f"{r['pct']:.2f}%", f"{r['peak_rss'] / 2**20:.0f}",
                         f"{r['sps']:.1f}", f"{100 * r['accuracy']:.2f}", f"{gap:+.2f}" if label != "full" else "-",
                         verdict])
        return rows

    def write_doc(done: bool) -> None:
        if args.no_doc:
            return
        import torch

        wall = time.time() - t_start
        rows = cls_rows()
        if not rows:  # the SST-2 comparison is the study section now (benchmarks/study.py)
            md = f"""## Technique quality (`benchmarks/quality.py`): causal-LM check

- Date: {today()}{'' if done else ' — PARTIAL'} · Machine: {machine()} · Wall: {wall / 60:.1f} min.
- The SST-2 technique comparison that used to open this section is now a study: see "Technique shoot-out" below.
"""
            update_section("quality", md + lm_md())
            return
        md = f"""## Technique quality (`benchmarks/quality.py`)

- Date: {today()}{'' if done else ' — PARTIAL: the run was still going when this was written'}
- Machine: {machine()}
- Budget (same for all): 1 epoch over a seeded {n:,}-sample subset of SST-2 train (`data.max_train_samples`),
  batch 32, max_length 64, dynamic padding + length grouping, warmup 6%, seed 42, fp32 on CPU
  ({torch.get_num_threads()} torch thread(s)); evaluated on the full SST-2 dev set (872). Each technique at its
  `default_learning_rate` (prompt and prefix tuning: their own `prompt_lr`/`prefix_lr` defaults for the soft
  prompt / prefixes, `head_lr` 1e-3 for the head). Every run is a fresh subprocess, so "peak RSS" is that
  run's process peak (Python + torch + model + data + optimizer). samples/s from the Step events (first 3
  steps skipped); absolute speeds are from a machine shared with other jobs, compare them only roughly.
- Wall: {wall / 60:.1f} min{' (--quick)' if args.quick else ''}.
"""
        if rows:
            md += "\n" + table(head, rows, md=True) + "\n"
        if notes:
            md += "\n" + "\n".join(f"- {x}" for x in notes) + "\n"
        update_section("quality", md + lm_md())

    def lm_md() -> str:
        if not rows_lm:
            return ""
        return f"""
### Causal-LM check (builtin:smollm2-135m)

20 steps, batch 4, max_length 128 on `builtin:instructions` (resources/datasets/instructions.jsonl), each
technique at its defaults; loss = mean of the first 5 vs the last 5 step losses; generation =
`Predictor(run_dir).predict("Name three primary colors.")` from the exported adapter (greedy, 48 tokens).

{table(head_lm, rows_lm, md=True)}
"""

    def go(label: str, tech: str, params: dict, lr: float | None = None) -> dict:
        spec = {"technique": tech, "params": params, "data": data}
        if lr:
            spec["lr"] = lr
        r = run_sub(spec)
        results.append((label, tech, params, r))
        print(f"  {label:45s} lr {r['lr']:.0e} {params}  acc {100 * r['accuracy']:.2f}  {r['sps']:.1f} samples/s  "
              f"{r['trainable']:,} trainable ({r['pct']:.2f}%)  peak RSS {r['peak_rss'] / 2**20:.0f} MiB "
              f"[{time.time() - t_start:.0f}s]", flush=True)
        write_doc(False)
        return r

    def lm_check() -> None:
        print("\nCausal LM: builtin:smollm2-135m, builtin:instructions, 20 steps, batch 4, max_length 128")
        for tech in ("lora", "prompt_tuning", "prefix_tuning"):
            spec = {"technique": tech, "model": "builtin:smollm2-135m", "task": "causal-lm",
                    "data": {"train": "builtin:instructions", "max_eval_samples": 8}, "batch": 4,
                    "max_length": 128, "max_steps": 20, "generate": "Name three primary colors."}
            r = run_sub(spec)
            ls = r["losses"]
            first, last = statistics.mean(ls[:5]), statistics.mean(ls[-5:])
            gen = r.get("generation") or {}
            text = gen.get("text") or gen.get("output") or json.dumps(gen)[:300]
            print(f"  {tech:14s} lr {r['lr']:g}  loss first5 {first:.3f} -> last5 {last:.3f}  "
                  f"({'down' if last < first else 'NOT down'})  {r['sps']:.2f} samples/s\n    generation: {text!r}",
                  flush=True)
            rows_lm.append([tech, f"{r['lr']:g}", f"{r['trainable']:,} ({r['pct']:.2f}%)", f"{first:.3f}",
                            f"{last:.3f}", "yes" if last < first else "NO",
                            "yes" if text else "NO", text.replace("\n", " ").replace("|", "/")[:160]])
            write_doc(False)

    steps_per_epoch = -(-n // 32)
    if not args.no_cls:
        print(f"SST-2, MiniLM-L6, 1 epoch over {n} samples, batch 32, max_length 64, eval: full dev (872)")
        for label, tech, params in TECHNIQUES:
            if params.get("unfreeze_every") == "steps":  # 8 stages (head, 6 layers, embeddings) within the epoch
                params = {**params, "unfreeze_steps": max(1, steps_per_epoch // 8)}
            go(label, tech, params)
    if not args.no_lm:
        lm_check()
    if not args.no_cls and not args.quick:
        full_acc = results[0][3]["accuracy"]
        base = {label: (tech, params, r) for label, tech, params, r in list(results)}
        for label, (tech, params, r) in base.items():
            tgt = TARGETS.get(tech)
            gap = 100 * (full_acc - r["accuracy"])
            if tgt is not None and gap > tgt + 1.0:
                notes.append(f"{label} missed its target by more than 1 point at its defaults: retried "
                             f"{', '.join(f'{k}={v:g}' for k, v in RETRY_LRS[tech])}")
                for key, val in RETRY_LRS[tech]:
                    if key == "lr":
                        go(f"{label}, lr {val:g}", tech, params, lr=val)
                    else:
                        go(f"{label}, {key} {val:g}", tech, {**params, key: val})
        for plr in PROMPT_LRS:
            go(f"prompt_tuning, prompt_lr {plr:g}", "prompt_tuning", {"prompt_lr": plr})
    rows = cls_rows()
    if rows:
        print("\n" + table(head, rows))
    if rows_lm:
        print("\n" + table(head_lm[:-1], [r[:-1] for r in rows_lm]))
    print(f"\nwall {(time.time() - t_start) / 60:.1f} min")
    write_doc(True)


if __name__ == "__main__":
    main()
