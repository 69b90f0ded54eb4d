"""Cheap tuning: successive halving over the rate grid and the grid's extension beyond an edge
(``experiments.run_tune``), member pruning in the training loop, and the linear baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from learndyn.bench.tune import grid_steps
from learndyn.data import Task
from learndyn.settings import ConfigError
from learndyn.train.experiments import (
    Halving,
    TuneConfig,
    TuneSettings,
    halving_keep,
    lowest_val_loss,
    next_rate,
    run_tune,
)
from learndyn.train.loop import TaskTensors, TrainConfig, Validation, lr_sweep_members, train_ensemble
from learndyn.train.models import build_model

RTOL = 1e-5  # kept members after pruning vs the same members trained without pruning (float32 GEMMs)


def _linear_task(seed=9, n_train=160, d=4) -> Task:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((d, 1))
    x, xt = rng.standard_normal((n_train, d)), rng.standard_normal((40, d))
    noise = 0.01
    y, yt = x @ w + noise * rng.standard_normal((n_train, 1)), xt @ w + noise * rng.standard_normal((40, 1))
    return Task("toy_regression", "regression", x, y, xt, yt, 0)


def test_halving_keep_ranks_and_breaks_ties_to_the_smaller_rate():
    assert halving_keep(np.array([3.0, 1.0, 2.0, np.inf, 0.5]), 0.4).tolist() == [1, 4]
    assert halving_keep(np.array([1.0, 1.0, 2.0]), 0.34).tolist() == [0, 1]  # ceil(1.02) = 2
    assert halving_keep(np.array([1.0, 1.0, 2.0]), 0.3).tolist() == [0]  # tie: the smaller rate
    assert halving_keep(np.array([5.0]), 0.1).tolist() == [0]  # at least one


def test_next_rate_continues_a_one_three_grid_and_a_geometric_one():
    grid = [3e-4, 1e-3, 3e-3, 1e-2, 3e-2]
    assert next_rate(grid, upward=True) == 0.1 and next_rate(grid, upward=False) == 1e-4
    assert next_rate([*grid, 0.1], upward=True) == 0.3
    assert next_rate([1e-4, *grid], upward=False) == 3e-5
    assert next_rate([1e-3, 1e-2], upward=True) == 0.1 and next_rate([1e-3, 1e-2], upward=False) == 1e-4
    assert grid_steps(0.1, 3e-2, grid) == 1 and grid_steps(3e-4, 3e-3, grid) == -2


def test_lowest_val_loss_ignores_nan_and_scores_divergence_inf():
    v = np.array([[3.0, 1.0, np.nan], [2.0, 0.5, 0.1], [np.nan, np.nan, np.nan]])
    out = lowest_val_loss(v, np.array([False, True, False]))
    assert out[0] == 1.0 and np.isinf(out[1]) and np.isinf(out[2])


def test_halving_rule_keeps_whole_rates():
    # 3 rates x 2 seeds; at evaluation 1 rate 1 is best, rate 0 second, rate 2 diverged
    val = np.array([[2.0, 1.0], [2.0, 1.1], [2.0, 0.2], [2.0, 0.3], [2.0, 0.1], [2.0, 0.1]])
    div = np.array([-1, -1, -1, -1, 5, -1])
    rule = Halving(2, (1,), 0.5, np.full(3, -1))
    assert rule(2, np.arange(6), val, div) is None  # not a rung
    kept = rule(1, np.arange(6), val[:, :2], div)
    assert kept.tolist() == [0, 1, 2, 3] and rule.stopped.tolist() == [-1, -1, 1]


@pytest.mark.parametrize("spec", [{"kind": "mlp"}, {"kind": "structured"}])
def test_pruned_training_leaves_the_kept_members_unchanged(spec):
    """Members share nothing: stopping some at an evaluation leaves the others' curves as in the
    run without stopping (to float rounding), and the stopped ones are NaN afterwards."""
    data = TaskTensors.from_task(_linear_task(), validation=Validation(0.25, 0))
    lr, seeds = lr_sweep_members([1e-3, 1e-2, 3e-2], [100, 101])
    cfg = TrainConfig(steps=40, batch_size=16, eval_every=10, select="last")

    def run(prune):
        model = build_model(spec, data.d_in, data.d_out, 8, 2, seeds)
        return train_ensemble(model, data, cfg, lr=torch.as_tensor(lr), prune=prune)

    full = run(None)
    rule = Halving(2, (2,), 0.34, np.full(3, -1))
    cut = run(rule)
    kept = np.flatnonzero(np.isfinite(cut.val_loss[:, -1]))
    assert len(kept) == 4 and (rule.stopped >= 0).sum() == 1
    np.testing.assert_allclose(cut.val_loss[kept], full.val_loss[kept], rtol=RTOL)
    np.testing.assert_allclose(cut.step_loss[kept], full.step_loss[kept], rtol=RTOL)
    stopped = np.setdiff1d(np.arange(6), kept)
    np.testing.assert_allclose(cut.val_loss[stopped, :3], full.val_loss[stopped, :3], rtol=RTOL)
    assert np.isnan(cut.val_loss[stopped, 3:]).all() and np.isnan(cut.step_loss[stopped, 20:]).all()
    with pytest.raises(ValueError, match="select: last"):
        train_ensemble(build_model(spec, data.d_in, data.d_out, 8, 2, seeds), data, TrainConfig(), prune=rule)


def _job(lrs, **tune) -> TuneSettings:
    tcfg = TrainConfig(steps=100, batch_size=32, eval_every=20, select="last")
    return TuneSettings(
        "mlp", {"kind": "mlp"}, 1, 16, TuneConfig(tuple(lrs), (100, 101), **tune), tcfg, Validation(0.25, 0)
    )


def test_halving_chooses_among_the_rates_that_ran_the_whole_budget():
    lrs = (1e-5, 1e-4, 3e-2, 1e3)
    ds = run_tune(_linear_task(), _job(lrs, rungs=(0.4,), keep=0.5)).squeeze()
    budget = dict(zip(ds.lr.values.tolist(), ds.budget.values.tolist()))
    assert budget[3e-2] == 100 and budget[1e3] == 40 and budget[1e-5] == 40
    assert float(ds.chosen_lr) == 3e-2 and int(ds.at_edge) == 0 and int(ds.n_extended) == 0
    assert int(ds.member_steps) == 2 * (100 + 100 + 40 + 40)
    assert np.isnan(ds.val_loss.sel(lr=1e3).values[:, 3:]).all()


def test_an_edge_that_wins_extends_the_grid_until_interior():
    """The grid stops below the good rates: the top edge wins, so rates beyond it are added in
    the same job until one is worse (interior choice) or ``extend`` is spent."""
    ds = run_tune(_linear_task(), _job((1e-3, 3e-3, 1e-2), extend=8)).squeeze()
    assert int(ds.n_extended) >= 1 and ds.sizes["lr"] == 3 + int(ds.n_extended)
    assert float(ds.chosen_lr) > 1e-2 and int(ds.at_edge) == 0
    assert float(ds.chosen_lr) < ds.lr.values.max()  # the last rate added lost
    assert (ds.budget.values == 100).all()
    capped = run_tune(_linear_task(), _job((1e-5, 3e-5, 1e-4), extend=1)).squeeze()
    assert capped.sizes["lr"] == 4 and float(capped.chosen_lr) == 3e-4 and int(capped.at_edge) == 1


def test_tune_config_refuses_bad_rungs():
    with pytest.raises(ConfigError, match="rungs"):
        TuneConfig.from_train({"tune": {"lrs": [1e-3, 1e-2], "seeds": [1], "rungs": [1.5]}})
    with pytest.raises(ConfigError, match="extend"):
        TuneConfig.from_train({"tune": {"lrs": [1e-3], "seeds": [1], "extend": 2}})
    cfg = TuneConfig.from_train({"tune": {"lrs": [1e-3, 1e-2], "seeds": [1], "rungs": [0.5, 0.25]}})
    assert cfg.rungs == (0.25, 0.5) and cfg.rung_evals(TrainConfig(steps=400, eval_every=100)) == (1, 2)


def test_linear_model_is_affine_in_its_input():
    """The linear baseline has no activation: f(x1 + x2) = f(x1) + f(x2) - f(0)."""
    model = build_model({"kind": "linear"}, 5, 3, 8, 4, [0, 1])
    x1, x2 = torch.randn(7, 5), torch.randn(7, 5)
    with torch.no_grad():
        lhs, rhs = model(x1 + x2), model(x1) + model(x2) - model(torch.zeros(7, 5))
    torch.testing.assert_close(lhs, rhs, rtol=1e-4, atol=1e-5)
    mlp = build_model({"kind": "mlp"}, 5, 3, 8, 4, [0, 1])
    with torch.no_grad():
        assert not torch.allclose(mlp(x1 + x2), mlp(x1) + mlp(x2) - mlp(torch.zeros(7, 5)), atol=1e-3)
    W = model.W.detach()  # orthogonal init: W W^T = I, gain 1
    torch.testing.assert_close(W @ W.mT, torch.eye(8).expand_as(W @ W.mT), rtol=0, atol=1e-5)


def test_regret_is_the_chosen_rates_full_budget_score_over_the_best():
    from learndyn.bench.tune import regret

    lrs, score = np.array([1e-3, 3e-3, 1e-2]), np.array([1.2, 1.0, np.inf])
    assert regret(score, lrs, 3e-3) == 0.0
    assert regret(score, lrs, 1e-3) == pytest.approx(0.2)
    assert np.isinf(regret(score, lrs, 1e-2))  # a diverged choice
    assert np.isnan(regret(score, lrs, 3e-2))  # added beyond the reference's grid


def test_pooled_score_takes_the_median_over_both_references_seeds():
    import xarray as xr

    from learndyn.bench.tune import pooled_score

    def ref(values, lrs=(1e-3, 1e-2)):
        values = np.asarray(values, float)
        return xr.Dataset({"best_val_loss": (("lr", "seed"), values)}, coords={"lr": list(lrs)})

    a, b = ref([[1.0, 3.0], [2.0, 2.0]]), ref([[5.0, 0.0], [2.0, 4.0]])
    assert pooled_score(a, b).tolist() == [2.0, 2.0]  # medians of (1, 3, 5, 0) and (2, 2, 2, 4)
    with pytest.raises(ValueError, match="different rates"):
        pooled_score(a, ref([[1.0, 1.0], [1.0, 1.0]], lrs=(1e-3, 3e-2)))


def test_near_tie_and_stability_edge_read_the_tuning_dataset():
    import xarray as xr

    from learndyn.train.report import near_tie, stability_edge

    def tune(score, best, diverged, chosen, budget=(1000, 1000, 1000)):
        ds = xr.Dataset(
            {
                "score": (("task", "model", "lr"), np.asarray(score, float)[None, None]),
                "best_val_loss": (("task", "model", "lr", "seed"), np.asarray(best, float)[None, None]),
                "diverged": (("task", "model", "lr", "seed"), np.asarray(diverged, float)[None, None]),
                "budget": (("task", "model", "lr"), np.asarray(budget, float)[None, None]),
                "chosen_lr": (("task", "model"), np.array([[chosen]])),
            },
            coords={"task": ["t"], "model": ["m"], "lr": [1e-3, 1e-2, 1e-1], "seed": [100, 101]},
        )
        return ds

    no_div = np.zeros((3, 2))
    close = tune(
        [1.0, 1.05, np.inf], [[0.9, 1.1], [1.0, 1.1], [np.inf, np.inf]], [[0, 0], [0, 0], [1, 1]], 1e-3
    )
    assert near_tie(close, "t", "m")  # gap 0.05 < the chosen rate's seed range 0.2
    assert not stability_edge(close, "t", "m")  # the next rate up (1e-2) did not diverge
    apart = tune([1.0, 2.0, 3.0], [[0.99, 1.01], [2.0, 2.0], [3.0, 3.0]], no_div, 1e-2 / 10)
    assert not near_tie(apart, "t", "m")
    edge = tune([2.0, 1.0, np.inf], [[2.0, 2.0], [1.0, 1.0], [np.inf, 5.0]], [[0, 0], [0, 0], [1, 0]], 1e-2)
    assert stability_edge(edge, "t", "m")
