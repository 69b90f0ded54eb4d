"""The truncation hierarchy (truncation levels and drift diagnostics): level 2's local order
in t, exactness of every level where it must be exact, the horizon, the switch fraction, the
smooth control and split invariance."""

import numpy as np
import torch

from learndyn.data import make_task
from learndyn.stats import exponent_interval
from learndyn.theory import hierarchy
from learndyn.theory.dynamics import ntk_residual
from learndyn.theory.experiments import load_problem
from learndyn.theory.fields import init_network, kernel, training_fields
from learndyn.theory.flows import fields_along, hybrid_flow, weight_flow
from learndyn.theory.integrate import Settings
from learndyn.theory.levels import flows_per_run, level_seed_count, runs_level, seeds_at, widths_at
from learndyn.theory.settings import DepthRun

SETTINGS = Settings(rtol=1e-12, atol=1e-14)
EXACT_TOL = 1e-8  # relative residual error of a closure exact by construction, at rtol 1e-12


def problem(n=8, seed=0):
    task = make_task("digits01", {"generator": "digits", "classes": [0, 1], "n_test": 90, "seed": 5})
    return load_problem(task, n, seed)


def r_weight(Ws, a, p, times):
    wf = weight_flow(Ws, a, p.X, p.y, times, SETTINGS)
    return torch.stack([F.r for F in fields_along(wf["W"], a, p.X, p.y)]), wf["stats"]


def test_level_two_error_is_higher_order_in_t_than_level_one():
    """L = 3, no mask switch in the window: against the exact hybrid closure, level 1's fields err by
    O(t^2) (operators off by O(t)) and level 2's by O(t^3) (operators off by O(t^2))."""
    p = problem()
    Ws, a = init_network([1], p.d, [16] * 3)
    ts = torch.tensor([0.0, 0.005, 0.01, 0.02, 0.04], dtype=torch.float64)
    exact = hybrid_flow(Ws, a, p.X, p.y, ts, SETTINGS, level=None)
    assert exact["stats"].events == 0 and exact["stats"].slides == 0, "a mask switched: shorten the window"
    slopes = {}
    for level in (1, 2):
        out = hybrid_flow(Ws, a, p.X, p.y, ts, SETTINGS, level=level)
        err = torch.stack(
            [sum((x[t] - y[t]).abs().max() for x, y in zip(out["h"], exact["h"])) for t in range(len(ts))]
        )
        slopes[level] = np.polyfit(np.log(ts[1:].numpy()), np.log(err[1:].numpy()), 1)[0]
    assert abs(slopes[1] - 2.0) < 0.15, slopes
    assert abs(slopes[2] - 3.0) < 0.15, slopes


def test_every_level_is_exact_at_depth_one_and_level_two_at_depth_two():
    """Levels 1 and 2 equal weight-space flow at L = 1 through mask switches (no operator enters),
    level 2 at L = 2 (only W_2 is an operator and its rate holds no frozen conjugate); level 1 at
    L = 2 does not."""
    p = problem()
    times = torch.linspace(0, 3, 4, dtype=torch.float64)
    for L, exact_levels in ((1, (1, 2)), (2, (2,))):
        Ws, a = init_network([0], p.d, [16] * L)
        r_w, stats = r_weight(Ws, a, p, times)
        assert stats.events > 0, "the window should contain mask switches"
        for level in exact_levels:
            out = hybrid_flow(Ws, a, p.X, p.y, times, SETTINGS, level=level)
            err = hierarchy.relative_residual_error(out["r"], r_w).max()
            assert err < EXACT_TOL, f"level {level} at L = {L}: {err:.2e}"
    out = hybrid_flow(Ws, a, p.X, p.y, times, SETTINGS, level=1)
    assert hierarchy.relative_residual_error(out["r"], r_w).max() > 1e3 * EXACT_TOL


def test_level_zero_is_exact_at_depth_one_until_a_mask_switches():
    """At L = 1, K = G ⊙ C changes only when a unit flips: before the first switch the frozen
    kernel is exact; once masks have switched it is not."""
    p = problem()
    Ws, a = init_network([0], p.d, [16])
    short = torch.tensor([0.0, 0.01, 0.02], dtype=torch.float64)
    r_w, stats = r_weight(Ws, a, p, short)
    assert stats.events == 0
    F0 = training_fields(Ws, a, p.X, p.y)
    assert (
        hierarchy.relative_residual_error(ntk_residual(kernel(F0.phi, F0.b), F0.r, short), r_w).max()
        < EXACT_TOL
    )
    long = torch.linspace(0, 3, 4, dtype=torch.float64)
    r_w, stats = r_weight(Ws, a, p, long)
    assert stats.events > 0
    assert hierarchy.relative_residual_error(ntk_residual(kernel(F0.phi, F0.b), F0.r, long), r_w).max() > 1e-4


