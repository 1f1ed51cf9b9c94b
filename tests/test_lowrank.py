"""PEFT's LoRA layers as one autograd function on CPU (engine/lowrank.py): the same outputs and
gradients as PEFT's own forward, PEFT's path wherever the shortcut does not apply, and a run that
ends where PEFT's path ends."""
from __future__ import annotations

import copy

import pytest
import torch

pytest.importorskip("peft")
from peft import LoraConfig, get_peft_model  # noqa: E402

from ftstudio.engine import lowrank  # noqa: E402
from tests.autograd_graph import count_nodes  # noqa: E402

CPU = torch.device("cpu")


class Net(torch.nn.Module):
    def __init__(self, bias: bool = True):
        super().__init__()
        self.q = torch.nn.Linear(12, 10, bias=bias)
        self.v = torch.nn.Linear(12, 10, bias=bias)
        self.out = torch.nn.Linear(20, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.cat([torch.tanh(self.q(x)), self.v(x).sin()], -1))


def lora_pair(r: int = 4, alpha: int = 8, dropout: float = 0.0, bias: bool = True, **kw):
    """(PEFT's model, the same model with its LoRA layers swapped)."""
    torch.manual_seed(0)
    ref = get_peft_model(Net(bias), LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout,
                                               target_modules=["q", "v"], **kw))
    for n, p in ref.named_parameters():
        if "lora_B" in n:  # PEFT starts B at zero: give it values, or dB = 0 hides mistakes
            p.data.normal_()
    fast = copy.deepcopy(ref)
    assert lowrank.enable(fast, CPU) == 2
    return ref, fast


def fused_nodes(t: torch.Tensor) -> int:
    return count_nodes(t, "LowRankLinearBackward")


def grads(net: torch.nn.Module, x: torch.Tensor, seed: int = 1) -> tuple:
    torch.manual_seed(seed)
    x = x.detach().clone().requires_grad_(x.requires_grad)
    y = net(x)
    loss = (y ** 2).sum()
    n = fused_nodes(loss)
    loss.backward()
    g = {k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None}
    net.zero_grad(set_to_none=True)
    return y.detach(), g, (x.grad if x.requires_grad else None), n


def assert_same(a: tuple, b: tuple, tol: float = 1e-5, trained: bool = True) -> None:
    assert torch.allclose(a[0], b[0], atol=tol, rtol=tol)
    assert a[1].keys() == b[1].keys() and (bool(a[1]) or not trained)
    for k in a[1]:
        assert torch.allclose(a[1][k], b[1][k], atol=tol, rtol=tol), k
    if a[2] is not None:
        assert torch.allclose(a[2], b[2], atol=tol, rtol=tol)


@pytest.mark.parametrize("r", [2, 8, 16])  # both layouts: transposed up to rank 8
@pytest.mark.parametrize("alpha", [1, 8, 24])
def test_same_outputs_and_gradients_as_peft(r, alpha):
    ref, fast = lora_pair(r=r, alpha=alpha)
    x = torch.randn(3, 5, 12, requires_grad=True)
    a, b = grads(ref, x), grads(fast, x)
    assert a[3] == 0 and b[3] == 2
    assert_same(a, b)
    assert any("lora_A" in k for k in b[1]) and any("lora_B" in k for k in b[1])


@pytest.mark.parametrize("r", [4, 16])
def test_with_lora_dropout_the_masks_and_gradients_are_peft_s(r):
    ref, fast = lora_pair(r=r, dropout=0.4)
    ref.train(), fast.train()
    x = torch.randn(4, 7, 12, requires_grad=True)
    a, b = grads(ref, x, seed=3), grads(fast, x, seed=3)
    assert b[3] == 2
    assert_same(a, b)
    ref.eval(), fast.eval()
    assert_same(grads(ref, x), grads(fast, x))


def test_base_without_bias_and_an_input_without_gradient():
    ref, fast = lora_pair(bias=False)
    x = torch.randn(6, 12)  # like layer 0's input under a frozen embedding
    a, b = grads(ref, x), grads(fast, x)
    assert b[3] == 2
    assert_same(a, b)


def test_a_frozen_adapter_gets_no_gradient():
    ref, fast = lora_pair()
    for net in (ref, fast):
        for n, p in net.named_parameters():
            if "lora_A" in n:
                p.requires_grad_(False)
    x = torch.randn(6, 12, requires_grad=True)
    a, b = grads(ref, x), grads(fast, x)
    assert not any("lora_A" in k for k in b[1])
    assert_same(a, b)


def test_several_steps_of_training_end_at_the_same_weights():
    ref, fast = lora_pair(r=8, alpha=16, dropout=0.1)
    x = torch.randn(16, 12)
    for net in (ref, fast):
        opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-2)
        torch.manual_seed(5)
        for _ in range(20):
            loss = (net(x) - 1).pow(2).mean()
            loss.backward()
            opt.step()
            opt.zero_grad()
    for (k, p), (_, q) in zip(ref.state_dict().items(), fast.state_dict().items()):
        assert torch.allclose(p, q, atol=1e-5), k


