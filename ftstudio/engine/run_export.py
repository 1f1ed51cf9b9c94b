"""Exporting a finished run in a chosen format, for the CLI (``ftstudio export``) and the Runs page.

* ``adapter``: the technique's own small artefact (LoRA/prompt/prefix adapter, bottleneck
  adapters, BitFit delta) — needs the base model and PEFT/ftstudio to use;
* ``merged``: a whole Hugging Face model folder (LoRA merged into the weights, or the full model
  of full/BitFit/layer-wise/... runs) — plain transformers loads it (see its model card);
* ``onnx`` (classification): ``model.onnx`` with the whole forward (pooling and head included,
  dynamic batch and sequence axes) + tokenizer + ``labels.json``; checked under onnxruntime
  against the run's own logits before it is kept. Needs the ``onnx`` extra.

Every export is written to a temporary folder and moved into place, so a failure leaves nothing.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from ftstudio.engine.errors import UserError
from ftstudio.i18n import _t

FORMATS = ("onnx", "merged", "adapter")
ONNX_TOLERANCE = 1e-4
ProgressFn = Callable[[str, int, int], None]


def onnx_available() -> str | None:
    """None when ONNX export can run, else why not (one line)."""
    import importlib.util

    missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        return f"ONNX export needs {' and '.join(missing)}: pip install 'ftstudio[onnx]'"
    return None


def formats_for(run_dir: str | Path) -> list[str]:
    """The formats this run can be exported in."""
    from ftstudio.engine.config import RunConfig
    from ftstudio.techniques import get_technique

    cfg = RunConfig.from_yaml(Path(run_dir) / "config.yaml")
    tech = get_technique(cfg.technique.name)
    out = []
    if cfg.task == "classification":
        out.append("onnx")
    if tech.rebuilds_plain_model:
        out.append("merged")
    if any(k in tech.export_kinds for k in ("adapter", "delta")):
        out.append("adapter")
    return out


def export_run(run_dir: str | Path, fmt: str, dest: str | Path | None = None,
               progress: ProgressFn | None = None) -> Path:
    """Write the run's export in ``fmt`` to ``dest`` (default: RUN/export-FMT); return it."""
    run = Path(run_dir)
    if not (run / "config.yaml").exists():
        raise UserError(_t("{run} is not a run folder", run=run))
    if not (run / "export").is_dir():
        raise UserError(_t("run {name} has no export yet (it did not finish)", name=run.name))
    if fmt not in FORMATS:
        raise UserError(_t("unknown export format '{fmt}'; choose one of {formats}",
                           fmt=fmt, formats=', '.join(FORMATS)))
    allowed = formats_for(run)
    if fmt not in allowed:
        from ftstudio.engine.config import RunConfig

        cfg = RunConfig.from_yaml(run / "config.yaml")
        why = {
            "onnx": f"ONNX export is for classification runs; this is a {cfg.task} run",
            "merged": f"a {cfg.technique.name} run adds modules stock transformers does not have, so it cannot "
                      "be merged into a plain model",
            "adapter": f"a {cfg.technique.name} run has no adapter: its export is the whole model",
        }[fmt]
        raise UserError(_t("{why}; this run can be exported as: {allowed}",
                           why=why, allowed=', '.join(allowed)))
    if fmt == "onnx" and onnx_available():
        raise UserError(onnx_available())
    dest = Path(dest) if dest else run / f"export-{fmt}"
    if dest.exists():
        raise UserError(_t("{dest} already exists; remove it or choose another folder", dest=dest))
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        {"onnx": _onnx, "merged": _merged, "adapter": _adapter}[fmt](run, tmp, progress)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _adapter(run: Path, out: Path, progress: ProgressFn | None) -> None:
    shutil.copytree(run / "export", out, ignore=shutil.ignore_patterns("merged"))


