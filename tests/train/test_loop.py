"""Batched-ensemble training: optimisers vs torch.optim, ensemble vs per-seed loop,
determinism, divergence handling and checkpoint resume."""

import numpy as np
import pytest
import torch

from learndyn.data import make_task
from learndyn.io import open_dataset, write_netcdf
from learndyn.train.experiments import (
    CELL_DIMS,
    CellSettings,
    LRSweepConfig,
    MeasureConfig,
    SweepSettings,
    run_cell,
    run_lr_sweep,
)
from learndyn.train.grid import cells
from learndyn.train.loop import TaskTensors, TrainConfig, train_ensemble
from learndyn.train.metrics import chance_loss, stable_lr, stable_lr_index
from learndyn.train.models import build_model
from learndyn.train.optim import BatchedOptimizer, lr_factor

OPT_TOL = 1e-6  # batched optimiser vs torch.optim, float32
ENSEMBLE_TOL = 1e-4  # batched ensemble vs per-seed loop (bmm summation order differs)

MEASURE = MeasureConfig(
    **{
        "probe_samples": 32,
        "hessian_points": 2,
        "hessian_iters": 3,
        "jacobian_samples": 4,
        "robust_samples": 32,
        "noise_sigmas": (0.0, 0.2),
        "fgsm_eps": (0.05,),
    }
)


@pytest.fixture(scope="module")
def spirals():
    return make_task("spirals", {"generator": "spirals", "n_train": 128, "n_test": 64, "d": 8, "seed": 3})


@pytest.fixture(scope="module")
def regression():
    return make_task(
        "lc", {"generator": "linear_correction", "n_train": 128, "n_test": 64, "d": 6, "seed": 1}
    )


@pytest.mark.parametrize("optimizer,fused", [("adamw", True), ("adamw", False), ("sgd", False)])
def test_batched_optimizer_matches_torch(optimizer, fused):
    """Three members, learning rates (a, a, b) = three torch optimisers (single-tensor path) on
    separate copies; the fused AdamW kernel runs once per run of equal rates."""
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(3, 4, 3))
    copies = [torch.nn.Parameter(p.detach()[i].clone()) for i in range(3)]
    lrs = [1e-2, 1e-2, 3e-2]
    cfg = TrainConfig(optimizer=optimizer, weight_decay=0.1, momentum=0.9)
    ours = BatchedOptimizer([p], torch.tensor(lrs), cfg, fused=fused)
    assert [(a, b) for a, b, _ in ours.lr_runs] == [(0, 2), (2, 3)]
    assert [lr for *_, lr in ours.lr_runs] == pytest.approx([1e-2, 3e-2])
    if optimizer == "adamw":
        ref = [
            torch.optim.AdamW([c], lr=lr, weight_decay=0.1, betas=cfg.betas, eps=cfg.eps, foreach=False)
            for c, lr in zip(copies, lrs)
        ]
    else:
        ref = [torch.optim.SGD([c], lr=lr, weight_decay=0.1, momentum=0.9) for c, lr in zip(copies, lrs)]
    for step in range(5):
        g = torch.randn(3, 4, 3)
        p.grad = g.clone()
        ours.step(factor=0.5 if step == 2 else 1.0)
        for i in range(3):
            copies[i].grad = g[i].clone()
            for group in ref[i].param_groups:
                group["lr"] = lrs[i] * (0.5 if step == 2 else 1.0)
            ref[i].step()
    for i in range(3):
        torch.testing.assert_close(
            p.detach()[i], copies[i].detach(), atol=OPT_TOL, rtol=OPT_TOL, msg=f"{optimizer} member {i}"
        )


def test_lr_schedule_limits():
    assert lr_factor(0, 100, 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 100, 0.1) == pytest.approx(1.0)
    assert lr_factor(99, 100, 0.1) == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "structured"},
        {"kind": "mlp"},
        {"kind": "structured", "shaping": "orthogonal", "gate": "input"},
    ],
)
def test_ensemble_equals_per_seed_loop(spirals, spec):
    """Training seeds [0, 1, 2] together gives each seed's numbers from training it alone."""
    data = TaskTensors.from_task(spirals)
    cfg = TrainConfig(steps=30, batch_size=32, eval_every=10)
    together = train_ensemble(build_model(spec, data.d_in, data.d_out, 8, 3, [0, 1, 2]), data, cfg)
    for i, seed in enumerate([0, 1, 2]):
        alone = train_ensemble(build_model(spec, data.d_in, data.d_out, 8, 3, [seed]), data, cfg)
        np.testing.assert_allclose(
            together.train_loss[i],
            alone.train_loss[0],
            rtol=ENSEMBLE_TOL,
            atol=ENSEMBLE_TOL,
            err_msg=f"{spec} seed {seed}",
        )
        np.testing.assert_allclose(
            together.step_loss[i],
            alone.step_loss[0],
            rtol=ENSEMBLE_TOL,
            atol=ENSEMBLE_TOL,
            err_msg=f"{spec} seed {seed}",
        )


