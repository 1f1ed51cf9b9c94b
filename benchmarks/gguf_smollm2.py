"""GGUF export of a short SmolLM2 LoRA run: F16 and Q8_0 files read back by transformers
(``gguf_file=``) against the merged Hugging Face export, greedy output on a few prompts.

    .venv/bin/python benchmarks/gguf_smollm2.py [--steps 10] [--tokens 32]

1. trains builtin:smollm2-135m with LoRA (r 8) for a few steps on the shared alpaca slice;
2. exports it as ``merged`` (a plain transformers folder) and as GGUF F16 and Q8_0
   (``ftstudio export RUN --format gguf --quant ...``);
3. loads each back and, for every prompt rendered through the run's chat template, compares
   the prompt's logits (max abs. difference) and the greedy continuation (tokens) with the
   merged export: identical outputs, token agreement (position-wise, over the merged model's
   tokens) and the first position where they part.

Writes the ``gguf`` section of docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_root, isolated_runs_dir, machine, table, today, update_section  # noqa: E402

PROMPTS = [
    "What is the capital of France?",
    "Name three primary colors.",
    "Give one tip for staying healthy.",
    "Translate 'good morning' into Spanish.",
    "Write a short sentence about the ocean.",
]


def train_run(steps: int) -> str:
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
    from ftstudio.engine.runner import train

    alpaca = data_root() / "alpaca"
    cfg = RunConfig(model="builtin:smollm2-135m", task="causal-lm",
                    data=DataConfig(train=str(alpaca / "train.jsonl"), eval=str(alpaca / "test.jsonl"),
                                    max_train_samples=4 * steps, max_eval_samples=8),
                    technique=TechniqueConfig("lora", {"r": 8, "alpha": 16}),
                    training=TrainingConfig(max_steps=steps, batch_size=4, learning_rate=2e-3, max_length=128,
                                            eval_every=None, seed=42))
    s = train(cfg)
    assert s["status"] == "finished", s
    return s["run_dir"]


def greedy(model, tok, ids, n: int, eos: list[int]):
    import torch

    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=n, do_sample=False, pad_token_id=tok.pad_token_id,
                             eos_token_id=eos)
        logits = model(ids).logits
    return out[0, ids.shape[1]:].tolist(), logits


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--tokens", type=int, default=32)
    args = ap.parse_args()
    import torch
    from transformers import AutoModelForCausalLM

    from ftstudio.engine.export import export_run
    from ftstudio.engine.predict import Predictor
    from ftstudio.engine.textformats import end_of_turn_ids

    torch.set_num_threads(max(1, torch.get_num_threads()))
    isolated_runs_dir("gguf")
    t0 = time.time()
    run = Path(train_run(args.steps))
    print("run", run, flush=True)
    merged_dir = Path(export_run(run, "merged")[0])
    pred = Predictor(run)
    tok = pred.tokenizer
    eos = list(end_of_turn_ids(tok))
    prompts = [pred.prompt_for(p) for p in PROMPTS]
    ids = [tok(p, return_tensors="pt", add_special_tokens=False)["input_ids"] for p in prompts]
    del pred
    gc.collect()
    ref_model = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
    ref = [greedy(ref_model, tok, x, args.tokens, eos) for x in ids]
    del ref_model
    gc.collect()
    rows, texts = [], {}
    texts["merged"] = [tok.decode(r[0], skip_special_tokens=True).strip() for r in ref]
    for quant in ("f16", "q8_0"):
        tw = time.time()
        paths = export_run(run, "gguf", quant=quant)
        write_s = time.time() - tw
        gg = Path(next(p for p in paths if p.endswith(".gguf")))
        m = AutoModelForCausalLM.from_pretrained(gg.parent, gguf_file=gg.name, dtype=torch.float32).eval()
        same = agree = total = 0
        worst = 0.0
        parts = []
        outs = []
        for x, (r_toks, r_logits) in zip(ids, ref):
            toks, logits = greedy(m, tok, x, args.tokens, eos)
            outs.append(tok.decode(toks, skip_special_tokens=True).strip())
            worst = max(worst, (logits - r_logits).abs().max().item())
            same += toks == r_toks
            agree += sum(a == b for a, b in zip(toks, r_toks))
            total += max(len(toks), len(r_toks))
            part = next((i for i, (a, b) in enumerate(zip(toks, r_toks)) if a != b), None)
            if part is None and len(toks) != len(r_toks):
                part = min(len(toks), len(r_toks))
            parts.append("-" if part is None else str(part))
        texts[quant] = outs
        rows.append([quant.upper(), f"{gg.stat().st_size / 1e6:.1f} MB", f"{write_s:.1f} s", f"{worst:.3f}",
                     f"{same} / {len(ids)}", f"{100 * agree / max(1, total):.1f}%", ", ".join(parts)])
        print(rows[-1], flush=True)
        del m
        gc.collect()
    body = [
        "## GGUF export of a SmolLM2 LoRA run (`benchmarks/gguf_smollm2.py`)",
        "",
        f"- Date: {today()}",
        f"- Machine: {machine()} (shared; times are wall time under load)",
        f"- Run: builtin:smollm2-135m (SmolLM2-135M-Instruct), LoRA r 8 / alpha 16, {args.steps} steps × batch 4 "
        "on the shared alpaca slice, max_length 128, lr 2e-3.",
        "- Reference: the run's `merged` export (plain transformers folder, fp32). Each GGUF file is read back "
        "with `AutoModelForCausalLM.from_pretrained(dir, gguf_file=...)` (transformers dequantizes to fp32).",
        f"- {len(PROMPTS)} prompts through the run's chat template, {args.tokens} greedy new tokens each (stop at "
        "the end-of-turn token). Token agreement = position-wise equal tokens / the longer output's length; "
        "'parts at' = first differing position per prompt (- = identical).",
        f"- Wall: {(time.time() - t0) / 60:.1f} min",
        "",
        table(["type", "file", "write", "max abs. logit diff (prompt)", "greedy output identical",
               "token agreement", "parts at"], rows, md=True),
        "",
        "| prompt | merged | F16 | Q8_0 |",
        "|---|---|---|---|",
    ]
    for i, p in enumerate(PROMPTS):
        cell = [texts[k][i].replace("\n", " ").replace("|", "/")[:90] for k in ("merged", "f16", "q8_0")]
        body.append(f"| {p} | " + " | ".join(cell) + " |")
    body += ["", "The tiny-Llama round trip (tests/test_gguf_export.py) checks both types on every test run: "
             "F16 logits within 2e-2, Q8_0 within 0.25 (and Q8_0 < 0.8 × the F16 file), greedy output identical."]
    update_section("gguf", "\n".join(body))


if __name__ == "__main__":
    main()