def _merged(run: Path, out: Path, progress: ProgressFn | None) -> None:
    export = run / "export"
    for whole in (export / "merged", export):
        if (whole / "config.json").exists():  # written by the run: copy it
            shutil.copytree(whole, out, ignore=shutil.ignore_patterns("merged"))
            return
    from ftstudio.engine.export import save_full_model, write_model_card
    from ftstudio.engine.store import read_json
    from ftstudio.techniques.loading import load_run

    if progress:
        progress(_t("Merging"), 0, 1)
    tm = load_run(run, "cpu", merge=True)
    save_full_model(tm.model, out, tm.tokenizer)
    cfg = tm.config
    data = [d.train for d in cfg.all_data()]
    summary = read_json(run / "summary.json", {}) or {}
    write_model_card(out, technique=cfg.technique.name, params=cfg.technique.params, model=cfg.model,
                     data=data if len(data) > 1 else data[0], task=cfg.task,
                     metrics={k: v for k, v in summary.items() if k in ("accuracy", "macro_f1", "eval_loss")})
    if progress:
        progress(_t("Merging"), 1, 1)


def _logits_module(model: Any, names: list[str]) -> Any:
    """A plain module around the trained model: token tensors (in ``names`` order) in, logits out."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            return self.model(**dict(zip(names, tensors))).logits

    # eval mode on the wrapper itself: the exporter restores the wrapper's mode afterwards, and a
    # wrapper left in training mode would switch the model's dropout back on
    return Logits().eval()


def _onnx(run: Path, out: Path, progress: ProgressFn | None) -> None:
    import warnings

    import numpy as np
    import onnxruntime as ort
    import torch

    from ftstudio.techniques.loading import load_run

    step = progress or (lambda *_: None)
    step(_t("Loading the run"), 0, 3)
    tm = load_run(run, "cpu", merge=True)
    tok = tm.tokenizer
    sample_texts = ["a short example", "and a second, rather longer example text to pad against"]
    sample = tok(sample_texts, padding=True, truncation=True, max_length=tm.max_length, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    wrapper = _logits_module(tm.model, names)
    out.mkdir(parents=True)
    path = out / "model.onnx"
    step(_t("Exporting to ONNX"), 1, 3)
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["logits"] = {0: "batch"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        # the TorchScript-based exporter: exact here and ~10x faster than the dynamo one
        torch.onnx.export(wrapper, tuple(sample[n] for n in names), str(path), input_names=names,
                          output_names=["logits"], dynamic_axes=axes, opset_version=17, dynamo=False)
    step(_t("Checking under onnxruntime"), 2, 3)
    check = tok(sample_texts + ["three"], padding=True, truncation=True, max_length=tm.max_length,
                return_tensors="pt")  # another batch size and length than the traced one
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {n: check[n].numpy() for n in names})[0]
    with torch.no_grad():
        want = wrapper(*(check[n] for n in names)).float().numpy()
    diff = float(np.abs(got - want).max())
    if not diff <= ONNX_TOLERANCE:
        raise UserError(_t("the ONNX model's logits differ from the run's by {diff:.2g} (> "
                           "{onnx_tolerance}); this model's forward does not export faithfully",
                           diff=diff, onnx_tolerance=ONNX_TOLERANCE))
    tok.save_pretrained(out)
    names_out = tm.label_names or [str(i) for i in range(got.shape[-1])]
    (out / "labels.json").write_text(json.dumps({
        "labels": names_out, "inputs": names, "max_length": tm.max_length,
        "technique": tm.technique, "base_model": tm.config.model if tm.config else None,
    }, indent=2), encoding="utf-8")
    (out / "README.md").write_text(ONNX_CARD.format(inputs=", ".join(names), max_length=tm.max_length,
                                                   labels=", ".join(names_out), diff=diff), encoding="utf-8")
    step(_t("Exporting to ONNX"), 3, 3)


ONNX_CARD = """# ONNX export (ftstudio)

`model.onnx` is the whole classifier (encoder, pooling, head); inputs `{inputs}` (int64,
dynamic batch and sequence), output `logits` (batch × labels: {labels}). Tokenize with the
tokenizer in this folder, truncating at {max_length} tokens. Checked against the run's own logits
under onnxruntime (largest difference {diff:.1g}).

```python
import numpy as np, onnxruntime as ort
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(".")
sess = ort.InferenceSession("model.onnx")
enc = tok(["a wonderful film"], padding=True, truncation=True, max_length={max_length}, return_tensors="np")
logits = sess.run(None, {{k: enc[k] for k in [i.name for i in sess.get_inputs()]}})[0]
```
"""
