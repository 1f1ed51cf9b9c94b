"""Technique shoot-out benchmark: one ftstudio study on SST-2 with MiniLM-L6.

Arms: full fine-tuning, LoRA, Adapter (Houlsby), BitFit, prefix tuning, prompt tuning, each at its
technique's defaults (default_learning_rate) under one budget: 1 epoch over a seeded subset of SST-2
train, batch 32, max_length 64, seed 42, evaluated on the full SST-2 dev set (872 rows). The study
runs exactly as `ftstudio study` does (engine.study.run_study, arms one after another in one
process); its pre-flight estimate is printed beside the measured time. Writes the `study` section
of docs/BENCHMARKS.md and the chart to docs/benchmarks/study-sst2.png.

    .venv/bin/python benchmarks/study.py [--samples 2000] [--no-preflight] [--no-doc]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, data_root, isolated_runs_dir, machine, table, today, update_section  # noqa: E402

ARMS = [{"name": "full"}, {"name": "lora"}, {"name": "adapter"}, {"name": "bitfit"}, {"name": "prefix_tuning"},
        {"name": "prompt_tuning"}]
CHART = REPO / "docs" / "benchmarks" / "study-sst2.png"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=2000, help="SST-2 training rows (seeded subset)")
    ap.add_argument("--no-preflight", action="store_true")
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--dir", help="keep the runs and the study here; running again continues the study")
    ap.add_argument("--report", action="store_true",
                    help="only write the doc from the study kept in --dir (partial while it still runs)")
    args = ap.parse_args()
    data_root()
    if args.dir:
        runs = Path(args.dir).resolve()
        os.environ["FTSTUDIO_RUNS_DIR"] = str(runs / "runs")
    else:
        runs = isolated_runs_dir("study")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from ftstudio.cli import StudyProgress, _quiet_libraries
    from ftstudio.engine.study import StudyConfig, run_study, study_preflight

    _quiet_libraries()
    study = StudyConfig.from_dict({
        "model": "builtin:minilm-l6",
        "data": {"train": "../shared/data/sst2", "max_train_samples": args.samples},  # dev.csv = eval (872)
        "training": {"epochs": 1, "batch_size": 32, "max_length": 64, "seed": 42, "eval_every": None,
                     "device": "cpu"},
        "arms": ARMS,
        "output_dir": str(runs / "study"),
    })
    est = None
    if args.report:
        from ftstudio.engine.study import load_results

        res = load_results(runs / "study")
        if not res.get("arms"):
            raise SystemExit(f"no study results in {runs / 'study'}")
        return write_doc(args, res, None, None, partial=res.get("status") != "finished")
    if not args.no_preflight:
        t0 = time.time()
        est = study_preflight(study)
        print(est.text(), f"(pre-flight took {time.time() - t0:.0f} s)", flush=True)
    t0 = time.time()
    res = run_study(study, subscribers=[StudyProgress(sys.stdout)])
    wall = time.time() - t0
    if res["status"] != "finished":
        raise SystemExit(f"study {res['status']}: {[r.get('error') for r in res['arms'] if r.get('error')]}")
    write_doc(args, res, est, wall)


def write_doc(args, res: dict, est, wall: float | None, partial: bool = False) -> None:
    from ftstudio.techniques import get_technique

    rows = [r for r in res["arms"] if r.get("status") == "finished"]
    samples = (res.get("study", {}).get("data") or {}).get("max_train_samples") or args.samples
    full = next(r for r in rows if r["technique"] == "full")
    head = ["arm", "lr", "trainable", "trainable %", "dev acc %", "macro-F1", "vs full (pts)", "beats baseline",
            "peak RSS MiB", "arm MiB", "train s", "samples/s", "export MiB"]
    body = []
    for r in rows:
        gap = 100 * (r["accuracy"] - full["accuracy"])
        body.append([r["label"], f"{r['learning_rate']:g}", f"{r['trainable_params']:,}",
                     f"{r['trainable_percent']:.2f}%", f"{100 * r['accuracy']:.2f}", f"{r['macro_f1']:.3f}",
                     "-" if r is full else f"{gap:+.2f}", "yes" if r["beats_baseline"] else "NO",
                     f"{r['peak_memory_bytes'] / 2**20:.0f}", f"{(r.get('arm_memory_bytes') or 0) / 2**20:.0f}",
                     f"{r['train_seconds']:.1f}",
                     f"{r['samples_per_second']:.1f}", f"{r['export_bytes'] / 2**20:.2f}"])
    print("\n" + table(head, body))
    print(res["chart"]["reading"])
    wall = wall if wall is not None else sum(r["train_seconds"] for r in rows)
    done = [r["technique"] for r in rows]
    missing = [a["name"] for a in ARMS if a["name"] not in done]
    if args.no_doc:
        return
    CHART.parent.mkdir(parents=True, exist_ok=True)
    from ftstudio.engine.study_chart import render_chart

    res["chart"] = render_chart(res, CHART)  # drawn again from the results with this checkout's chart code
    import torch

    pre = ""
    if est is not None and est.total_seconds:
        pre = (f"- Study pre-flight before Start: total ~{est.total_seconds:.0f} s of training (measured: "
               f"{sum(r['train_seconds'] for r in rows):.0f} s of training, {wall:.0f} s wall with evaluation and "
               f"export), largest arm {est.largest_label} at ~{est.largest_bytes / 2**20:.0f} MiB estimated.\n")
    lrs = ", ".join(f"{a['name']} {get_technique(a['name']).default_learning_rate:g}" for a in ARMS)
    md = f"""## Technique shoot-out: a study on SST-2 (`benchmarks/study.py`)

This replaces the hand-run quality table: the same comparison, now one `ftstudio study` run.

- Date: {today()}{f" — PARTIAL: {len(rows)} of {len(ARMS)} arms finished when this was written (not yet: {', '.join(missing)}); `benchmarks/study.py --dir DIR` continues the same study" if partial else ""}
- Machine: {machine()}. **Measured on a loaded machine** (shared with ~7 engineers' test runs): times,
  samples/s and the time axis of the chart are noisy; accuracies, parameter counts and export sizes are not.
- {res['held_equal']}
- Budget: 1 epoch over a seeded {samples:,}-row subset of SST-2 train (`data.max_train_samples`),
  dynamic padding + length grouping, warmup 6%, fp32 on CPU ({torch.get_num_threads()} torch threads); eval:
  the full SST-2 dev set (872 rows). Learning rates = each technique's `default_learning_rate` ({lrs});
  prompt/prefix tuning also use their own `prompt_lr`/`prefix_lr` defaults for the soft prompt / prefixes.
- Majority baseline (always the most frequent training label): {100 * full['baseline_accuracy']:.2f}% on dev.
- Memory: "peak RSS" is the process's peak RSS while the arm trained; the arms run one after another in
  one process (as `ftstudio study` does), so it includes Python, torch and whatever earlier arms left.
  "arm MiB" is that peak minus the RSS the arm started from (after a GC and `malloc_trim`): the arm's own
  model copy, gradients, optimizer state, activations and data. The chart's point size uses "arm MiB".
{pre}- Wall: {wall / 60:.1f} min for the {len(rows)} arms{" (training time only)" if partial else ""}.

{table(head, body, md=True)}

**Reading:** {res['chart']['reading']}

![quality vs trainable % and vs time](benchmarks/study-sst2.png)

Rerun: `.venv/bin/python benchmarks/study.py --samples {samples} --dir DIR` (or `ftstudio study` with the same settings).
"""
    update_section("study", md)


if __name__ == "__main__":
    main()
