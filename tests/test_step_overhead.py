"""The per-step shortcuts change nothing but the time: clipping, buffered metrics lines."""
from __future__ import annotations

import json

import pytest
import torch

from ftstudio.engine.loop import clip_gradients


def _fused_pair(scale: float):
    g = torch.Generator().manual_seed(0)
    nets = []
    for _ in range(2):
        params = [torch.nn.Parameter(torch.ones(n)) for n in (5, 300, 7)]
        nets.append((params, torch.optim.AdamW(params, lr=0.1, weight_decay=0.01, fused=True)))
    for p, q in zip(nets[0][0], nets[1][0]):
        p.grad = torch.randn(p.shape, generator=g) * scale
        q.grad = p.grad.clone()
    return nets


@pytest.mark.parametrize("scale", [1e-3, 10.0])  # not clipped / clipped
def test_clipping_folded_into_fused_adamw_steps_like_scaled_gradients(scale):
    """The clipping factor handed to fused AdamW as its grad_scale: the same step as scaling
    every gradient first, and only for that step (the next one is not scaled again)."""
    from ftstudio.engine.optim import folds_clipping, step

    (ref, ref_opt), (got, got_opt) = _fused_pair(scale)
    assert folds_clipping(got_opt) and not folds_clipping(torch.optim.AdamW(got, foreach=True))
    want = float(torch.nn.utils.clip_grad_norm_(ref, 1.0))
    ref_opt.step()
    norm = clip_gradients(got, 1.0, fold_into=got_opt)
    assert norm == pytest.approx(want, rel=1e-6)
    if scale > 1:
        assert not torch.allclose(ref[1].grad, got[1].grad)  # no pass over the gradients
    step(got_opt)
    assert "grad_scale" not in got_opt.__dict__
    for p, q in zip(ref, got):
        assert torch.allclose(p, q, rtol=1e-6, atol=1e-7)
    for params in (ref, got):
        for p in params:
            p.grad = torch.full_like(p, 1e-3)  # small: no clipping
    ref_opt.step()
    clip_gradients(got, 1.0, fold_into=got_opt)
    step(got_opt)
    for p, q in zip(ref, got):
        assert torch.allclose(p, q, rtol=1e-6, atol=1e-7)


def test_the_training_loop_folds_clipping_into_its_fused_optimizer(tiny_dir, tiny_csv, monkeypatch):
    """The wiring: a CPU run's steps hand the factor to fused AdamW (clipping at a tiny max norm)."""
    from ftstudio.engine import loop
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
    from ftstudio.engine.runner import train

    folded = []
    real = loop.clip_gradients
    monkeypatch.setattr(loop, "clip_gradients", lambda params, max_norm, fold_into=None: (
        folded.append(fold_into is not None), real(params, max_norm, fold_into))[1])
    cfg = RunConfig(model=str(tiny_dir("bert")), task="classification", data=DataConfig(train=str(tiny_csv)),
                    technique=TechniqueConfig("full", {}),
                    training=TrainingConfig(max_steps=2, batch_size=8, max_length=32, eval_every=None,
                                            device="cpu", max_grad_norm=1e-4))
    assert train(cfg)["status"] == "finished"
    assert folded == [True, True]


@pytest.mark.parametrize("scale", [1e-3, 10.0])  # well under / over max_norm 1.0
def test_clip_gradients_equals_torch_clip_grad_norm(scale):
    g = torch.Generator().manual_seed(0)
    a = [torch.nn.Parameter(torch.zeros(n)) for n in (5, 300, 7)]
    b = [torch.nn.Parameter(torch.zeros(n)) for n in (5, 300, 7)]
    for p, q in zip(a, b):
        p.grad = torch.randn(p.shape, generator=g) * scale
        q.grad = p.grad.clone()
    ref = float(torch.nn.utils.clip_grad_norm_(a, 1.0))
    got = clip_gradients(b, 1.0)
    assert got == pytest.approx(ref, rel=1e-6)  # the norm by dot products: float noise
    for p, q in zip(a, b):
        assert torch.allclose(p.grad, q.grad, rtol=1e-6, atol=0)
    if scale > 1:  # it did clip
        assert float(torch.nn.utils.get_total_norm([q.grad for q in b])) == pytest.approx(1.0, rel=1e-5)


