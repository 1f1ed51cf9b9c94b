"""Embedding gradients by the rows a batch used (engine/row_grads.py): the optimizer sees torch's
dense gradient, step after step, and every path that cannot use the shortcut gets torch's own."""
from __future__ import annotations

import copy

import pytest
import torch

from ftstudio.engine import row_grads
from ftstudio.engine.loop import clip_gradients


class Net(torch.nn.Module):
    def __init__(self, rows: int = 50, dim: int = 8, padding_idx: int | None = 0):
        super().__init__()
        self.emb = torch.nn.Embedding(rows, dim, padding_idx=padding_idx)
        self.out = torch.nn.Linear(dim, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.emb(ids))).pow(2).sum()


@pytest.fixture
def small_tables(monkeypatch):
    monkeypatch.setattr(row_grads, "MIN_ELEMENTS", 0)


def pair(padding_idx: int | None = 0) -> tuple[Net, Net]:
    torch.manual_seed(0)
    ref = Net(padding_idx=padding_idx)
    fast = copy.deepcopy(ref)
    assert row_grads.enable(fast, torch.device("cpu")) == 1
    return ref, fast


def backward(net: Net, ids: torch.Tensor, extra=None) -> None:
    loss = net(ids) if extra is None else net(ids) + extra(net)
    with row_grads.collecting():
        loss.backward()


BATCHES = [torch.tensor([[3, 7, 7, 0, 12]]), torch.tensor([[5, 9, 3, 0, 0]]), torch.tensor([[41, 2, 2, 2, 8]])]


def test_each_step_sees_the_dense_gradient_of_its_own_batch(small_tables):
    ref, fast = pair()
    for ids in BATCHES:  # zero_grad between steps: the rows of the last batch must not linger
        ref(ids).backward()
        backward(fast, ids)
        assert fast.emb.weight.grad is fast.emb._ftstudio_rows.buf  # the kept buffer, not a new tensor
        assert torch.allclose(fast.emb.weight.grad, ref.emb.weight.grad, atol=1e-7)
        assert not fast.emb.weight.grad[0].any()  # the padding row gets no gradient, as in torch
        ref.zero_grad(set_to_none=True)
        fast.zero_grad(set_to_none=True)


def test_without_padding_idx_row_zero_is_an_ordinary_row(small_tables):
    ref, fast = pair(padding_idx=None)
    ref(BATCHES[0]).backward()
    backward(fast, BATCHES[0])
    assert fast.emb.weight.grad[0].any()
    assert torch.allclose(fast.emb.weight.grad, ref.emb.weight.grad, atol=1e-7)


def test_gradients_accumulate_until_zeroed(small_tables):
    ref, fast = pair()
    for ids in BATCHES[:2]:  # grad_accum: two micro-batches, no zero_grad between
        ref(ids).backward()
        backward(fast, ids)
    assert torch.allclose(fast.emb.weight.grad, ref.emb.weight.grad, atol=1e-7)


def test_outside_the_training_backward_torch_autograd_grad_is_dense(small_tables):
    """EWC's Fisher and pre-flight use torch.autograd.grad / a plain backward: torch's gradient."""
    ref, fast = pair()
    (want,) = torch.autograd.grad(ref(BATCHES[0]), [ref.emb.weight])
    (got,) = torch.autograd.grad(fast(BATCHES[0]), [fast.emb.weight])
    assert torch.allclose(got, want, atol=1e-7)
    fast(BATCHES[1]).backward()
    ref(BATCHES[1]).backward()
    assert torch.allclose(fast.emb.weight.grad, ref.emb.weight.grad, atol=1e-7)


def test_another_gradient_on_the_same_weight_zeroes_the_whole_buffer_next_time(small_tables):
    """An EWC-style penalty on every parameter adds a dense gradient into the attached buffer."""
    penalty = lambda net: 0.1 * net.emb.weight.pow(2).sum()  # noqa: E731
    ref, fast = pair()
    ref(BATCHES[0]).backward()
    penalty(ref).backward()
    backward(fast, BATCHES[0])  # the buffer is attached first ...
    with row_grads.collecting():
        penalty(fast).backward()  # ... then autograd adds the penalty's dense gradient into it
    assert torch.allclose(fast.emb.weight.grad, ref.emb.weight.grad, atol=1e-6)
    ref.zero_grad(set_to_none=True)
    fast.zero_grad(set_to_none=True)
    ref(BATCHES[2]).backward()
    backward(fast, BATCHES[2])
    assert torch.allclose(fast.emb.weight.grad, ref.emb.weight.grad, atol=1e-7)


