"""AdamW over the embedding rows the training data uses (engine/table_optim.py): the weights and
moments of torch's dense fused AdamW, step after step; a stop and resume bit for bit; and every
step that cannot use the compact rows goes back to the dense optimizer exactly."""
from __future__ import annotations

import copy
import io

import pytest
import torch

from ftstudio.engine import row_grads, table_optim
from ftstudio.engine.loop import clip_gradients
from ftstudio.engine.optim import build_optimizer, lr_factor, set_lr
from ftstudio.engine.optim import step as optim_step


class Net(torch.nn.Module):
    def __init__(self, rows: int = 60, dim: int = 8):
        super().__init__()
        self.emb = torch.nn.Embedding(rows, dim, padding_idx=0)
        self.out = torch.nn.Linear(dim, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.emb(ids))).pow(2).sum()

    def get_input_embeddings(self) -> torch.nn.Embedding:  # as transformers' models
        return self.emb


@pytest.fixture(autouse=True)
def small_tables(monkeypatch):
    monkeypatch.setattr(row_grads, "MIN_ELEMENTS", 0)


BATCHES = [torch.tensor([[3, 7, 7, 0, 12]]), torch.tensor([[5, 9, 3, 0, 0]]), torch.tensor([[21, 2, 2, 2, 8]])]
EXAMPLES = [{"input_ids": b[0].tolist()} for b in BATCHES]  # the rows a run's data uses
STEPS = 9
CPU = torch.device("cpu")


def groups(net: Net) -> list[dict]:
    return [{"name": "main", "params": [net.emb.weight, net.out.weight], "lr": 0.05, "weight_decay": 0.1},
            {"name": "main/no_decay", "params": [net.out.bias], "lr": 0.05, "weight_decay": 0.0}]


def dense(net: Net):
    return build_optimizer(groups(net), "cpu")


def compact(net: Net, examples=EXAMPLES):
    row_grads.enable(net, CPU)
    opt = build_optimizer(groups(net), "cpu")
    assert table_optim.enable(opt, net, [examples], CPU) == 1
    return opt


def one_step(net: Net, opt, i: int, extra=None) -> None:
    """The training loop's step: backward in row-buffer mode, schedule, folded clipping, step."""
    loss = net(BATCHES[i % len(BATCHES)])
    if extra is not None:
        loss = loss + extra(net)
    with row_grads.collecting():
        loss.backward()
    set_lr(opt, lr_factor(i, 2, STEPS))
    clip_gradients(list(net.parameters()), 0.5, opt)  # small: the factor is handed to AdamW
    optim_step(opt)
    opt.zero_grad(set_to_none=True)


def pair():
    torch.manual_seed(0)
    ref = Net()
    fast = copy.deepcopy(ref)
    return ref, dense(ref), fast, compact(fast)


def close(a: Net, b: Net, atol: float = 1e-6) -> bool:
    return all(torch.allclose(x, y, atol=atol, rtol=0) for x, y in zip(a.parameters(), b.parameters()))


def test_steps_only_the_used_rows_and_matches_dense_adamw():
    ref, ropt, fast, fopt = pair()
    start = fast.emb.weight.detach().clone()
    for i in range(STEPS):
        one_step(ref, ropt, i)
        one_step(fast, fopt, i)
        used = sorted({int(t) for b in BATCHES for t in b[0]})  # the padding row 0 included
        # the used rows follow dense AdamW every step (the others only decay)
        assert torch.allclose(fast.emb.weight[used], ref.emb.weight[used], atol=1e-6, rtol=0)
    (t,) = fopt._ftstudio_tables
    assert t.shadow.shape[0] == len(used)  # the optimizer's work and moments: those rows only
    assert fopt.state[t.shadow]["exp_avg"].shape == (len(used), 8)
    untouched = [r for r in range(60) if r not in used]
    assert torch.equal(fast.emb.weight[untouched], start[untouched])  # lazily: not yet decayed
    table_optim.sync(fopt)
    assert not torch.equal(fast.emb.weight[untouched], start[untouched])
    assert close(fast, ref)  # the decay the rest missed, applied at once
    # the moments too, in the dense optimizer's format
    rs, fs = ropt.state_dict()["state"], fopt.state_dict()["state"]
    assert rs.keys() == fs.keys()
    for k in rs:
        for name in ("exp_avg", "exp_avg_sq"):
            assert torch.allclose(rs[k][name], fs[k][name], atol=1e-7, rtol=0)
        assert float(rs[k]["step"]) == float(fs[k]["step"]) == STEPS


def test_without_weight_decay_the_other_rows_never_move():
    torch.manual_seed(0)
    fast = Net()
    start = fast.emb.weight.detach().clone()
    opt = compact(fast)
    for g in opt.param_groups:
        g["weight_decay"] = 0.0
    for i in range(STEPS):
        one_step(fast, opt, i)
    table_optim.sync(opt)
    assert torch.equal(fast.emb.weight[40:], start[40:])


