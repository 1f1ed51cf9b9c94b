"""Engine throughput benchmark (issue: engine performance).

  a. ftstudio.engine.runner.train vs a minimal hand-written PyTorch loop doing the same work:
     MiniLM-L6, AutoModelForSequenceClassification, fused AdamW, batch 32, every batch exactly 64
     tokens (each example tokenizes to >= 64 tokens, max_length 64), grad clipping at 1.0 on both
     sides (the engine always clips at training.max_grad_norm=1.0). Full FT and LoRA (r=8, alpha=8,
     query,value). Engine and hand loop are interleaved STEP BY STEP in one process (the engine's Step
     subscriber runs one hand step), so the shared machine's fluctuating load hits both equally;
     warm-up steps are not timed; setup, tokenizing, final evaluation and export are excluded.
  b. Engine (dynamic padding + length grouping) vs Hugging Face Trainer with its best options
     (DataCollatorWithPadding, train_sampling_strategy="group_by_length", fused AdamW, no eval /
     save / logging, 0 workers) on the same 4,000 SST-2 rows, MiniLM full FT, batch 32, same steps.
  c. Full-FT FLOP utilization: 6 x non-embedding params x tokens/s over the measured fp32 matmul
     peak (torch.mm 2048x2048).

    .venv/bin/python benchmarks/throughput.py [--quick] [--rounds N] [--no-doc]
"""
from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_root, isolated_runs_dir, machine, table, today, update_section  # noqa: E402

BATCH = 32
SEQ = 64
MODEL = "builtin:minilm-l6"


# --------------------------------------------------------------------------- data
def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["text", "label"])
        w.writeheader()
        w.writerows(rows)


def long_rows(sst2: list[dict], tokenizer, n: int, min_tokens: int = SEQ + 8) -> list[dict]:
    """n rows, each several SST-2 sentences joined so it tokenizes to >= min_tokens."""
    rng = random.Random(0)
    out = []
    while len(out) < n:
        first = rng.choice(sst2)
        parts = [first["text"]]
        while len(tokenizer(" ".join(parts))["input_ids"]) < min_tokens:
            parts.append(rng.choice(sst2)["text"])
        out.append({"text": " ".join(parts), "label": first["label"]})
    return out


# --------------------------------------------------------------------------- lock-step harness
# The machine is shared: other processes' load comes and goes on a scale of seconds, which made
# run-level alternation (engine run, then hand run) useless (2-4x swings). So the two sides are
# interleaved STEP BY STEP inside one engine run: the engine's Step subscriber (called synchronously
# on the training thread after each optimizer step) runs exactly one step of the other side and times
# it; the engine's step time is the time from the subscriber's return to the next Step event.
def engine_run(technique: str, params: dict, lr: float, train_csv: Path, warm: int, steps: int,
               partner, max_length: int = SEQ, eval_csv: str | None = None) -> dict:
    from ftstudio.engine.config import RunConfig
    from ftstudio.engine.events import Step
    from ftstudio.engine.runner import train

    cfg = RunConfig.from_dict({
        "model": MODEL, "task": "classification",
        "data": {"train": str(train_csv), "eval": eval_csv, "max_eval_samples": 32},
        "technique": {"name": technique, "params": params},
        "training": {"max_steps": warm + steps, "batch_size": BATCH, "max_length": max_length,
                     "learning_rate": lr, "eval_every": None, "log_every": 1, "device": "cpu", "seed": 42},
    })
    eng: dict[int, float] = {}
    other: dict[int, float] = {}
    last = [None]

    def sub(ev) -> None:
        if isinstance(ev, Step):
            t = time.perf_counter()
            if last[0] is not None:
                eng[ev.step] = t - last[0]
            other[ev.step] = partner()
            last[0] = time.perf_counter()

    summary = train(cfg, [sub])
    timed = range(warm + 1, warm + steps + 1)
    return {"engine": _rates([eng[k] for k in timed]), "other": _rates([other[k] for k in timed]),
            "engine_durs": [eng[k] for k in timed],
            "trainable": summary["trainable_params"], "total": summary["total_params"]}


