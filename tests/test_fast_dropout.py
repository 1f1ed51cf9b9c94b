"""The CPU dropout with 16-bit lanes: torch's distribution (drop with p, scale the kept values so
the mean is unchanged, masks independent per element), torch's backward, torch's generator; used
by every nn.Dropout of a CPU run and by packed attention in training."""
from __future__ import annotations

import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ftstudio.engine import fast_dropout, packing
from ftstudio.engine.data import collate
from ftstudio.engine.models import load_model

N = 2_000_000


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_drops_with_p_and_keeps_the_mean(p):
    torch.manual_seed(0)
    x = torch.ones(N)
    y = fast_dropout.dropout(x, p)
    k, scale = fast_dropout.threshold(p)
    assert abs(k / 65536 - p) <= 1 / 131072  # p rounded to 16 bits
    dropped = (y == 0).double()
    sd = math.sqrt(p * (1 - p) / N)
    assert abs(float(dropped.mean()) - p) < 5 * sd
    assert torch.all((y == 0) | torch.isclose(y, torch.tensor(scale)))  # kept values: x * scale
    assert abs(float(y.double().mean()) - 1.0) < 5 * sd * scale  # E[out] = x
    # each of the four lanes of a 64-bit draw drops with p, independently of its neighbour
    lanes = dropped.view(-1, 4)
    assert torch.all((lanes.mean(0) - p).abs() < 5 * math.sqrt(p * (1 - p) / lanes.shape[0]))
    both = float((dropped[:-1] * dropped[1:]).mean())
    assert abs(both - p * p) < 5 * math.sqrt(p * p * (1 - p * p) / N)


def test_backward_is_grad_times_the_same_mask():
    torch.manual_seed(1)
    x = torch.randn(64, 33, requires_grad=True)
    y = fast_dropout.dropout(x, 0.3)
    g = torch.randn_like(y)
    y.backward(g)
    mask = y.detach() / x.detach()
    assert torch.allclose(x.grad, g * mask, atol=1e-6)
    assert 0 < int((mask == 0).sum()) < mask.numel()


def test_masks_follow_torch_seed():
    x = torch.ones(1000)
    torch.manual_seed(5)
    a = fast_dropout.dropout(x, 0.5)
    torch.manual_seed(5)
    b = fast_dropout.dropout(x, 0.5)
    c = fast_dropout.dropout(x, 0.5)
    assert torch.equal(a, b) and not torch.equal(b, c)


def test_eval_and_zero_p_are_identity():
    x = torch.randn(10)
    assert fast_dropout.dropout(x, 0.5, training=False) is x
    assert fast_dropout.dropout(x, 0.0) is x


def _ops(fn) -> set[str]:
    seen: set[str] = set()

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.add(func.__name__.split(".")[0])
            return func(*args, **(kwargs or {}))

    with Record():
        fn()
    return seen


def test_a_cpu_training_step_draws_no_bernoulli_masks(tiny_dir):
    """After enable (as the runner does for CPU runs), neither the model's dropout modules nor
    packed attention use torch's per-element Bernoulli draws; eval is untouched."""
    model, tok, _ = load_model(str(tiny_dir("bert")), "classification", num_labels=2)
    assert model.config.hidden_dropout_prob > 0 and model.config.attention_probs_dropout_prob > 0
    packing.enable(model)
    ex = [{"input_ids": list(range(5, 5 + n)), "token_type_ids": [0] * n, "label": n % 2} for n in (6, 4, 4, 2)]
    batch = {k: v for k, v in packing.collate_packed(ex, 0).items() if k not in ("idx", "task_id")}
    model.train()

    def step():
        model(**batch).loss.backward()

    assert "bernoulli_" in _ops(step)  # the twin: torch's dropout
    n = fast_dropout.enable(model, torch.device("cpu"))
    assert n == sum(isinstance(m, torch.nn.Dropout) for m in model.modules()) > 0
    ops = _ops(step)
    assert "bernoulli_" not in ops and "random_" in ops
    padded = {k: v for k, v in collate(ex, 0).items() if k not in ("idx", "task_id")}
    # padded batches too (prompt/prefix tuning, distillation, packing off): SDPA's math path
    # would draw a Bernoulli mask for the attention weights
    assert "bernoulli_" not in _ops(lambda: model(**padded).loss.backward())
    model.eval()
    with torch.no_grad():
        assert "random_" not in _ops(lambda: model(**batch))
        assert "random_" not in _ops(lambda: model(**padded))
    cuda_model, _, _ = load_model(str(tiny_dir("bert")), "classification", num_labels=2)
    assert fast_dropout.enable(cuda_model, torch.device("cuda")) == 0  # CUDA keeps its fused dropout