def test_inference_mode_and_no_grad():
    ref, fast = lora_pair()
    x = torch.randn(2, 12)
    with torch.inference_mode():
        assert torch.allclose(ref(x), fast(x), atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(ref(x), fast(x), atol=1e-6)


def _peft_path(fast: torch.nn.Module, ref: torch.nn.Module, x: torch.Tensor, trained: bool = True) -> None:
    a, b = grads(ref, x), grads(fast, x)
    assert b[3] == 0  # PEFT's own forward ran
    assert_same(a, b, trained=trained)
    assert a[2] is not None and torch.allclose(a[2], b[2], atol=1e-5)


def test_merged_disabled_and_trainable_base_take_peft_s_path():
    ref, fast = lora_pair()
    x = torch.randn(4, 12, requires_grad=True)
    for net in (ref, fast):
        net.merge_adapter()
    _peft_path(fast, ref, x, trained=False)  # the merged weights are the base's: nothing trains
    for net in (ref, fast):
        net.unmerge_adapter()
    with ref.disable_adapter(), fast.disable_adapter():
        _peft_path(fast, ref, x, trained=False)
        assert torch.allclose(fast(x), fast.base_model.model.out(torch.cat(
            [torch.tanh(fast.base_model.model.q.base_layer(x)), fast.base_model.model.v.base_layer(x).sin()], -1)))
    for net in (ref, fast):
        net.base_model.model.q.base_layer.weight.requires_grad_(True)
    a, b = grads(ref, x), grads(fast, x)
    assert b[3] == 1 and "base_model.model.q.base_layer.weight" in b[1]  # v is still fused
    assert_same(a, b)


def test_autocast_other_dtypes_and_variants_take_peft_s_path():
    ref, fast = lora_pair()
    x = torch.randn(4, 12, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert fused_nodes(fast(x).sum()) == 0
    assert fused_nodes(fast(x).sum()) == 2
    for net in (ref, fast):  # a bf16 base with an fp32 adapter: PEFT casts between them
        for m in (net.base_model.model.q.base_layer, net.base_model.model.v.base_layer):
            m.to(torch.bfloat16)
    xb = x.detach().bfloat16().requires_grad_()
    qa, qb = ref.base_model.model.q(xb), fast.base_model.model.q(xb)
    assert fused_nodes(qb.sum()) == 0 and torch.equal(qa, qb)
    ref, fast = lora_pair()
    ref.double(), fast.double()  # one dtype throughout, float64: fused
    a, b = grads(ref, x.detach().double().requires_grad_()), grads(fast, x.detach().double().requires_grad_())
    assert b[3] == 2
    assert_same(a, b, tol=1e-10)
    ref, fast = lora_pair(use_dora=True)
    _peft_path(fast, ref, torch.randn(4, 12, requires_grad=True))


def test_a_hooked_base_layer_takes_peft_s_path():
    ref, fast = lora_pair()
    seen = []
    for net in (ref, fast):
        net.base_model.model.q.base_layer.register_forward_hook(lambda m, i, o: seen.append(1))
    x = torch.randn(4, 12, requires_grad=True)
    a, b = grads(ref, x), grads(fast, x)
    assert b[3] == 1 and len(seen) == 2  # the hook ran in both; only v took the fused path
    assert_same(a, b)


def test_only_cpu_and_only_peft_lora_linear_is_swapped():
    ref, _ = lora_pair()
    assert lowrank.enable(copy.deepcopy(ref), torch.device("cuda")) == 0
    assert lowrank.enable(Net(), CPU) == 0


def test_copy_merge_and_saved_adapter_are_peft_s(tmp_path):
    from peft import PeftModel

    ref, fast = lora_pair()
    x = torch.randn(3, 12)
    merged = copy.deepcopy(fast).merge_and_unload()
    assert type(merged.q) is torch.nn.Linear
    assert torch.allclose(merged(x), ref(x), atol=1e-5)
    fast.save_pretrained(tmp_path)
    torch.manual_seed(0)
    back = PeftModel.from_pretrained(Net(), tmp_path)
    assert torch.allclose(back(x), ref(x), atol=1e-6)


def test_a_cpu_lora_run_trains_exactly_as_with_peft_s_layers(run_with_switch):
    """The engine with fused LoRA layers ends at the same adapter weights as with PEFT's own
    layers; and the runner really swapped them."""
    def run(on: bool) -> dict:
        return run_with_switch(lowrank, on, "lora", {"r": 4, "alpha": 8, "dropout": 0.1},
                               "adapter_model.safetensors", learning_rate=1e-2)

    peft_w, fused_w = run(False), run(True)
    assert peft_w.keys() == fused_w.keys()
    for k in peft_w:
        assert torch.allclose(peft_w[k], fused_w[k], atol=1e-5), k
    b = next(k for k in peft_w if "lora_B" in k)
    assert peft_w[b].abs().max() > 0  # the adapter did train


def test_two_active_adapters_take_peft_s_path():
    ref, fast = lora_pair()
    for net in (ref, fast):
        torch.manual_seed(2)
        net.add_adapter("other", LoraConfig(r=2, lora_alpha=4, target_modules=["q", "v"], init_lora_weights=False))
        net.base_model.set_adapter(["default", "other"])
    x = torch.randn(4, 12, requires_grad=True)
    _peft_path(fast, ref, x)
    assert grads(ref, x)[0].ne(lora_pair()[0](x).detach()).any()  # the second adapter counts