def test_penalty_first_then_the_rows_land_in_that_gradient(small_tables):
    ref, fast = pair()
    with row_grads.collecting():
        (fast(BATCHES[0]) + 0.1 * fast.emb.weight.pow(2).sum()).backward()
    (ref(BATCHES[0]) + 0.1 * ref.emb.weight.pow(2).sum()).backward()
    assert torch.allclose(fast.emb.weight.grad, ref.emb.weight.grad, atol=1e-6)


@pytest.mark.parametrize("scale", [1e-3, 10.0])  # not clipped / clipped
def test_clipping_a_row_buffer_equals_torch_clip_grad_norm(small_tables, scale):
    ref, fast = pair()
    for net in (ref, fast):
        net.out.weight.data.mul_(scale)
    ref(BATCHES[0]).backward()
    backward(fast, BATCHES[0])
    assert row_grads.used_rows(fast.emb.weight.grad).tolist() == [3, 7, 12]  # not the padding row
    assert row_grads.used_rows(ref.emb.weight.grad) is None
    want = float(torch.nn.utils.clip_grad_norm_(list(ref.parameters()), 1.0))
    got = clip_gradients(list(fast.parameters()), 1.0)
    assert got == pytest.approx(want, rel=1e-6)
    for p, q in zip(ref.parameters(), fast.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-7)
    if scale > 1:
        assert want > 1.0  # it did clip


def test_only_plain_untied_cpu_tables_in_one_process_are_swapped(small_tables):
    cpu = torch.device("cpu")
    assert row_grads.enable(Net(), torch.device("meta")) == 0  # not CPU: torch's own
    assert row_grads.enable(Net(), cpu, world_size=2) == 0  # DDP reduces in accumulate hooks
    tied = Net()
    tied.head = torch.nn.Linear(8, 50, bias=False)
    tied.head.weight = tied.emb.weight  # a tied LM head adds a dense gradient
    assert row_grads.enable(tied, cpu) == 0
    for kw in ({"max_norm": 1.0}, {"scale_grad_by_freq": True}, {"sparse": True}):
        net = Net()
        net.emb = torch.nn.Embedding(50, 8, **kw)
        assert row_grads.enable(net, cpu) == 0


def test_large_tables_only_by_default():
    assert row_grads.enable(Net(rows=50), torch.device("cpu")) == 0
    assert row_grads.enable(Net(rows=row_grads.MIN_ELEMENTS // 8), torch.device("cpu")) == 1


def test_a_weight_with_gradient_hooks_takes_torch_path(small_tables):
    """BitFit masks gradients with hooks on the parameter: they must see the gradient."""
    ref, fast = pair()
    seen = []
    fast.emb.weight.register_hook(lambda g: seen.append(g) or g * 0)
    backward(fast, BATCHES[0])
    assert seen and not fast.emb.weight.grad.any()


def test_frozen_and_eval_tables_are_plain_lookups(small_tables):
    _ref, fast = pair()
    fast.emb.weight.requires_grad_(False)
    assert not fast(BATCHES[0]).grad_fn.name().startswith("RowEmbedding")
    fast.emb.weight.requires_grad_(True)
    fast.eval()
    with torch.no_grad():
        assert torch.equal(fast.emb(BATCHES[0]), torch.nn.functional.embedding(BATCHES[0], fast.emb.weight, 0))


def test_a_copied_model_gets_its_own_buffer(small_tables):
    ref, fast = pair()
    backward(fast, BATCHES[0])
    twin = copy.deepcopy(fast)
    assert twin.emb._ftstudio_rows.buf is None
    twin.zero_grad(set_to_none=True)
    ref(BATCHES[1]).backward()
    backward(twin, BATCHES[1])
    assert torch.allclose(twin.emb.weight.grad, ref.emb.weight.grad, atol=1e-7)
    assert twin.emb.weight.grad is not fast.emb.weight.grad


def test_a_cpu_run_trains_exactly_as_with_dense_gradients(tiny_dir, run_with_switch, small_tables):
    """The engine with row buffers (and its clipping on rows) ends at the same weights as with
    torch's dense embedding gradients; and the runner really switched the tables over."""
    def run(on: bool) -> dict:
        return run_with_switch(row_grads, on, "full", {}, "model.safetensors", learning_rate=5e-3,
                               max_grad_norm=0.5)

    dense, rows = run(False), run(True)
    assert dense.keys() == rows.keys()
    for k in dense:
        assert torch.allclose(dense[k], rows[k], atol=1e-5), k
    emb = next(k for k in dense if "word_embeddings" in k)
    assert not torch.equal(dense[emb], load_file_initial(tiny_dir))  # the table did train


def load_file_initial(tiny_dir):
    from safetensors.torch import load_file

    w = load_file(next(tiny_dir("bert").rglob("model.safetensors")))
    return next(v for k, v in w.items() if "word_embeddings" in k)