@pytest.mark.parametrize("causal", [False, True])
def test_packed_attention_dropout_is_softmax_then_mask_then_values(causal):
    """The written-out attention: dropout on the attention probabilities (after softmax, before the
    values), the key mask and the causal mask applied, the same scale as SDPA."""
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(3, 2, 5, 4, generator=g) for _ in range(3))
    key_mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] * 4 + [False]]).view(3, 1, 1, 5)
    mask = None if causal else key_mask
    torch.manual_seed(9)
    got = packing._attention(q, k, v, mask, 0.4, None, causal)
    w = q @ k.transpose(-2, -1) / 2.0  # D = 4: scale 1/sqrt(4)
    if causal:
        w = w.masked_fill(torch.ones(5, 5, dtype=torch.bool).triu(1), float("-inf"))
    else:
        w = w.masked_fill(~key_mask, float("-inf"))
    probs = w.softmax(-1)
    torch.manual_seed(9)
    ref = (probs * fast_dropout.scaled_mask(probs, 0.4)) @ v
    assert torch.allclose(got, ref, atol=1e-6)
    # without dropout it is SDPA itself
    sdpa = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    assert torch.allclose(packing._attention(q, k, v, mask, 0.0, None, causal), sdpa, atol=1e-6)


def test_a_cpu_run_trains_with_the_cheaper_masks(tiny_dir, tiny_csv, monkeypatch):
    """The runner switches a CPU run's dropout over (the wiring; the mutant without it fails)."""
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
    from ftstudio.engine.runner import train

    swapped = []
    real = fast_dropout.enable
    monkeypatch.setattr(fast_dropout, "enable", lambda model, device: swapped.append(real(model, device)) or swapped[-1])
    cfg = RunConfig(model=str(tiny_dir("bert")), task="classification", data=DataConfig(train=str(tiny_csv)),
                    technique=TechniqueConfig("full", {}),
                    training=TrainingConfig(max_steps=2, batch_size=8, max_length=32, eval_every=None, device="cpu"))
    assert train(cfg)["status"] == "finished"
    assert swapped and swapped[0] > 0


class _Attn(torch.nn.Module):
    is_causal = False


@pytest.mark.parametrize("causal", [False, True])
def test_padded_training_attention_takes_the_cheaper_mask_where_safe(causal):
    """A padded batch's attention in training on CPU: the written-out attention with the cheaper
    mask ([B, L, heads, D] out, as transformers' SDPA function returns); a mask row with no key
    at all keeps SDPA (whose safe softmax gives zeros where a plain softmax gives NaN)."""
    g = torch.Generator().manual_seed(4)
    q, k, v = (torch.randn(3, 2, 5, 4, generator=g) for _ in range(3))
    module = _Attn()
    module.is_causal = causal
    mask = None if causal else torch.tensor([[True] * 5, [True] * 3 + [False] * 2,
                                              [True] * 4 + [False]]).view(3, 1, 1, 5).expand(3, 1, 5, 5)
    torch.manual_seed(5)
    got, _ = packing.packed_attention(module, q, k, v, mask, dropout=0.3)
    torch.manual_seed(5)
    ref = packing._attention(q, k, v, mask, 0.3, None, causal).transpose(1, 2)
    assert got.shape == (3, 5, 2, 4) and torch.allclose(got, ref, atol=1e-6)
    drawn = _ops(lambda: packing.packed_attention(module, q, k, v, mask, dropout=0.3))
    assert "random_" in drawn and "bernoulli_" not in drawn
    # eval (no dropout) is SDPA itself
    sdpa = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    assert torch.allclose(packing.packed_attention(module, q, k, v, mask, dropout=0.0)[0], sdpa.transpose(1, 2),
                          atol=1e-6)
    if not causal:
        empty = mask.clone()
        empty[1, 0, 2] = False  # query 2 of example 1 sees no key
        out, _ = packing.packed_attention(module, q, k, v, empty, dropout=0.3)
        assert not out.isnan().any()