def test_loss_drop_horizon_closed_form_and_plateau():
    """K = diag(λ): the remaining loss sum c_i^2 exp(-2 λ_i t / n) hits (1 - drop) at the bisected t;
    weight on a zero eigenvalue that keeps the loss above target gives the cap (plateau)."""
    n = 2
    K = np.diag([2.0, 2.0])
    t = hierarchy.loss_drop_horizon(K, np.array([1.0, 1.0]), 0.9, 100.0)
    assert abs(t - np.log(10.0) * n / (2 * 2.0)) < 1e-10
    K = np.diag([2.0, 0.0])
    assert hierarchy.loss_drop_horizon(K, np.array([1.0, 1.0]), 0.9, 50.0) == 50.0
    assert hierarchy.loss_drop_horizon(K, np.array([1.0, 1.0]), 0.4, 50.0) < 50.0


def test_switch_fraction_on_a_hand_built_case():
    """Two layers, one seed: 1 of 4 and 2 of 6 entries differ from t = 0 -> 3/10."""
    D0 = [torch.tensor([[[1.0, 0.0], [1.0, 1.0]]]), torch.tensor([[[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]]])]
    Dt = [torch.tensor([[[1.0, 1.0], [1.0, 1.0]]]), torch.tensor([[[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]])]
    assert torch.allclose(hierarchy.switch_fraction(D0, Dt), torch.tensor([0.3], dtype=torch.float64))
    assert hierarchy.switch_fraction(D0, D0).item() == 0.0


def test_exponent_interval_recovers_a_noisy_power_law_and_drops_points_under_the_floor():
    rng = np.random.default_rng(0)
    x = np.array([32, 64, 128, 256, 512, 1024], float)
    y = 2.0 * x**-0.75 * np.exp(rng.normal(0, 0.1, (20, len(x))))
    ex = exponent_interval(x, y)
    assert ex.low < -0.75 < ex.high and ex.high - ex.low < 0.1 and ex.n_seeds == 20
    y[:, -2:] = 1e-13  # at the floor: a fit through them would be much steeper
    ex = exponent_interval(x, y, min_value=1e-11)
    assert ex.low < -0.75 < ex.high and ex.x_max == 256
    ex = exponent_interval(x, np.full_like(y, 1e-13), min_value=1e-11)
    assert np.isnan(ex.mean) and ex.n_seeds == 0


def test_smooth_kernel_is_the_autodiff_ntk():
    """The GELU net's K = sum Q ⊙ S (with σ' in b) equals J J^T from torch.func."""
    p = problem()
    Ws, a = init_network([3], p.d, [12, 12])
    phi, b, r = hierarchy.smooth_fields(Ws, a, p.X, p.y)
    K = kernel(phi, b)[0]

    def f(*W):
        return hierarchy.smooth_fields([w.unsqueeze(0) for w in W], a, p.X, p.y)[2][0]

    J = torch.func.jacrev(f, argnums=(0, 1))(*[W[0] for W in Ws])
    J = torch.cat([j.flatten(1) for j in J], 1)
    assert (K - J @ J.T).abs().max() / K.abs().max() < 1e-12


def test_depth_job_does_not_depend_on_how_seeds_and_widths_are_split():
    p = problem()
    settings = dict(
        depth=2,
        levels=(0, 1, 2),
        loss_drop=0.5,
        t_max=0.5,
        n_times=3,
        integrator=Settings(rtol=1e-8, atol=1e-10),
        gram_max_width=16,
        floor_max_width=16,
    )
    both = hierarchy.run_depth(p, DepthRun(widths=(8, 16), seeds=(0, 1), **settings))
    parts = [
        hierarchy.run_depth(p, DepthRun(widths=(m,), seeds=(s,), **settings)) for m in (8, 16) for s in (0, 1)
    ]
    for part in parts:
        sel = dict(width=part.width.values, seed=part.seed.values)
        for name in ("err", "loss", "horizon", "switch_fraction", "gram_drift"):
            np.testing.assert_array_equal(both[name].sel(**sel).values, part[name].values)


def test_shared_horizon_is_one_time_per_depth_from_the_smallest_width():
    """Rule "shared": every width and seed of the depth runs to the median over seeds of the level-0
    loss-drop time at the smallest width; the level-0 loss there has fallen by loss_drop at it."""
    p = problem()
    run = DepthRun(
        depth=1,
        widths=(8, 16),
        seeds=(0, 1, 2),
        levels=(0,),
        loss_drop=0.2,
        t_max=50.0,
        n_times=3,
        integrator=Settings(rtol=1e-8, atol=1e-10),
        gram_max_width=0,
        floor_max_width=0,
        horizon_rule="shared",
    )
    ds = hierarchy.run_depth(p, run)
    own = []
    for seed in run.seeds:
        Ws, a = init_network([seed], p.d, [8], p.X.device)
        F0 = training_fields(Ws, a, p.X, p.y)
        own.append(hierarchy.loss_drop_horizon(kernel(F0.phi, F0.b)[0].numpy(), F0.r[0].numpy(), 0.2, 50.0))
    assert np.all(ds.horizon.values == np.median(own)) and ds.attrs["horizon_rule"] == "shared"
    assert len(set(own)) == 3  # the seeds' own times differ: the shared time is a choice, not a tie


def test_levels_max_width_caps_the_levels_that_truncate_only():
    assert runs_level(1, 3, 64, 0, 64) and not runs_level(1, 3, 128, 0, 64) and runs_level(0, 3, 4096, 0, 64)
    assert runs_level(1, 1, 32, 64, 16)  # the exact floor runs keep their own cap
    assert flows_per_run((0, 1, 2), 3, 128, 0, 64) == 1 and flows_per_run((0, 1, 2), 3, 64, 0, 64) == 3


def test_which_runs_exist():
    assert runs_level(0, 3, 512, 64) and runs_level(1, 3, 512, 64) and runs_level(2, 3, 512, 64)
    assert not runs_level(2, 2, 32, 64) and not runs_level(1, 1, 128, 64) and runs_level(1, 1, 64, 64)
    assert flows_per_run((0, 1, 2), 3, 32, 64) == 3 and flows_per_run((0, 1, 2), 1, 32, 64) == 2
    tr = {
        "depths": [1, 2],
        "max_widths": [64, 32],
        "widths": [16, 32, 64],
        "second_n": {"n": 64, "depth": 1, "widths": [8]},
    }
    assert (
        widths_at(tr, 2) == [16, 32] and widths_at(tr, 1, 64) == [8] and widths_at(tr, 1, 32) == [16, 32, 64]
    )


def test_depth_seeds_and_level_seeds_choose_the_runs():
    """depth_seeds: the first k seeds at each depth (level 0); level_seeds: the levels >= 1 only on
    the first of those; the runs made are those of a full job restricted to them."""
    tr = {"depths": [1, 3], "seeds": [0, 1, 2, 3], "depth_seeds": [2, 4], "level_seeds": 1}
    assert seeds_at(tr, 1) == [0, 1] and seeds_at(tr, 3) == [0, 1, 2, 3]
    assert level_seed_count(tr, 3) == 1 and level_seed_count({**tr, "level_seeds": 9}, 1) == 2
    assert seeds_at({"depths": [1], "seeds": [5, 6]}, 1) == [5, 6]
    p = problem()
    settings = dict(
        depth=2,
        widths=(8,),
        levels=(0, 1),
        loss_drop=0.5,
        t_max=0.5,
        n_times=3,
        integrator=Settings(rtol=1e-8, atol=1e-10),
        gram_max_width=0,
        floor_max_width=0,
    )
    full = hierarchy.run_depth(p, DepthRun(seeds=(0, 1), **settings))
    cut = hierarchy.run_depth(p, DepthRun(seeds=(0, 1), level_seeds=1, **settings))
    np.testing.assert_array_equal(cut.err.sel(level=0).values, full.err.sel(level=0).values)
    np.testing.assert_array_equal(cut.err.sel(level=1, seed=0).values, full.err.sel(level=1, seed=0).values)
    assert np.isnan(cut.err.sel(level=1, seed=1).values).all()
    assert np.isfinite(full.err.sel(level=1, seed=1)).all()