def test_deterministic(regression):
    data = TaskTensors.from_task(regression)
    cfg = TrainConfig(steps=20, batch_size=32, eval_every=10)
    runs = [
        train_ensemble(build_model({"kind": "structured"}, data.d_in, data.d_out, 8, 2, [0, 1]), data, cfg)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0].step_loss, runs[1].step_loss)
    np.testing.assert_array_equal(runs[0].test_metric, runs[1].test_metric)


def test_divergence_recorded_and_cell_completes(spirals, tmp_path):
    """A huge SGD learning rate diverges: recorded per seed, NaN numbers, dataset written."""
    cfg = TrainConfig(optimizer="sgd", lr=1e4, steps=20, batch_size=32, eval_every=10)
    cell = run_cell(spirals, CellSettings("mlp", {"kind": "mlp"}, 3, 8, (0, 1), cfg, MEASURE))[0]
    ds = cell.squeeze(list(CELL_DIMS), drop=True)
    assert ds.diverged.values.tolist() == [1, 1]
    assert (ds.diverged_step.values >= 0).all()
    assert np.isnan(ds.test_metric.values[:, -1]).all()
    for name in ("final_test_metric", "gen_gap", "selected_epoch", "late_improvement"):
        assert np.isnan(ds[name].values).all(), name
    write_netcdf(cell, tmp_path / "cell.nc", config={}, seeds=[0, 1])
    assert open_dataset(tmp_path / "cell.nc").diverged.values.ravel().tolist() == [1, 1]


@pytest.mark.parametrize(
    "spec", [{"kind": "mlp"}, {"kind": "structured"}, {"kind": "structured", "shaping": "orthogonal"}]
)
def test_divergence_isolated_per_member(spirals, spec):
    """In an LR sweep the diverging rates do not disturb the stable ones."""
    cfg = TrainConfig(optimizer="sgd", steps=20, batch_size=32, eval_every=10)
    sweep = LRSweepConfig(("spirals",), ("m",), "sgd", (0.01, 1e4), 20, (0, 1))
    ds = run_lr_sweep(spirals, SweepSettings("m", spec, 2, 8, sweep, cfg)).squeeze(list(CELL_DIMS), drop=True)
    assert ds.diverged.sel(lr=1e4).values.tolist() == [1, 1]
    assert ds.diverged.sel(lr=0.01).values.tolist() == [0, 0]
    assert np.allclose(ds.stable_lr.values, 0.01)
    assert ds.stable_index.values.tolist() == [0, 0]
    data = TaskTensors.from_task(spirals)
    assert float(ds.chance_loss) == pytest.approx(chance_loss(data.y_train, "classification"))
    alone = train_ensemble(
        build_model(spec, data.d_in, data.d_out, 8, 2, [0, 1]),
        data,
        TrainConfig(optimizer="sgd", lr=0.01, steps=20, batch_size=32, eval_every=10),
    )
    np.testing.assert_allclose(ds.final_loss.sel(lr=0.01).values, alone.train_loss[:, -1], rtol=ENSEMBLE_TOL)


def test_stable_lr_rule():
    """Largest rate that neither diverged nor ended at or above min(initial, chance) loss
    (``metrics.stable_lr``, moved out of the loop); a chance loss above every initial loss
    leaves the initial-loss rule, a lower one also rejects runs that only reach chance."""
    lrs = [0.1, 1.0, 10.0]
    div = np.array([[False, False], [False, True], [True, True]])
    final = np.array([[0.5, 0.5], [0.4, np.nan], [np.nan, np.nan]])
    initial = np.ones((3, 2))
    np.testing.assert_array_equal(stable_lr(lrs, div, final, initial, 2.0), [1.0, 0.1])
    np.testing.assert_array_equal(stable_lr_index(lrs, div, final, initial, 2.0), [1, 0])
    np.testing.assert_array_equal(stable_lr(lrs, div, final, initial, 0.45), [1.0, np.nan])
    np.testing.assert_array_equal(stable_lr_index(lrs, div, final, initial, 0.45), [1, -1])


