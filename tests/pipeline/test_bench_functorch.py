"""The torch.func peer of the training benchmark: it trains, each member equals the plain module
trained alone on the same minibatches, and the benchmark reports it."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from learndyn.bench import train as bench_train
from learndyn.data import make_task
from learndyn.train.loop import TaskTensors, TrainConfig, batch_indices
from learndyn.train.optim import lr_factor

SPEC = {"generator": "spirals", "n_train": 128, "n_test": 64, "d": 4, "seed": 0}
WIDTH, DEPTH, SEEDS = 8, 2, (0, 1)


@pytest.fixture(scope="module")
def task():
    return make_task("tiny", SPEC)


@pytest.fixture(autouse=True)
def _threads():
    """The tests and ``run`` set torch's thread count: restore it for the rest of the session."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def cfg(steps=5):
    return TrainConfig(steps=steps, batch_size=32, eval_every=2, eval_samples=64, lr=1e-2)


def plain_run(task, seed, cfg):
    """One member the ordinary way: the plain module, its own torch.optim.AdamW and schedule, the
    member's minibatches, and the same forward calls at evaluations (they advance the power
    vectors in place)."""
    data = TaskTensors.from_task(task)
    torch.manual_seed(seed)
    model = bench_train.peer_model(data.d_in, data.d_out, WIDTH, DEPTH)
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg.steps, cfg.warmup_frac))
    n = len(data.x_train)

    def evaluate():
        with torch.no_grad():
            model(data.x_train[: cfg.eval_samples])
            model(data.x_test)

    evaluate()
    losses = []
    for step in range(cfg.steps):
        idx = batch_indices(seed, step, n, cfg.batch_size)
        loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if (step + 1) % cfg.eval_every == 0:
            evaluate()
    return model, np.array(losses)