def test_a_row_outside_the_data_goes_back_to_the_dense_optimizer_exactly():
    ref, ropt, fast, fopt = pair()
    torch.manual_seed(0)
    fast2 = copy.deepcopy(ref)
    fopt2 = compact(fast2, examples=EXAMPLES[:2])  # row 21 and 8 are not in "the data"
    for i in range(STEPS):
        one_step(ref, ropt, i)
        one_step(fast2, fopt2, i)
    assert fopt2._ftstudio_tables == []  # handed back at the first batch with row 21
    assert close(fast2, ref)


def test_a_dense_gradient_from_another_use_goes_back_to_the_dense_optimizer():
    ref, ropt, fast, fopt = pair()

    def penalty(net):  # a dense gradient (zero but in row 0) from another use of the weight
        return 1e-3 * net.emb.weight[0].pow(2).sum()

    for i in range(STEPS):
        extra = penalty if i >= 3 else None
        one_step(ref, ropt, i, extra)
        one_step(fast, fopt, i, extra)
    assert fopt._ftstudio_tables == []
    assert close(fast, ref)


def roundtrip(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def checkpoint(net: Net, opt) -> tuple[dict, dict]:
    table_optim.sync(opt)  # as save_checkpoint does
    return roundtrip({k: v.clone() for k, v in net.state_dict().items()}), roundtrip(opt.state_dict())


@pytest.mark.parametrize("stop_at", [1, 4, 7])
def test_stop_and_resume_equals_an_uninterrupted_run_bit_for_bit(stop_at):
    torch.manual_seed(0)
    base = Net()
    whole = copy.deepcopy(base)
    wopt = compact(whole)
    for i in range(STEPS):
        one_step(whole, wopt, i)
    table_optim.sync(wopt)

    part = copy.deepcopy(base)
    popt = compact(part)
    for i in range(stop_at):
        one_step(part, popt, i)
    weights, state = checkpoint(part, popt)
    # the resumed run: the base model prepared again, optimizer loaded, then the weights
    resumed = copy.deepcopy(base)
    ropt = compact(resumed)
    ropt.load_state_dict(state)
    resumed.load_state_dict(weights)
    for i in range(stop_at, STEPS):
        one_step(resumed, ropt, i)
    table_optim.sync(ropt)
    for (n, a), b in zip(whole.named_parameters(), resumed.parameters()):
        assert torch.equal(a, b), n


def test_a_checkpoint_loads_into_the_dense_optimizer_and_back():
    ref, ropt, fast, fopt = pair()
    for i in range(4):
        one_step(ref, ropt, i)
        one_step(fast, fopt, i)
    weights, state = checkpoint(fast, fopt)
    # a dense optimizer (another device, say) continues from the compact run's checkpoint
    torch.manual_seed(0)
    other = Net()
    other.load_state_dict(weights)
    oopt = dense(other)
    oopt.load_state_dict(state)
    # and a compact one from a dense run's checkpoint
    back = copy.deepcopy(other)
    bopt = compact(back)
    bopt.load_state_dict(roundtrip(ropt.state_dict()))
    back.load_state_dict(roundtrip(ref.state_dict()))
    for i in range(4, STEPS):
        for net, opt in ((ref, ropt), (other, oopt), (back, bopt)):
            one_step(net, opt, i)
    table_optim.sync(bopt)
    assert close(other, ref) and close(back, ref)


def test_only_where_it_is_safe():
    torch.manual_seed(0)
    net = Net()
    assert table_optim.enable(dense(net), net, [EXAMPLES], CPU) == 0  # no row buffer on the table
    row_grads.enable(net, CPU)
    foreach = torch.optim.AdamW(groups(net), foreach=True)
    assert table_optim.enable(foreach, net, [EXAMPLES], CPU) == 0  # not fused AdamW
    assert table_optim.enable(dense(net), net, [EXAMPLES], CPU, world_size=2) == 0
    assert table_optim.enable(dense(net), net, [EXAMPLES], torch.device("meta")) == 0
    most = [{"input_ids": list(range(1, 45))}]
    assert table_optim.enable(dense(net), net, [most], CPU) == 0  # most rows used: nothing to gain


def test_distinct_rows_of_an_arrow_split(tmp_path):
    import pyarrow as pa

    from ftstudio.engine.data import ExampleTable

    table = pa.table({"input_ids": pa.array([[5, 3, 5], [9], [3, 2]], type=pa.list_(pa.int32())),
                      "label": pa.array([0, 1, 0])})
    # a sliced chunk: its values still hold the first row (5, 3, 5), its offsets start at 3
    split = ExampleTable(tmp_path / "unused.arrow", _table=table.slice(1))
    rows = table_optim.token_rows([split, [{"input_ids": [7]}]])
    assert rows.tolist() == [2, 3, 7, 9]


# --------------------------------------------------------------------------- through the runner
def _export(run_dir) -> dict:
    from safetensors.torch import load_file

    out = {}
    for f in sorted((run_dir / "export").rglob("*.safetensors")):
        out.update(load_file(str(f)))
    return out


@pytest.fixture
def engaged(monkeypatch):
    """The tables table_optim.enable gave compact rows to, per run."""
    class Calls(list):
        optimizers: list

    calls = Calls()
    real = table_optim.enable

    def spy(*a, **k):
        calls.append(real(*a, **k))
        spy.optimizers.append(a[0])
        return calls[-1]

    spy.optimizers = []
    calls.optimizers = spy.optimizers

    monkeypatch.setattr(table_optim, "enable", spy)
    return calls


def _cfg(tiny_dir, tiny_csv, **training):
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig

    return RunConfig(model=str(tiny_dir("bert")), task="classification", data=DataConfig(train=str(tiny_csv)),
                     technique=TechniqueConfig("full", {}),
                     training=TrainingConfig(epochs=2, batch_size=8, learning_rate=1e-2, max_length=32,
                                             eval_every=None, seed=5, warmup_ratio=0.1, **training))


def test_a_full_fine_tuning_run_ends_where_the_dense_optimizer_ends(tiny_dir, tiny_csv, engaged, monkeypatch):
    from ftstudio.engine.runner import train
    from ftstudio.engine.store import list_runs

    fast = train(_cfg(tiny_dir, tiny_csv, save_every=2))
    fast_dir = list_runs()[0].run_dir
    assert engaged == [1]
    (t,) = engaged.optimizers[0]._ftstudio_tables  # compact to the end (never handed back)
    assert 0 < len(t.rows) < t.weight.shape[0] // 2
    monkeypatch.setattr(table_optim, "enable", lambda *a, **k: 0)
    ref = train(_cfg(tiny_dir, tiny_csv, save_every=2))
    ref_dir = list_runs()[0].run_dir
    a, b = _export(fast_dir), _export(ref_dir)
    assert a.keys() == b.keys() and a
    for k in a:
        assert torch.allclose(a[k], b[k], atol=2e-6, rtol=0), k
    # a checkpoint holds the dense optimizer's weights and moments, in its format
    from safetensors.torch import load_file

    ck_a, ck_b = fast_dir / "checkpoints" / "step-4", ref_dir / "checkpoints" / "step-4"
    wa, wb = load_file(str(ck_a / "trainable.safetensors")), load_file(str(ck_b / "trainable.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-6, rtol=0), k
    oa = torch.load(ck_a / "optimizer.pt", weights_only=True)["state"]
    ob = torch.load(ck_b / "optimizer.pt", weights_only=True)["state"]
    assert oa.keys() == ob.keys()
    for i in oa:
        assert {k for k in oa[i] if k != table_optim.DECAY_KEY} == set(ob[i])
        for k in ob[i]:
            assert torch.allclose(oa[i][k].float(), ob[i][k].float(), atol=1e-6, rtol=0), (i, k)
    assert fast["eval_loss"] == pytest.approx(ref["eval_loss"], abs=1e-5)


def test_a_technique_that_reads_its_weights_keeps_the_dense_optimizer(tiny_dir, tiny_csv, engaged, monkeypatch):
    from ftstudio.engine.runner import train
    from ftstudio.techniques.full import FullFineTuning

    monkeypatch.setattr(FullFineTuning, "weights_only_through_forward", False)
    train(_cfg(tiny_dir, tiny_csv, max_steps=2))
    assert engaged == []


def test_stop_and_resume_through_checkpoints_equals_an_uninterrupted_run(tiny_dir, tiny_csv, engaged):
    from ftstudio.engine.runner import CancelToken, train
    from ftstudio.engine.store import list_runs

    full = train(_cfg(tiny_dir, tiny_csv, save_every=2))
    full_dir = list_runs()[0].run_dir
    token = CancelToken()

    def stop(ev):
        if ev.kind == "step" and ev.step == 3:  # between two checkpoints: the cancel writes one
            token.cancel()

    part = train(_cfg(tiny_dir, tiny_csv, save_every=2), subscribers=[stop], cancel=token)
    assert part["status"] == "cancelled" and part["steps"] == 3
    run = next(r for r in list_runs() if r.status == "cancelled").run_dir
    resumed = train(None, resume=run)
    assert resumed["status"] == "finished" and engaged == [1, 1, 1]  # the word table only (not the positions)
    a, b = _export(full_dir), _export(run)
    assert a.keys() == b.keys() and a
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    assert resumed["eval_loss"] == full["eval_loss"]