def _rates(durs: list[float]) -> dict:
    return {"sps": len(durs) * BATCH / sum(durs), "med_sps": BATCH / statistics.median(durs),
            "step_s": statistics.median(durs), "sum_s": sum(durs)}


# --------------------------------------------------------------------------- hand-written loop
class HandLoop:
    """A minimal PyTorch loop, one step per call: forward, backward, clip 1.0, fused AdamW step."""

    def __init__(self, lora: bool, enc: dict, labels, lr: float):
        import torch
        from transformers import AutoModelForSequenceClassification

        from ftstudio.engine.models import resolve_model_path

        self.torch = torch
        torch.manual_seed(42)
        model = AutoModelForSequenceClassification.from_pretrained(resolve_model_path(MODEL), num_labels=2)
        if lora:
            from peft import LoraConfig, TaskType, get_peft_model

            model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, r=8, lora_alpha=8, lora_dropout=0.0,
                                                     target_modules=["query", "value"]))
        self.model = model
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=lr, weight_decay=0.01, fused=True)
        model.train()
        self.enc, self.labels = enc, labels
        self.perm = torch.randperm(labels.shape[0])
        self.s = 0

    def __call__(self) -> float:
        torch = self.torch
        t0 = time.perf_counter()
        n = self.labels.shape[0]
        lo = (self.s * BATCH) % n
        idx = self.perm[lo:lo + BATCH]
        out = self.model(**{k: v[idx] for k, v in self.enc.items()}, labels=self.labels[idx])
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.s += 1
        return time.perf_counter() - t0


# --------------------------------------------------------------------------- HF Trainer
class HFTrainerSteps:
    """HF Trainer in a thread, released one optimizer step per call (lock-step with the engine).
    A step = from the release to its on_step_end callback (includes fetching + collating the batch)."""

    def __init__(self, rows: list[dict], tokenizer, lr: float, max_steps: int, max_length: int):
        import threading

        import datasets
        import torch
        from transformers import (AutoModelForSequenceClassification, DataCollatorWithPadding, Trainer,
                                  TrainerCallback, TrainingArguments)

        from ftstudio.engine.models import resolve_model_path

        datasets.disable_progress_bars()
        enc = tokenizer([r["text"] for r in rows], truncation=True, max_length=max_length)
        ds = datasets.Dataset.from_dict({**{k: enc[k] for k in enc}, "labels": [int(r["label"]) for r in rows]})
        torch.manual_seed(42)
        model = AutoModelForSequenceClassification.from_pretrained(resolve_model_path(MODEL), num_labels=2)
        self.go, self.done = threading.Semaphore(0), threading.Semaphore(0)
        self.durs: list[float] = []
        self.padded = {"tok": 0, "n": 0}
        self.error: BaseException | None = None
        outer = self

        class LockStep(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                outer.durs.append(time.perf_counter() - outer.t0)
                outer.done.release()
                if state.global_step < max_steps:
                    outer.go.acquire()
                    outer.t0 = time.perf_counter()

        base = DataCollatorWithPadding(tokenizer)

        def collator(features):
            b = base(features)
            self.padded["tok"] += b["input_ids"].numel()
            self.padded["n"] += 1
            return b

        self.tmp = tempfile.TemporaryDirectory()
        args = TrainingArguments(
            output_dir=self.tmp.name, per_device_train_batch_size=BATCH, max_steps=max_steps, learning_rate=lr,
            weight_decay=0.01, warmup_steps=int(0.06 * max_steps), lr_scheduler_type="linear", max_grad_norm=1.0,
            train_sampling_strategy="group_by_length", optim="adamw_torch_fused",
            eval_strategy="no", save_strategy="no", logging_strategy="no", report_to="none",
            dataloader_num_workers=0, dataloader_pin_memory=False, use_cpu=True, disable_tqdm=True, seed=42,
        )
        self.trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=collator, callbacks=[LockStep()])

        def target():
            try:
                self.go.acquire()
                self.t0 = time.perf_counter()
                self.trainer.train()
            except BaseException as e:  # surfaced by __call__
                self.error = e
                self.done.release()

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def __call__(self) -> float:
        self.go.release()
        if not self.done.acquire(timeout=900) or self.error is not None:
            raise RuntimeError(f"HF Trainer thread failed: {self.error!r}")
        return self.durs[-1]

    def close(self) -> None:
        self.thread.join(timeout=120)
        self.tmp.cleanup()