def test_step_lines_are_buffered_and_other_events_flush(tmp_path, monkeypatch):
    from ftstudio.engine import store

    clock = [100.0]
    monkeypatch.setattr(store.time, "monotonic", lambda: clock[0])
    w = store.RunWriter(tmp_path)

    def on_disk() -> list[str]:
        return [json.loads(x)["event"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]

    for i in range(5):
        w.write_event({"event": "step", "step": i})
    assert on_disk() == []  # not one write per step
    clock[0] += 1.5
    w.write_event({"event": "step", "step": 5})
    assert on_disk() == ["step"] * 6  # at least every second
    w.write_event({"event": "step", "step": 6})
    w.write_event({"event": "checkpoint", "step": 6})
    assert on_disk()[-2:] == ["step", "checkpoint"]  # a checkpoint never leaves steps behind
    w.close()


def test_tokenized_splits_are_cached_and_any_change_misses(tiny_dir, tiny_csv, tmp_path, monkeypatch):
    from ftstudio.engine import data as data_mod
    from ftstudio.engine.config import DataConfig
    from ftstudio.engine.models import load_tokenizer

    monkeypatch.setenv("FTSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    tok = load_tokenizer(str(tiny_dir("bert")))
    calls = []
    orig = data_mod._encode_classification
    monkeypatch.setattr(data_mod, "_encode_classification", lambda *a, **k: calls.append(1) or orig(*a, **k))
    cfg = DataConfig(train=str(tiny_csv))

    def prep(c=cfg, max_length=32, seed=1):
        p = data_mod.prepare_data(c, "classification", tok, max_length, seed)
        return [e["input_ids"] for e in p.train], [e["label"] for e in p.eval], p.label_names

    first = prep()
    assert len(calls) == 2  # train + eval tokenized
    assert prep() == first and len(calls) == 2  # second time: from the cache, same data
    prep(max_length=8)
    assert len(calls) == 4  # another text length
    prep(seed=2)
    assert len(calls) == 6  # another split
    prep(DataConfig(train=str(tiny_csv), max_train_samples=10))
    assert len(calls) == 8  # other data settings
    text = tiny_csv.read_text().replace("wonderful acting", "wonderful acting indeed")
    tiny_csv.write_text(text)
    changed = prep()
    assert len(calls) == 10 and changed != first  # the file changed


def _run_losses(model_dir, csv_path, **training):
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
    from ftstudio.engine.events import Log, Step
    from ftstudio.engine.runner import train

    losses, logs = [], []
    cfg = RunConfig(model=str(model_dir), data=DataConfig(train=str(csv_path)), technique=TechniqueConfig("full"),
                    training=TrainingConfig(max_steps=3, batch_size=8, learning_rate=1e-3, max_length=32,
                                            eval_every=None, **training))

    def sub(ev):
        if isinstance(ev, Step):
            losses.append(ev.loss)
        elif isinstance(ev, Log):
            logs.append(ev.message)

    summary = train(cfg, [sub])
    return losses, logs, summary


def _compiled_layers(monkeypatch) -> list:
    """Records the blocks nn.Module.compile is called on (without compiling them)."""
    seen: list = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: seen.append(type(self).__name__))
    return seen


@pytest.mark.parametrize("mode", ["auto", "off"])
def test_compile_auto_and_off_leave_a_cpu_run_uncompiled(tiny_dir, tiny_csv, monkeypatch, mode):
    seen = _compiled_layers(monkeypatch)
    _, logs, summary = _run_losses(tiny_dir("bert"), tiny_csv, compile=mode)
    assert seen == [] and summary["status"] == "finished"
    assert not any("torch.compile" in m or "compiling the" in m for m in logs)


def test_compile_on_compiles_every_block_or_says_why_not(tiny_dir, tiny_csv, monkeypatch):
    from ftstudio.engine import compiling

    real_check = compiling.compiler_missing
    seen = _compiled_layers(monkeypatch)
    monkeypatch.setattr(compiling, "compiler_missing", lambda device: None)
    _, logs, _ = _run_losses(tiny_dir("bert"), tiny_csv, compile="on")
    assert seen == ["BertLayer", "BertLayer"]  # the two blocks, each compiled in place
    assert any("compiling the 2 transformer blocks" in m for m in logs)
    # back to the real compiler check, now with no compiler on PATH (not monkeypatch.undo(): that
    # also undid the isolated runs folder, and this run went to the user's own runs list)
    monkeypatch.setattr(compiling, "compiler_missing", real_check)
    seen = _compiled_layers(monkeypatch)
    monkeypatch.setattr(compiling.shutil, "which", lambda name: None)
    monkeypatch.delenv("CXX", raising=False)
    _, logs, summary = _run_losses(tiny_dir("bert"), tiny_csv, compile="on")
    assert seen == [] and summary["status"] == "finished"
    assert any("torch.compile skipped (no C++ compiler was found)" in m for m in logs)


@pytest.mark.skipif(__import__("shutil").which("g++") is None, reason="torch.compile on CPU needs a C++ compiler")
def test_a_compiled_run_trains_like_an_uncompiled_one(tiny_dir, tiny_csv, tmp_path):
    import shutil

    d = tmp_path / "nodrop"  # compiled dropout draws other random numbers: compare without it
    shutil.copytree(tiny_dir("bert"), d)
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (d / "config.json").write_text(json.dumps(cfg))
    eager, _, _ = _run_losses(d, tiny_csv, compile="off")
    compiled, logs, _ = _run_losses(d, tiny_csv, compile="on")
    assert any("compiling" in m for m in logs)
    assert compiled == pytest.approx(eager, abs=1e-4)


@pytest.mark.parametrize("given,packing,compile_", [(False, "off", "off"), ("False", "off", "off"),
                                                    (True, "auto", "on"), ("on", None, "on")])
def test_bare_on_off_in_yaml_or_set_means_the_switch(given, packing, compile_):
    from ftstudio.engine.config import RunConfig

    cfg = RunConfig.from_dict({"training": {"compile": given, **({"packing": given} if packing else {})}})
    assert cfg.training.compile == compile_
    if packing:
        assert cfg.training.packing == packing


def test_an_unknown_switch_value_is_one_error():
    from ftstudio.engine.config import RunConfig
    from ftstudio.engine.errors import UserError

    with pytest.raises(UserError, match="training.compile must be one of auto, on, off; got 'maybe'"):
        RunConfig.from_dict({"training": {"compile": "maybe"}})


def test_asking_for_pip_leaves_compiling_possible_and_the_build_helpers_load_first():
    """Inductor imports torch.utils.cpp_extension (-> setuptools' distutils shim) lazily on its compile
    threads during the first backward, where it failed in CI: the built-in model fetch had asked
    importlib for "pip", which turns setuptools' distutils shim off. The fetch now asks the package
    metadata, and the compiler check does that import first, where a failure just means "no
    compile" (a fresh process: in this one it may have happened already)."""
    import subprocess
    import sys

    code = ("import sys, torch\n"
            # what setuptools' distutils-precedence.pth does at start-up in a real venv
            "try:\n    __import__('_distutils_hack').add_shim()\nexcept ImportError:\n    pass\n"
            "from ftstudio.engine.compiling import compiler_missing\n"
            "from ftstudio.engine.model_packages import have_pip\n"
            "assert have_pip()\n"  # asking for pip must not turn setuptools' distutils shim off
            "assert 'torch.utils.cpp_extension' not in sys.modules\n"
            "why = compiler_missing(torch.device('cpu'))\n"
            "print(why is None, 'torch.utils.cpp_extension' in sys.modules, 'setuptools' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    if __import__("shutil").which("g++") is None:
        assert out.stdout.split()[0] == "False"  # no compiler: nothing to import
    else:
        assert out.stdout.split() == ["True", "True", "True"]


def test_broken_cpp_build_helpers_mean_an_uncompiled_run_with_one_line(tiny_dir, tiny_csv, monkeypatch):
    import sys

    seen = _compiled_layers(monkeypatch)
    monkeypatch.setattr(__import__("shutil"), "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setitem(sys.modules, "torch.utils.cpp_extension", None)  # its import now fails
    _, logs, summary = _run_losses(tiny_dir("bert"), tiny_csv, compile="on")
    assert seen == []
    assert any("torch.compile skipped (the C++ build helpers could not be loaded" in m for m in logs)
    assert summary["status"] == "finished"
