"""The GPU table for text generation: ftstudio's engine against the Hugging Face Trainer with the
same settings on the same GPU, LoRA on a SmolLM2-135M-shaped causal LM in fp32, bf16 autocast
(fp16 + GradScaler where the GPU has no bf16) and a 4-bit NF4 base (QLoRA) — samples/s and peak
memory. Needs a CUDA GPU; one run of the default settings takes a few minutes (≤ 10).

    .venv/bin/python benchmarks/gpu_textgen.py                 # on a CUDA machine: writes docs/BENCHMARKS.md
    .venv/bin/python benchmarks/gpu_textgen.py --smoke         # CPU: the script's own plumbing, tiny model,
                                                               # fp32 only, nothing written
Options: --steps N (timed steps, default 60) --warmup N (untimed first steps, default 10)
--batch N (8) --max-length N (256) --model auto|builtin:smollm2-135m|PATH|config (auto: the built-in
SmolLM2 when it is in the cache, else `config`: SmolLM2-135M's architecture with random weights and
the tests' small BPE tokenizer — speed and memory depend on the shapes, not the weight values; the
device machine has no network to fetch the built-in model).

Data: the shared alpaca slice when ../shared/data/alpaca exists, else synthetic instruction rows of
alpaca-like lengths (the device machine gets the worktree only). Both sides train on the same
tokenized examples (ftstudio's prepare_data: chat template, answer-only labels), in the same order
policy (length-grouped), with AdamW fused, linear schedule with 6% warmup, grad clipping 1.0,
LoRA r 8 / alpha 16 on q_proj,v_proj, lr 2e-3.

Measured per arm: samples/s over the timed steps (timestamps after a CUDA synchronize at every
optimizer step, the first --warmup steps excluded), and peak memory = torch.cuda.max_memory_allocated
since just before the model loaded (reserved too). 4-bit needs bitsandbytes; without it those arms
are reported as not run, with the reason.
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import REPO, machine, table, today, update_section  # noqa: E402

SMOLLM2_135M = dict(hidden_size=576, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                    intermediate_size=1536, vocab_size=49152, max_position_embeddings=2048, rope_theta=100000.0,
                    rms_norm_eps=1e-5, tie_word_embeddings=True)
LR, R, ALPHA = 2e-3, 8, 16


def pick_model(choice: str, work: Path, smoke: bool) -> str:
    if smoke:
        from tests.tiny_models import build_tiny

        return str(build_tiny("llama", work / "tiny-llama"))
    if choice == "auto":
        from ftstudio.engine.models import resolve_model_path

        try:
            return str(resolve_model_path("builtin:smollm2-135m"))
        except Exception as e:  # noqa: BLE001 - offline device machine: the same shapes, random weights
            print(f"built-in SmolLM2 not available ({e}); using its architecture with random weights", flush=True)
            choice = "config"
    if choice == "config":
        from transformers import AutoModelForCausalLM, LlamaConfig

        from tests.tiny_models import _train_tokenizer

        tok = _train_tokenizer("bpe")
        cfg = LlamaConfig(**SMOLLM2_135M, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                          pad_token_id=tok.pad_token_id)
        out = work / "smollm2-shaped"
        AutoModelForCausalLM.from_config(cfg).save_pretrained(out, safe_serialization=True)
        tok.save_pretrained(out)
        return str(out)
    return choice


def pick_data(work: Path, rows: int) -> str:
    alpaca = REPO.parent / "shared" / "data" / "alpaca" / "train.jsonl"
    if alpaca.exists():
        return str(alpaca)
    words = ("the model learns to answer short questions about colors numbers cities and the weather "
             "with one clear sentence that stays on topic").split()
    rnd = random.Random(0)
    p = work / "synthetic.jsonl"
    p.write_text("\n".join(json.dumps({"instruction": " ".join(rnd.choice(words) for _ in range(rnd.randint(8, 40))),
                                       "input": "",
                                       "output": " ".join(rnd.choice(words) for _ in range(rnd.randint(20, 120)))})
                           for _ in range(rows)))
    return str(p)


def run_config(model: str, data: str, args, precision: str, quant: str, device: str):
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig

    total = args.warmup + args.steps
    params = {"r": R, "alpha": ALPHA, "target_modules": ["q_proj", "v_proj"]}
    if quant != "none":
        params["quantize_base"] = quant
    return RunConfig(model=model, task="causal-lm",
                     data=DataConfig(train=data, max_train_samples=args.batch * total, max_eval_samples=8),
                     technique=TechniqueConfig("lora", params), runs_dir=str(Path(args.work) / "runs"),
                     training=TrainingConfig(max_steps=total, batch_size=args.batch, learning_rate=LR,
                                             max_length=args.max_length, eval_every=None, log_every=1, seed=42,
                                             device=device, precision=precision))


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def _peak(device: str) -> tuple[int | None, int | None]:
    from ftstudio.engine import memory

    if device == "cuda":
        import torch

        return int(torch.cuda.max_memory_allocated()), int(torch.cuda.max_memory_reserved())
    return memory.os_peak("cpu"), None


def _reset(device: str) -> None:
    from ftstudio.engine import memory

    gc.collect()
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    else:
        memory.reset_peak("cpu")


def rate(times: list[float], warmup: int, batch: int) -> float:
    timed = times[warmup:]
    if len(timed) < 2:
        return float("nan")
    return batch * (len(timed) - 1) / (timed[-1] - timed[0])


def engine_arm(cfg, args, device: str) -> dict:
    from ftstudio.engine.runner import train

    times: list[float] = []

    def on(ev):
        if ev.kind == "step":
            _sync(device)
            times.append(time.perf_counter())

    _reset(device)
    s = train(cfg, subscribers=[on])
    alloc, reserved = _peak(device)
    return {"samples_per_second": rate(times, args.warmup, args.batch), "peak": s.get("peak_memory_bytes") or alloc,
            "reserved": reserved, "precision": s["precision"], "estimate": s.get("memory_estimate_bytes"),
            "loss_steps": len(times)}


def hf_arm(cfg, args, device: str, precision: str, quant: str) -> dict:
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import (AutoModelForCausalLM, DataCollatorForSeq2Seq, Trainer, TrainerCallback,
                              TrainingArguments)

    from ftstudio.engine.data import prepare_data
    from ftstudio.engine.runner import data_tokenizer
    from ftstudio.techniques import make_technique

    tech = make_technique("lora", cfg.technique.params)
    tokenizer, max_len = data_tokenizer(cfg, tech)
    pd = prepare_data(cfg.data, "causal-lm", tokenizer, max_len, cfg.training.seed)
    rows = [{"input_ids": list(e["input_ids"]), "labels": list(e["labels"])} for e in pd.train]
    pd.close()
    _reset(device)
    torch.manual_seed(42)
    kw: dict = {}
    if quant != "none":
        from transformers import BitsAndBytesConfig

        compute = torch.bfloat16 if precision == "bf16" else torch.float16
        kw["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=quant,
                                                       bnb_4bit_compute_dtype=compute)
        kw["device_map"] = {"": 0}
    model = AutoModelForCausalLM.from_pretrained(cfg.model, dtype=torch.float32, **kw)
    if quant != "none":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = get_peft_model(model, LoraConfig(task_type=TaskType.CAUSAL_LM, r=R, lora_alpha=ALPHA, lora_dropout=0.0,
                                             target_modules=["q_proj", "v_proj"], bias="none"))
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, a, state, control, **k):
            _sync(device)
            times.append(time.perf_counter())

    t = cfg.training
    targs = TrainingArguments(
        output_dir=str(Path(args.work) / "hf"), per_device_train_batch_size=t.batch_size, max_steps=t.max_steps,
        learning_rate=t.learning_rate, weight_decay=t.weight_decay, warmup_steps=int(t.warmup_ratio * t.max_steps),
        lr_scheduler_type="linear", max_grad_norm=t.max_grad_norm, train_sampling_strategy="group_by_length",
        optim="adamw_torch_fused", bf16=precision == "bf16", fp16=precision == "fp16",
        eval_strategy="no", save_strategy="no", logging_strategy="no", report_to="none",
        dataloader_num_workers=0, disable_tqdm=True, seed=42, use_cpu=device != "cuda",
    )
    collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
    trainer = Trainer(model=model, args=targs, train_dataset=rows, data_collator=collator, callbacks=[Clock()])
    trainer.train()
    alloc, reserved = _peak(device)
    del trainer, model
    return {"samples_per_second": rate(times, args.warmup, args.batch), "peak": alloc, "reserved": reserved,
            "precision": precision, "loss_steps": len(times)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--model", default="auto")
    ap.add_argument("--smoke", action="store_true", help="CPU check of the script itself (tiny model, fp32)")
    args = ap.parse_args()
    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.smoke:
        print("gpu_textgen: needs a CUDA GPU (torch.cuda.is_available() is False); --smoke checks the script "
              "on a CPU", file=sys.stderr)
        return 2
    if args.smoke:
        args.steps, args.warmup, args.batch, args.max_length = 4, 1, 4, 64
    device = "cuda" if cuda and not args.smoke else "cpu"
    t0 = time.time()
    work = Path(tempfile.mkdtemp(prefix="ftstudio-gpu-textgen-"))
    args.work = str(work)
    model = pick_model(args.model, work, args.smoke)
    data = pick_data(work, max(400, args.batch * (args.steps + args.warmup)))
    half = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp16"
    bnb = importlib.util.find_spec("bitsandbytes") is not None
    arms = [("fp32", "fp32", "none")]
    if device == "cuda":
        arms += [(half, half, "none"), (f"4-bit NF4 + {half}", half, "nf4")]
    rows, results = [], {}
    for label, precision, quant in arms:
        for side in ("engine", "HF Trainer"):
            if quant != "none" and not bnb:
                rows.append([label, side, "not run: bitsandbytes is not installed", "", "", ""])
                continue
            cfg = run_config(model, data, args, precision, quant, device)
            try:
                r = engine_arm(cfg, args, device) if side == "engine" else hf_arm(cfg, args, device, precision, quant)
            except Exception as e:  # noqa: BLE001 - one arm failing must not lose the others' numbers
                rows.append([label, side, f"failed: {type(e).__name__}: {str(e).splitlines()[0][:120]}", "", "", ""])
                print(rows[-1], flush=True)
                continue
            results[(label, side)] = r
            mib = lambda b: "—" if not b else f"{b / 2**20:.0f}"  # noqa: E731
            rows.append([label, side, f"{r['samples_per_second']:.1f}", mib(r["peak"]), mib(r.get("reserved")),
                         mib(r.get("estimate"))])
            print(rows[-1], flush=True)
            gc.collect()
    for label, _p, _q in arms:
        e, h = results.get((label, "engine")), results.get((label, "HF Trainer"))
        if e and h and h["samples_per_second"] > 0:
            rows.append([label, "engine / HF", f"{e['samples_per_second'] / h['samples_per_second']:.3f}",
                         f"{(e['peak'] or 0) / max(1, h['peak'] or 1):.3f}", "", ""])
    wall = (time.time() - t0) / 60
    md = table(["arm", "trainer", "samples/s", "peak allocated MiB", "peak reserved MiB",
                "engine's pre-flight estimate MiB"], rows, md=True)
    print("\n" + md + f"\n\nwall {wall:.1f} min")
    if args.smoke:
        return 0
    gpu = torch.cuda.get_device_name(0)
    body = [
        "## GPU path: engine vs HF Trainer, fp32 / bf16 / 4-bit (`benchmarks/gpu_textgen.py`)",
        "",
        f"- Date: {today()} · GPU: {gpu} · {machine()}",
        f"- Model: {Path(model).name if Path(model).exists() else model}; LoRA r {R} / alpha {ALPHA} on q_proj,v_proj, "
        f"lr {LR}, batch {args.batch}, max_length {args.max_length}, {args.warmup} warm-up + {args.steps} timed steps.",
        f"- Data: {Path(data).name}. Peak = torch.cuda.max_memory_allocated since just before the model loaded.",
        f"- Wall: {wall:.1f} min",
        "",
        md,
    ]
    update_section("gpu_textgen", "\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