@pytest.mark.parametrize("grads", ["vmap", "autograd"])
def test_torch_func_trains_and_matches_plain_module(task, grads):
    torch.set_num_threads(1)
    c = cfg()
    out = bench_train.torch_func_train(task, WIDTH, DEPTH, SEEDS, c, grads=grads)
    assert out["step_loss"].shape == (len(SEEDS), c.steps)
    assert out["train_loss"].shape == (len(SEEDS), c.steps // c.eval_every + 1)
    for key in ("step_loss", "train_loss", "test_loss", "train_metric", "test_metric"):
        assert np.isfinite(out[key]).all(), key
    assert (out["train_loss"][:, -1] < out["train_loss"][:, 0]).all()
    for m, seed in enumerate(SEEDS):
        model, losses = plain_run(task, seed, c)
        np.testing.assert_allclose(out["step_loss"][m], losses, rtol=1e-5, atol=1e-6)
        for name, value in model.state_dict().items():  # parameters and power vectors u
            stacked = out["params"][name] if name in out["params"] else out["buffers"][name]
            torch.testing.assert_close(stacked[m], value.detach(), rtol=1e-5, atol=1e-6, msg=name)


def test_power_vector_is_carried_not_written(task):
    """Under torch.func the stacked buffers are never written in place: the initial ones are
    unchanged and the returned ones are one power iteration further, member by member."""
    data = TaskTensors.from_task(task)
    ens = bench_train.FuncEnsemble(data.d_in, data.d_out, WIDTH, DEPTH, SEEDS)
    gen = torch.Generator().manual_seed(0)
    # W starts orthogonal (u would not move): perturb it so the iteration shows
    params = {
        k: v.detach() + (0.5 * torch.randn(v.shape, generator=gen) if k.endswith(".W") else 0)
        for k, v in ens.params.items()
    }
    before = {k: v.clone() for k, v in ens.buffers.items()}
    out, new = torch.func.vmap(ens.member_forward, in_dims=(0, 0, None))(
        params, ens.buffers, data.x_train[:8]
    )
    assert out.shape == (len(SEEDS), 8, data.d_out) and set(new) == set(before)
    for k in before:
        assert torch.equal(ens.buffers[k], before[k])
        W = params[k.removesuffix(".u") + ".W"]
        for m in range(len(SEEDS)):
            v = F.normalize(W[m].T @ before[k][m], dim=0)
            expected = F.normalize(W[m] @ v, dim=0)
            torch.testing.assert_close(new[k][m], expected)
            assert not torch.allclose(expected, before[k][m])


def test_run_reports_torch_func(monkeypatch):
    monkeypatch.setattr(bench_train, "gemm_flops", lambda n=2048, repeats=7: 1e9)
    out = bench_train.run(
        widths=(8,),
        depth=2,
        seeds=SEEDS,
        steps=4,
        batch=32,
        repeats=3,
        threads=1,
        task_spec=SPEC,
        loop_peer=True,
    )
    row = out["rows"][0]
    assert row["torch_func_s"] > 0 and row["ours_s"] > 0 and row["peer_s"] > 0
    # the ratio is the median of the alternating repeats' own ratios, within their range
    pairs = [f / o for f, o in zip(row["torch_func_all_s"], row["ours_all_s"])]
    assert row["speedup_torch_func_pairs"] == pairs and len(pairs) == 3
    assert row["speedup_torch_func"] == sorted(pairs)[1]
    assert row["speedup_torch_func_range"] == [min(pairs), max(pairs)]
    assert len(row["speedup_pairs"]) == 3 and row["speedup"] == sorted(row["speedup_pairs"])[1]
    expected = "fused" if _fused_available() else "foreach"
    assert out["torch_func_optimizer"] == expected and out["threads"] == 1


def _fused_available() -> bool:
    p = torch.zeros(2, requires_grad=True)
    try:
        torch.optim.AdamW([p], fused=True).step()
    except (RuntimeError, ValueError):
        return False
    return True


@pytest.mark.parametrize("impl", ["fused", "foreach"])
def test_the_peer_optimizer_is_torch_adamw_and_implementations_agree(task, impl):
    """The peer's AdamW is torch's, with the implementation asked for; fused and foreach train
    the same members to float rounding (the fused kernel is the honest peer, not a different
    optimiser)."""
    if impl == "fused" and not _fused_available():
        pytest.skip("no fused AdamW for float32 on this device")
    torch.set_num_threads(1)
    c = cfg()
    out = bench_train.torch_func_train(task, WIDTH, DEPTH, SEEDS, c, optimizer=impl)
    assert out["optimizer"] == impl
    ref = bench_train.torch_func_train(task, WIDTH, DEPTH, SEEDS, c, optimizer="foreach")
    np.testing.assert_allclose(out["step_loss"], ref["step_loss"], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="best, fused or foreach"):
        bench_train.peer_adamw([torch.zeros(1, requires_grad=True)], c, "sgd")


def test_the_mlp_peer_trains_the_same_network_shape(task):
    """``--model mlp``: the peer is Linear + (Linear, ReLU) x depth + Linear, with as many
    parameters per member as ours, and both train."""
    from learndyn.train.models import build_model

    torch.set_num_threads(1)
    data = TaskTensors.from_task(task)
    peer = bench_train.peer_model(data.d_in, data.d_out, WIDTH, DEPTH, "mlp")
    ours = build_model(bench_train.MLP, data.d_in, data.d_out, WIDTH, DEPTH, [0])
    assert sum(p.numel() for p in peer.parameters()) == ours.param_count()
    out = bench_train.torch_func_train(task, WIDTH, DEPTH, SEEDS, cfg(8), model="mlp")
    assert np.isfinite(out["step_loss"]).all() and (out["train_loss"][:, -1] < out["train_loss"][:, 0]).all()


def test_jobs_cadence_reads_the_config(tmp_path):
    """The bench evaluates at the training jobs' cadence, read from the config it is given."""
    import yaml

    cfg_text = open("config/config.yaml").read()
    config = yaml.safe_load(cfg_text)
    config["train"]["optim"] |= {"eval_every": 37, "eval_samples": 99}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    assert bench_train.jobs_cadence(str(path)) == (37, 99)


def test_compile_harness_trains_like_the_loop(task):
    """The per-step harness of ``--compile-ceiling`` (eager) takes the jobs' steps: the same
    minibatch losses as ``train_ensemble`` of the same ensemble, step for step."""
    steps = 3
    out = bench_train.compiled_step(task, WIDTH, DEPTH, SEEDS, 32, steps, compile=False)
    data = TaskTensors.from_task(task)
    c = TrainConfig(steps=steps + 4, batch_size=32, eval_every=100)
    net = bench_train.build_model(
        bench_train.MODELS["structured"], data.d_in, data.d_out, WIDTH, DEPTH, SEEDS
    )
    ref = bench_train.train_ensemble(net, data, c)
    np.testing.assert_array_equal(out["step_loss"], ref.step_loss)
    assert out["first_s"] > 0 and out["step_ms"] > 0


@pytest.mark.slow
def test_compiled_step_matches_eager(task):
    """torch.compile of the unfused layers gives the eager losses to float rounding (the
    ceiling measurement times the same training)."""
    eager = bench_train.compiled_step(task, WIDTH, DEPTH, SEEDS, 32, 3, compile=False)
    comp = bench_train.compiled_step(task, WIDTH, DEPTH, SEEDS, 32, 3, compile=True)
    np.testing.assert_allclose(comp["step_loss"], eager["step_loss"], rtol=1e-4, atol=1e-6)