def engine_padded_per_batch(lengths: list[int], n_batches: int) -> float:
    from ftstudio.engine.data import length_grouped_batches

    b = length_grouped_batches(lengths, BATCH, 42, 0)[:n_batches]
    return statistics.mean(len(x) * max(lengths[i] for i in x) for x in b)


# --------------------------------------------------------------------------- peak
MM_N = 2048


def time_mm(a, b) -> float:
    import torch

    t = time.perf_counter()
    torch.mm(a, b)
    return time.perf_counter() - t


def non_embedding_params(model) -> int:
    emb = sum(p.numel() for n, p in model.named_parameters() if "embeddings" in n)
    return sum(p.numel() for p in model.parameters()) - emb


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round, fewer steps (~3 min)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds of (a) (default 2)")
    ap.add_argument("--b-rounds", type=int, default=None, help="rounds of (b) (default 2)")
    ap.add_argument("--no-doc", action="store_true", help="do not update docs/BENCHMARKS.md")
    args = ap.parse_args()
    t_start = time.time()
    root = data_root()
    isolated_runs_dir("throughput")
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    from ftstudio.engine.models import load_tokenizer, resolve_model_path

    hf_logging.set_verbosity_error()
    rounds = args.rounds or (1 if args.quick else 2)
    b_rounds = args.b_rounds or (1 if args.quick else 2)
    warm, steps = (2, 6) if args.quick else (3, 15)
    b_warm, b_steps = (3, 60) if args.quick else (5, 120)
    tmp = Path(tempfile.mkdtemp(prefix="ftstudio-bench-data-"))
    tok = load_tokenizer(resolve_model_path(MODEL))
    sst2 = read_csv(root / "sst2" / "train.csv")

    # ---- a: engine vs hand loop, fixed length 64 ----
    n_rows = BATCH * (warm + steps) + 64
    rows = long_rows(sst2, tok, n_rows)
    long_csv = tmp / "long.csv"
    write_csv(long_csv, rows)
    enc = tok([r["text"] for r in rows], truncation=True, max_length=SEQ, padding="max_length", return_tensors="pt")
    assert int(enc["attention_mask"].sum()) == SEQ * len(rows), "every example must fill 64 tokens"
    labels = torch.tensor([int(r["label"]) for r in rows])
    res: dict[str, dict[str, list[float]]] = {"full": {"engine": [], "hand": []}, "lora": {"engine": [], "hand": []}}
    resm: dict[str, dict[str, list[float]]] = {"full": {"engine": [], "hand": []}, "lora": {"engine": [], "hand": []}}
    mm_a, mm_b = torch.randn(MM_N, MM_N), torch.randn(MM_N, MM_N)
    mm_times: list[float] = []
    full_step_durs: list[float] = []
    print(f"a. engine vs hand loop, interleaved step by step: {rounds} rounds x (full, lora), "
          f"{warm} warm-up + {steps} timed steps each")
    for r in range(rounds):
        for tech, lr, params in (("full", 5e-5, {}), ("lora", 2e-3, {"r": 8, "alpha": 8, "target_modules": ["query", "value"]})):
            hand = HandLoop(tech == "lora", dict(enc), labels, lr)
            partner = hand
            if tech == "full":  # (c): time the fp32 matmul peak right beside each step, same load
                def partner(hand=hand):
                    d = hand()
                    mm_times.append(time_mm(mm_a, mm_b))
                    return d
            out = engine_run(tech, params, lr, long_csv, warm, steps, partner)
            if tech == "full":
                full_step_durs.extend(out["engine_durs"])
            del hand, partner
            for side, key in (("engine", "engine"), ("hand", "other")):
                res[tech][side].append(out[key]["med_sps"])
                resm[tech][side].append(out[key]["sps"])
                print(f"  round {r + 1} {tech:4s} {side:6s} {out[key]['med_sps']:7.1f} samples/s at the median step "
                      f"({1000 * out[key]['step_s']:.0f} ms/step; {out[key]['sps']:.1f} samples/s over all timed steps)",
                      flush=True)

    # ---- b: engine vs HF Trainer on SST-2 real lengths ----
    rng = random.Random(0)
    sub = rng.sample(sst2, 4000)
    sub_csv = tmp / "sst2_4000.csv"
    write_csv(sub_csv, sub)
    lengths = [len(x) for x in tok([r["text"] for r in sub], truncation=True, max_length=SEQ)["input_ids"]]
    resb: dict[str, list[float]] = {"engine": [], "hf": []}
    hf_pad = []
    print(f"\nb. engine vs HF Trainer on 4,000 SST-2 rows, interleaved step by step: {b_rounds} rounds, "
          f"{b_warm} warm-up + {b_steps} timed steps")
    for r in range(b_rounds):
        hf = HFTrainerSteps(sub, tok, 5e-5, b_warm + b_steps, SEQ)
        out = engine_run("full", {}, 5e-5, sub_csv, b_warm, b_steps, hf, SEQ, eval_csv=str(root / "sst2" / "dev.csv"))
        hf.close()
        hf_pad.append(hf.padded["tok"] / max(1, hf.padded["n"]))
        for side, key in (("engine", "engine"), ("hf", "other")):
            resb[side].append(out[key]["sps"])
            print(f"  round {r + 1} {side:6s} {out[key]['sps']:7.1f} samples/s over the timed steps "
                  f"({out[key]['sum_s']:.1f} s)", flush=True)
    eng_pad = engine_padded_per_batch(lengths, b_warm + b_steps)

    # ---- c: FLOP utilization of full FT (from a) ----
    model = AutoModelForSequenceClassification.from_pretrained(resolve_model_path(MODEL), num_labels=2)
    n_ne = non_embedding_params(model)
    n_tot = sum(p.numel() for p in model.parameters())
    cfg = model.config
    del model
    mm_flop = 2 * MM_N ** 3
    peak_best, peak_med = mm_flop / min(mm_times), mm_flop / statistics.median(mm_times)
    tok_step = BATCH * SEQ  # every token is a real token in (a): padded == non-pad
    tps_best, tps_med = tok_step / min(full_step_durs), tok_step / statistics.median(full_step_durs)
    per_tok = 6 * n_ne
    per_tok_attn = per_tok + 6 * 2 * cfg.num_hidden_layers * SEQ * cfg.hidden_size  # + QK^T and AV, fwd+bwd
    hand_full = statistics.median(res["full"]["hand"])

    # ---- report ----
    def ratio(e, h):
        return statistics.median(e) / statistics.median(h)

    rows_a = []
    for tech in ("full", "lora"):
        e, h = res[tech]["engine"], res[tech]["hand"]
        em, hm = resm[tech]["engine"], resm[tech]["hand"]
        rows_a.append([tech, " / ".join(f"{x:.1f}" for x in e), " / ".join(f"{x:.1f}" for x in h),
                       f"{statistics.median(e):.1f}", f"{statistics.median(h):.1f}", f"{ratio(e, h):.3f}",
                       f"{ratio(em, hm):.3f}"])
    head_a = ["technique", "engine samples/s (rounds)", "hand loop samples/s (rounds)", "engine median",
              "hand median", "ratio engine/hand", "ratio, all-steps mean"]
    e, h = resb["engine"], resb["hf"]
    rows_b = [[" / ".join(f"{x:.1f}" for x in e), " / ".join(f"{x:.1f}" for x in h), f"{statistics.median(e):.1f}",
               f"{statistics.median(h):.1f}", f"{ratio(e, h):.3f}", f"{eng_pad:.0f}", f"{statistics.mean(hf_pad):.0f}"]]
    head_b = ["engine samples/s (rounds)", "HF Trainer samples/s (rounds)", "engine median", "HF median",
              "ratio engine/HF", "engine padded tokens/batch", "HF padded tokens/batch"]
    rows_c = [
        ["non-embedding params N", f"{n_ne:,} (of {n_tot:,})"],
        ["tokens/s, engine full FT (32 x 64, all real tokens = padded tokens): fastest step / median step",
         f"{tps_best:,.0f} / {tps_med:,.0f}"],
        ["achieved FLOP/s = 6 N x tokens/s: fastest / median", f"{per_tok * tps_best / 1e9:.1f} / {per_tok * tps_med / 1e9:.1f} GFLOP/s"],
        ["fp32 matmul peak, torch.mm 2048x2048 timed beside every step: fastest / median",
         f"{peak_best / 1e9:.1f} / {peak_med / 1e9:.1f} GFLOP/s"],
        ["utilization 6N (fastest/fastest; median/median)",
         f"{100 * per_tok * tps_best / peak_best:.1f}%; {100 * per_tok * tps_med / peak_med:.1f}%"],
        ["utilization incl. attention matmuls (+12 x layers x seq x hidden per token)",
         f"{100 * per_tok_attn * tps_best / peak_best:.1f}%; {100 * per_tok_attn * tps_med / peak_med:.1f}%"],
        ["hand loop, 6N, median/median", f"{100 * per_tok * hand_full * SEQ / peak_med:.1f}%"],
    ]
    print("\n" + table(head_a, rows_a))
    print("\n" + table(head_b, rows_b))
    print("\n" + table(["FLOP utilization (full FT)", "value"], rows_c))
    if args.no_doc:
        return
    settings = (f"engine and reference interleaved step by step in one process (see below); (a) {rounds} rounds x "
                f"{warm} warm-up + {steps} timed steps, (b) {b_rounds} rounds x {b_warm} warm-up + {b_steps} timed steps "
                f"(= one epoch of the 4,000 rows)" + (" (--quick)" if args.quick else ""))
    md = f"""## Throughput (`benchmarks/throughput.py`)

- Date: {today()}
- Machine: {machine()}
- Settings: MiniLM-L6 (`{MODEL}`), batch {BATCH}, fp32, fused AdamW, grad clipping 1.0, {settings}.
  The machine is shared with another engineer's test runs, whose load comes and goes within seconds
  (run-level alternation gave 2-4x swings), so engine and reference are interleaved STEP BY STEP in one
  process: the engine's Step subscriber (synchronous, on the training thread) runs exactly one step of
  the reference (the hand loop directly; the HF Trainer in a thread released one step at a time) and
  times it; an engine step is timed from the subscriber's return to the next Step event, so the
  engine's per-step work (collate, hooks, clipping, lr schedule, Step event with log_every=1 = the
  default, metrics.jsonl line, memory probe) is included. Setup, tokenizing, final eval and export are
  excluded. (a) samples/s = 32 / median step time (also: mean over all timed steps);
  (b) samples/s over all timed steps = one epoch (both sides see the same 4,000 examples).
- Wall: {(time.time() - t_start) / 60:.1f} minutes.

### a. Engine vs minimal hand-written PyTorch loop (fixed length 64, every token real)

Full FT lr 5e-5; LoRA r=8, alpha=8 on query,value (PEFT, SEQ_CLS), lr 2e-3. Target ratio >= 0.98.

{table(head_a, rows_a, md=True)}

### b. Engine vs Hugging Face Trainer (SST-2, 4,000 rows, real lengths, max_length {SEQ})

Engine: dynamic padding + length grouping (defaults). Trainer: DataCollatorWithPadding,
`train_sampling_strategy="group_by_length"`, `adamw_torch_fused`, linear schedule, no eval/save/logging,
`dataloader_num_workers=0`, `report_to="none"`. MiniLM full FT, lr 5e-5. Target ratio >= 1.0.

{table(head_b, rows_b, md=True)}

### c. Full fine-tuning FLOP utilization (CPU, fp32)

Tokens counted are the padded tokens of (a), which are all real tokens (no padding). The matmul peak
is timed right after every full-FT step of (a) (same moment, same load); "fastest" pairs the fastest
engine step with the fastest matmul (closest to an idle machine), "median" the medians.

{table(["quantity", "value"], rows_c, md=True)}
"""
    update_section("throughput", md)


if __name__ == "__main__":
    main()