def test_checkpoint_resume_matches_uninterrupted(regression, tmp_path):
    data = TaskTensors.from_task(regression)
    cfg = TrainConfig(steps=30, batch_size=32, eval_every=5, checkpoint_every=10)
    spec = {"kind": "structured"}
    full = train_ensemble(build_model(spec, data.d_in, data.d_out, 8, 2, [0, 1]), data, cfg)

    class Killed(Exception):
        pass

    def kill_at_step_25(model, d, i_eval):
        if i_eval == 5:
            raise Killed
        return {}

    ck = tmp_path / "ck.pt"
    with pytest.raises(Killed):
        train_ensemble(
            build_model(spec, data.d_in, data.d_out, 8, 2, [0, 1]),
            data,
            cfg,
            probe_fn=kill_at_step_25,
            checkpoint=ck,
            key="k",
        )
    assert ck.exists()
    resumed = train_ensemble(
        build_model(spec, data.d_in, data.d_out, 8, 2, [0, 1]), data, cfg, checkpoint=ck, key="k"
    )
    np.testing.assert_allclose(resumed.step_loss, full.step_loss, rtol=1e-6)
    np.testing.assert_allclose(resumed.test_metric, full.test_metric, rtol=1e-6)
    assert not ck.exists(), "checkpoint removed after a completed run"


def test_cells_union_of_studies():
    cfg = {
        "depth": 4,
        "width": 8,
        "studies": {
            "a": {"tasks": ["t"], "models": ["m", "n"]},
            "b": {"tasks": ["t"], "models": ["m"], "depths": [2, 4]},
        },
    }
    assert cells(cfg) == [("t", "m", 2, 8), ("t", "m", 4, 8), ("t", "n", 4, 8)]


def test_gather_rows_equals_advanced_indexing():
    from learndyn.train.loop import gather_rows

    gen = torch.Generator().manual_seed(0)
    idx = torch.randint(0, 50, (3, 7), generator=gen)
    for t in (torch.randn(50, 11, generator=gen), torch.randint(0, 10, (50,), generator=gen)):
        out = gather_rows(t, idx)
        assert out.shape == t[idx].shape
        assert torch.equal(out, t[idx])


def test_fused_stack_runs_gelu_on_contiguous_preactivations():
    """GELU and its backward leave the vectorised kernel on a strided view (7-8x slower); the
    fused forward hands them a contiguous tensor, and the path that keeps the layers' inputs and
    pre-activations for the backward pass gives the same output as the one that does not."""
    from learndyn.train.fused import structured_stack_forward

    S, L, d, r, B = 2, 3, 6, 2, 5
    gen = torch.Generator().manual_seed(1)
    AV, bc = torch.randn(S, L, d + r, d, generator=gen), torch.randn(S, L, d + r, generator=gen)
    Ua, h = torch.randn(S, L, d, r, generator=gen), torch.randn(S, B, d, generator=gen)
    H, PRE, Z = torch.empty(L, S, B, d), torch.empty(L, S, B, r), torch.empty(L, S, B, r)
    H[0] = h
    out = structured_stack_forward(h, AV, bc, Ua, (H, PRE, Z))
    assert torch.equal(out, structured_stack_forward(h, AV, bc, Ua))
    assert all(PRE[l].is_contiguous() for l in range(L))
    assert torch.equal(Z, torch.nn.functional.gelu(PRE))
    h1 = torch.baddbmm(bc[:, 0, None], h, AV[:, 0].mT)
    assert torch.equal(PRE[0], h1[..., d:])  # V_1 h_0 + c_1


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "rezero", "alpha": 0.0},  # learned gate, no power-iteration buffer
        {"kind": "structured", "shaping": "orthogonal"},  # A computed from W (Cayley)
        {"kind": "structured", "shaping": "identity"},
        {"kind": "structured"},
        {"kind": "mlp"},
    ],
)
def test_curves_evaluate_the_current_weights(spec):
    """Every evaluation along training reads the weights of that step: the last point of the
    curves equals a fresh evaluation of the final weights. (The fused AdamW kernel does not bump
    the parameters' version counters; the evaluation's operator cache is keyed on them, and
    without the optimiser's bump ReZero's gate and the orthogonal shaping stayed at their
    values of the first evaluation.)"""
    from learndyn.train.loop import evaluate

    task = make_task("toy", {"generator": "spirals", "n_train": 256, "n_test": 64, "d": 8, "seed": 0})
    data = TaskTensors.from_task(task)
    model = build_model(spec, data.d_in, data.d_out, 8, 2, [0, 1])
    cfg = TrainConfig(steps=40, batch_size=32, eval_every=20, lr=3e-2, select="last")
    res = train_ensemble(model, data, cfg)
    model._operators_cache = None  # a fresh evaluation computes the operators anew
    fresh = evaluate(model, data, cfg.eval_samples)
    np.testing.assert_array_equal(res.test_loss[:, -1], fresh["test_loss"].numpy())
    assert not np.array_equal(res.test_loss[:, -1], res.test_loss[:, 0])
