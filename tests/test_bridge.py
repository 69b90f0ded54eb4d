"""The bridge: the empirical kernel of the training half's models against the theory half's
closed form, its decomposition, the kernel measurements, the snapshots saved in training and
the trajectory job (all in float64 where a tolerance is tight)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from learndyn.bridge import metrics
from learndyn.bridge.experiments import run_endpoints, run_trajectory
from learndyn.bridge.kernel import (
    empirical_kernel,
    jacobian_parts,
    kernel_by_path,
    kernel_from_jacobian,
    kernel_parts,
)
from learndyn.bridge.settings import BridgeSettings
from learndyn.data import make_task
from learndyn.theory import fields
from learndyn.train.experiments import CellSettings, MeasureConfig, run_cell
from learndyn.train.loop import TrainConfig, Validation
from learndyn.train.models import build_model, load_trajectory, save_ensemble

THEORY_TOL = 1e-10  # kernel vs the theory half's sum_l Q^(l-1) ⊙ S^(l), relative, float64
PARTS_TOL = 1e-11  # fields route vs per-sample torch.func Jacobians, relative, float64
EXACT = 0.0

SPECS = {
    "mlp": {"kind": "mlp"},
    "snmlp": {"kind": "snmlp", "rho": 1.4},
    "structured": {"kind": "structured", "u_init_std": 0.3},
    "struct_uncapped": {"kind": "structured", "rho": 50.0, "u_init_std": 0.3},
    "struct_inputgate": {"kind": "structured", "gate": "input", "u_init_std": 0.3},
    "struct_post": {"kind": "structured", "post_activation": True, "u_init_std": 0.3},
    "struct_mask": {"kind": "structured", "shaping": "mask"},
    "struct_orth": {"kind": "structured", "shaping": "orthogonal", "rho": 1.3, "u_init_std": 0.3},
    "resmlp": {"kind": "resmlp"},
    "rezero": {"kind": "rezero", "alpha": 0.3},
}
MEASURE = MeasureConfig(
    probe_samples=16,
    hessian_points=2,
    hessian_iters=2,
    jacobian_samples=4,
    robust_samples=16,
    noise_sigmas=(0.0, 0.2),
    fgsm_eps=(0.05,),
)


def bridge_settings(batch_size: int = 32, **bridge) -> BridgeSettings:
    """Settings of a bridge job on the spirals task with the ``bridge`` keys given."""
    return BridgeSettings.from_params(
        {
            "bridge": {"task": "spirals", "models": ["structured", "mlp"], **bridge},
            "validation": {},
            "batch_size": batch_size,
            "claims": {"structured": "structured", "noise_sigma": 0.2, "fgsm_eps": 0.05},
        }
    )


def perturbed(spec, d_in=7, d_out=3, width=6, depth=3, seeds=(0, 1), scale_W=1.7):
    """A small ensemble away from its init (weights scaled and jittered: the cap is active,
    the gates are open), float32 as in training."""
    torch.manual_seed(0)
    model = build_model(spec, d_in, d_out, width, depth, list(seeds))
    with torch.no_grad():
        if hasattr(model, "W"):
            model.W.mul_(scale_W)
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def rel(a, b) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_kernel_equals_theory_closed_form(depth):
    """The kernel of a bias-free ReLU MLP with fixed read-out over its weights equals the theory
    half's K = sum_l Q^(l-1) ⊙ S^(l). EnsembleNet has no 1/sqrt(fan-in) in its forward, so the
    theory's W_l is m^(1/2) A_l (A_l = W_l / sqrt(m), d_in = m, embedding E = I, read-out
    R = a / sqrt(m)) and d f / d W_l = (d f / d A_l) / sqrt(m): K_theory = K_A / m. The theory's
    K has no 1/n (its 1/n sits in the loss)."""
    n, m = 9, 6
    Ws, a = fields.init_network([3], m, [m] * depth)
    X = torch.randn(n, m, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    f = fields.training_fields(Ws, a, X, torch.zeros(1, n))
    K_theory = fields.kernel(f.phi, f.b)[0]

    model = build_model({"kind": "mlp"}, m, 1, m, depth, [0]).double()
    with torch.no_grad():
        model.E.copy_(torch.eye(m)[None])
        model.e_b.zero_()
        model.b.zero_()
        model.W.copy_(torch.stack([W[0] for W in Ws])[None] / math.sqrt(m))
        model.R.copy_(a[0][None, :, None] / math.sqrt(m))
        model.r_b.zero_()
    K = empirical_kernel(model, 0, X, names=("W",)) / m
    assert rel(K, K_theory) <= THEORY_TOL, f"kernel_parts vs theory.fields.kernel: {rel(K, K_theory)}"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_parts_match_per_sample_jacobians(name):
    """Every part (parameter, layer) of the fields route equals the contraction of the per-sample
    torch.func Jacobians, on the training inputs and between test and training inputs."""
    model = perturbed(SPECS[name])
    X = torch.randn(8, 7, generator=torch.Generator().manual_seed(2))
    Z = torch.randn(5, 7, generator=torch.Generator().manual_seed(3))
    for args in ((X,), (Z, X)):
        fast, ref = kernel_parts(model, 1, *args), jacobian_parts(model, 1, *args)
        assert sorted(fast) == sorted(ref)
        for k in ref:
            assert rel(fast[k], ref[k]) <= PARTS_TOL, f"{name} part {k}: {rel(fast[k], ref[k])}"


@pytest.mark.parametrize("name", ["structured", "snmlp", "struct_inputgate", "rezero"])
def test_parts_sum_to_the_whole(name):
    """The parts by (path, block) sum to the kernel of one flattened Jacobian of all outputs over
    all parameters (no parts, no per-sample vmap), and their trace shares sum to one."""
    model = perturbed(SPECS[name])
    X = torch.randn(8, 7, generator=torch.Generator().manual_seed(4))
    parts = kernel_by_path(kernel_parts(model, 0, X), model.depth)
    K = sum(parts.values())
    K_ref = kernel_from_jacobian(model, 0, X)
    assert rel(K, K_ref) <= PARTS_TOL, f"sum of parts vs flattened Jacobian: {rel(K, K_ref)}"
    shares = [metrics.trace_share(P, K) for P in parts.values()]
    assert abs(sum(shares) - 1) <= PARTS_TOL and min(shares) >= 0
    paths = {p for p, _ in parts}
    assert {"embedding", "readout"} <= paths and ("correction" in paths) == SPECS[name]["kind"].startswith(
        ("struct", "rez")
    )


def test_drift_zero_when_weights_do_not_move():
    """Two kernels of the same weights give exactly zero drift, velocity and distance."""
    model = perturbed(SPECS["structured"])
    X = torch.randn(8, 7, generator=torch.Generator().manual_seed(5))
    K_a, K_b = empirical_kernel(model, 0, X), empirical_kernel(model, 0, X)
    assert metrics.kernel_drift(K_b, K_a) == EXACT
    assert abs(metrics.kernel_velocity(K_a, K_b, 1.0)) <= 1e-15


@pytest.mark.parametrize("c", [0.5, 0.9, 1.1, 2.0])
def test_drift_of_a_scaled_deep_linear_network(c):
    """A deep linear network (identity shaping, no activation, gate fixed at 0) with zero biases
    is homogeneous of degree L + 2 in its weight matrices E, W_1..W_L, R, so its weight kernel is
    homogeneous of degree 2 (L + 1): scaling every weight matrix by c gives the closed form
    drift |c^(2 (L + 1)) - 1|."""
    spec = {"kind": "structured", "shaping": "identity", "gate": "fixed", "alpha": 0.0}
    L = 3
    model = build_model(spec, 5, 2, 4, L, [0]).double()
    X = torch.randn(6, 5, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    K0 = empirical_kernel(model, 0, X, names=("E", "W", "R"))
    with torch.no_grad():
        for name in ("E", "W", "R"):
            getattr(model, name).mul_(c)
    Kc = empirical_kernel(model, 0, X, names=("E", "W", "R"))
    expected = abs(c ** (2 * (L + 1)) - 1)
    assert metrics.kernel_drift(Kc, K0) == pytest.approx(expected, rel=1e-12)


def test_alignment_of_the_target_with_itself_is_one():
    y = np.array([0, 1, 2, 1, 0, 2, 2, 1])
    assert metrics.kernel_target_alignment(metrics.target_kernel(y, 3), y, 3) == pytest.approx(1.0, abs=1e-14)
    r = np.random.default_rng(0).normal(size=(8, 2))
    assert metrics.kernel_target_alignment(r @ r.T, r) == pytest.approx(1.0, abs=1e-14)
    assert metrics.centred_alignment(2.0 * r @ r.T, r @ r.T) == pytest.approx(1.0, abs=1e-14)


def test_effective_rank_and_regression_limits():
    """Effective rank n for the identity, 1 for a rank-one kernel; kernel regression with a tiny
    ridge interpolates the training outputs."""
    assert metrics.effective_rank(np.eye(6)) == pytest.approx(6.0)
    v = np.arange(1.0, 7.0)
    assert metrics.effective_rank(np.outer(v, v)) == pytest.approx(1.0, abs=1e-6)
    r = np.random.default_rng(1).normal(size=(6, 10))
    K, f = r @ r.T, np.random.default_rng(2).normal(size=(6, 2))
    np.testing.assert_allclose(metrics.kernel_regression(K, K, f, ridge=1e-12), f, atol=1e-8)


@pytest.fixture(scope="module")
def spirals():
    return make_task("spirals", {"generator": "spirals", "n_train": 96, "n_test": 48, "d": 8, "seed": 3})


def test_snapshots_leave_the_cell_unchanged_and_the_trajectory_runs(spirals, tmp_path):
    """A cell that saves snapshots computes the same numbers as one that does not (bitwise); the
    first snapshot is the init rebuilt from the seeds; the trajectory job starts at zero drift."""
    cfg = TrainConfig(steps=40, batch_size=32, eval_every=10, lr=3e-3)
    v = Validation()
    cell = CellSettings("structured", {"kind": "structured"}, 2, 8, (0, 1), cfg, MEASURE, v)
    plain, _ = run_cell(spirals, cell)
    snap, model = run_cell(spirals, dataclasses.replace(cell, snapshot_every=2))
    for name in plain.data_vars:
        np.testing.assert_array_equal(plain[name].values, snap[name].values, err_msg=name)
    assert model.trajectory["step"].tolist() == [0, 20, 40]
    init = build_model({"kind": "structured"}, model.d_in, model.d_out, 8, 2, [0, 1])
    for k, p in init.named_parameters():
        assert torch.equal(p, model.trajectory["state"][k][:, 0]), k
    save_ensemble(model, tmp_path / "m.pt", name="structured")
    trajectory = load_trajectory(tmp_path / "m.pt")
    ds = run_trajectory(spirals, model, trajectory, bridge_settings(cfg.batch_size, n=16, n_test=8))
    assert float(ds.init_rebuild_error) == EXACT
    np.testing.assert_array_equal(ds.drift.isel(step=0).values, 0.0)
    np.testing.assert_allclose(ds.share_path.sum("path").values, 1.0, atol=1e-12)
    assert np.isfinite(ds.drift_kept.values).all() and np.isfinite(ds.r2_init.values).all()
    assert load_trajectory_none(tmp_path, plain_model(spirals, cfg, v))


def test_endpoints_of_a_cell_with_first_and_last_snapshots(spirals, tmp_path):
    """A cell saving only its first and last snapshots (the population's cells): the endpoint
    job measures the kernel's change to the kept and the last weights; with ``select: last`` the
    two agree exactly, and the Frobenius drift equals the trajectory job's at the kept weights."""
    cfg = dataclasses.replace(TrainConfig(steps=40, batch_size=32, eval_every=10, lr=3e-3), select="last")
    cell = CellSettings("structured", {"kind": "structured"}, 2, 8, (0, 1), cfg, MEASURE, Validation())
    n_eval = cfg.steps // cfg.eval_every + 1
    _, model = run_cell(spirals, dataclasses.replace(cell, snapshot_every=n_eval))
    assert model.trajectory["step"].tolist() == [0, 40]
    save_ensemble(model, tmp_path / "m.pt", name="structured")
    trajectory = load_trajectory(tmp_path / "m.pt")
    settings = bridge_settings(cfg.batch_size, n=16, n_test=8)
    ds = run_endpoints(spirals, {"structured": (model, trajectory)}, settings)
    for v in ("drift", "drift_tn", "cka_dist"):
        np.testing.assert_allclose(ds[f"{v}_kept"].values, ds[f"{v}_last"].values, rtol=1e-12)
        assert (ds[f"{v}_kept"].values > 0).all()
    assert ds.last_step.values.tolist() == [40]
    # the weights' norm change, against numpy on the saved first snapshot and the kept weights
    for s, _ in enumerate(model.seeds):
        kept = np.sqrt(sum((p.detach().double()[s] ** 2).sum().item() for p in model.parameters()))
        first = np.sqrt(sum((v[s, 0].double() ** 2).sum().item() for v in trajectory["state"].values()))
        assert ds.wnorm_kept.values[0, s] == pytest.approx(kept / first - 1, rel=1e-10)
    follow = run_trajectory(spirals, model, trajectory, settings)
    np.testing.assert_allclose(ds.drift_kept.values[0], follow.drift_kept.values, rtol=1e-10)
    np.testing.assert_allclose(ds.cka_dist_last.values[0], follow.cka_dist.isel(step=-1).values, rtol=1e-10)


def plain_model(task, cfg, v):
    _, model = run_cell(task, CellSettings("mlp", {"kind": "mlp"}, 2, 8, (0,), cfg, MEASURE, v))
    return model


def load_trajectory_none(tmp_path, model) -> bool:
    """A cell without snapshots stores no trajectory (its file keeps the old layout)."""
    save_ensemble(model, tmp_path / "plain.pt", name="mlp")
    return load_trajectory(tmp_path / "plain.pt") is None


EFFECTS = ("hessian_top", "test_metric", "noise_metric", "fgsm_metric")


def _toy_family_inputs(rng):
    """Combined and width datasets shaped like the bridge's, with known effects."""
    import xarray as xr

    seeds, steps, paths = np.arange(6), np.array([0, 10]), ["embedding", "linear", "correction", "readout"]
    models = ["structured", "mlp"]
    drift = np.stack([np.full(6, 0.5), np.full(6, 5.0)]) * np.exp(0.1 * rng.normal(size=(2, 6)))
    shape = (2, 6, 2, 4)
    share = rng.uniform(0.1, 0.2, size=shape)
    share[0, :, 1, 2] += 0.1  # the correction share of the structured model grows
    align = rng.uniform(0.3, 0.4, size=shape)
    align[0, :, 1, 2] += 0.2
    combined = xr.Dataset(
        {
            "drift_kept": (("model", "seed"), drift),
            "share_path": (("model", "seed", "step", "path"), share),
            "align_path": (("model", "seed", "step", "path"), align),
            "r2_init": (("model", "seed"), rng.uniform(0.5, 0.6, size=(2, 6))),
            "r2_kept": (("model", "seed"), rng.uniform(0.8, 0.9, size=(2, 6))),
            **{
                v: (("model", "seed"), rng.normal(size=(2, 6)))
                for v in ("hessian_top", "test_metric", "noise_metric", "fgsm_metric")
            },
        },
        coords={"model": models, "seed": seeds, "step": steps, "path": paths},
    )
    widths = np.array([32, 64, 128])
    wdrift = np.stack([w**-0.5 * np.ones((6,)) for w in widths], -1)[None].repeat(2, 0)
    wdrift = wdrift * np.exp(0.01 * rng.normal(size=wdrift.shape))
    width = xr.Dataset(
        {"drift": (("model", "seed", "width"), wdrift)},
        coords={"model": models, "seed": seeds, "width": widths},
    )
    return combined, width


N_ARCH = 20  # architectures of the toy population
CONTINUA = {"toy": ["structured", "pop0", "pop1", "pop2"], "other": ["pop3", "pop4"]}  # 6 of them


def _toy_population(rng, seeds=6):
    """A population dataset shaped like ``report.population``'s: the structured model, the MLP,
    its common-rate copy, an ablation that drifts 10x more, and toy architectures whose mean
    drift and mean test accuracy both rise with their index (a between-model relation) with no
    relation inside a model."""
    import xarray as xr

    names = ["structured", "mlp", "mlp_common", "struct_alpha0"] + [f"pop{i}" for i in range(N_ARCH - 3)]
    level = np.array([0.5, 5.0, 5.0, 5.0] + list(np.linspace(0.5, 5.0, N_ARCH - 3)))
    noise = np.exp(0.1 * rng.normal(size=(len(names), seeds)))
    drift = level[:, None] * noise
    data = {
        f"{v}_{at}": (("model", "seed"), drift)
        for v in ("drift", "drift_tn", "cka_dist")
        for at in ("kept", "last")
    }
    acc = 0.5 + 0.05 * np.log(level)[:, None] + 0.01 * rng.normal(size=(len(names), seeds))
    data |= {
        # the weights' norm change: rises with the architecture's drift (what the check holds fixed)
        "wnorm_kept": (("model", "seed"), 0.1 * drift + 0.01 * rng.normal(size=drift.shape)),
        "test_metric": (("model", "seed"), acc),
        "noise_metric": (("model", "seed"), rng.normal(size=(len(names), seeds))),
        "fgsm_metric": (("model", "seed"), rng.normal(size=(len(names), seeds))),
        "io_norm": (("model", "seed"), rng.normal(size=(len(names), seeds))),
        "lr": (("model",), np.full(len(names), 1e-3)),
        "in_population": (("model",), np.array([n != "mlp_common" for n in names], dtype=int)),
    }
    return xr.Dataset(
        data,
        coords={"model": names, "seed": np.arange(seeds), "last_step": ("model", np.full(len(names), 40))},
    )


def toy_family(rng):
    combined, width = _toy_family_inputs(rng)
    settings = bridge_settings(
        bootstrap=200,
        permutations=999,
        common_rate={"mlp": "mlp_common"},
        ablations=["struct_alpha0"],
        min_units=N_ARCH,
        continua=CONTINUA,
    )
    return combined, width, _toy_population(rng), settings


def test_family_recovers_known_effects_and_holm_adjusts():
    """On synthetic data: the structured model 10x lazier (log10 ratio -1) in every measure, at
    the tuned and the common rate, the ablation 10x less lazy, exponents -1/2, the correction share
    and alignment growing, K_kept better than K_0, the between-architecture relation found with
    the architecture as the unit and no within-model one; Holm p >= raw p."""
    from learndyn.bridge import report

    combined, width, pop, settings = toy_family(np.random.default_rng(0))
    df = report.family(combined, width, pop, settings).set_index("key")
    for key in ("Laziermlp", "LazierTnmlp", "LazierCkamlp", "Commonmlp", "CommonCkamlp"):
        assert df.loc[key, "effect"] == pytest.approx(-1.0, abs=0.1), key
        assert df.loc[key, "verdict"] == "supported", key
    assert df.loc["Ablationstruct_alpha0", "effect"] == pytest.approx(1.0, abs=0.1)
    assert df.loc["Ablationstruct_alpha0", "verdict"] == "supported"
    for m in ("mlp", "structured"):
        assert df.loc[f"Width{m}", "effect"] == pytest.approx(-0.5, abs=0.02)
    assert df.loc["CorrShare", "verdict"] == df.loc["CorrAlign", "verdict"] == "supported"
    assert df.loc["Kernelmlp", "verdict"] == "supported"
    between = df[df["question"] == "between"]
    assert (between["unit"] == "architecture").all() and (between["n_units"] == N_ARCH).all()
    assert df.loc["BetweenTestmetric", "verdict"] == "supported"
    assert df.loc["WithinTestmetric", "verdict"] == "inconclusive"
    assert (df[df["question"] == "within"]["unit"] == "seed").all()
    assert (df["p_holm"].dropna() >= df["p"].dropna() - 1e-15).all()


def test_claims_rows_have_the_ledger_columns_and_units():
    """The ledger rows: the claims ledger's columns plus test_unit and n_units; no between-model
    row below bridge.min_units; the sentence macros follow the verdicts."""
    from learndyn.bridge import report

    combined, width, pop, settings = toy_family(np.random.default_rng(1))
    df = report.family(combined, width, pop, settings)
    checks = report.checks(combined, width, pop, settings, df)
    table = report.claims_table(df, settings, depth=3, width=8, steps=40, checks_df=checks)
    assert list(table.columns) == [*LEDGER_COLUMNS, "test_unit", "n_units", *CHECK_COLUMNS]
    assert set(table["test_unit"]) == {"seed", "architecture"}
    verdict_rows = table[table["family"] == "bridge"]
    assert (
        verdict_rows.loc[verdict_rows["test_unit"] == "architecture", "n_units"].min()
        >= settings.bridge.min_units
    )
    # the sensitivity rows: outside the family, no verdict of their own in the verdict column
    sens = table[table["family"] == report.CHECK_FAMILY]
    assert (
        len(sens) and (sens["verdict"] == "sensitivity").all() and (sens["test_unit"] == "architecture").all()
    )
    words = report.sentence_macros(df, settings)
    assert "changes less than the MLP" in words["LaziermlpSentence"]
    assert "correction path" in words["LazyComponents"]
    assert (
        "positively rank-correlated with the test accuracy across architectures" in words["BetweenSurvivors"]
    )


CHECK_COLUMNS = ("check", "sensitivity_of", "check_verdict", "survives")


def test_checks_collapse_the_continua_and_hold_the_norm_fixed():
    """The sensitivity rows: each continuum one unit (N_ARCH - 6 + 2 units) or left out
    (N_ARCH - 6); the toy's between-architecture relation survives both; the drift follows the
    weight-norm change (the toy makes it so), and the partial rows exist for every between row.
    The sign-flip sentence names exactly the pairs of opposite sign."""
    from learndyn.bridge import report

    combined, width, pop, settings = toy_family(np.random.default_rng(0))
    df = report.family(combined, width, pop, settings)
    checks = report.checks(combined, width, pop, settings, df).set_index("key")
    members = sum(len(v) for v in CONTINUA.values())
    assert (checks.loc[checks["check"] == "collapsed", "n_units"] == N_ARCH - members + len(CONTINUA)).all()
    assert (checks.loc[checks["check"] == "excluded", "n_units"] == N_ARCH - members).all()
    assert checks.loc["BetweenTnTestmetricCollapsed", "survives"] == "yes"
    assert checks.loc["BetweenTnTestmetricExcluded", "survives"] == "yes"
    assert checks.loc["NormTn", "effect"] > 0.9 and checks.loc["NormTn", "check_verdict"] == "supported"
    between = set(df.loc[df["question"] == "between", "key"])
    assert {k.removesuffix("Partial") for k in checks.index if k.endswith("Partial")} == between
    assert (checks["p_holm"] >= checks["p"] - 1e-15).all()
    flips = report.sign_flip_macros(df)
    opposite = [
        k
        for k in between
        if np.sign(df.set_index("key").loc[k, "effect"])
        * np.sign(df.set_index("key").loc["Within" + k.removeprefix("Between"), "effect"])
        < 0
    ]
    assert flips["SignFlipCount"] == len(opposite) and flips["SignPairs"] == len(between)
    macros = report.check_macros(df, checks.reset_index(), settings)
    assert macros["CollapsedUnits"] == N_ARCH - members + len(CONTINUA)


LEDGER_COLUMNS = (
    "family", "claim", "task", "model", "baseline", "depth", "width", "n_seeds", "selection_split",
    "effect", "unit", "low", "high", "p", "p_holm", "verdict", "by_construction", "budget",
)  # fmt: skip


def test_laziness_figure_shows_the_linear_network_and_alpha0_in_their_colours():
    """The laziness figure (``changes``) has a row for the linear network and the alpha = 0
    structured net even when they are not listed as ablations, each drawn in its registry colour."""
    import matplotlib
    import xarray as xr
    from matplotlib.colors import to_hex

    matplotlib.use("Agg")
    from learndyn.bridge import figures
    from learndyn.plotting import style

    names = ["structured", "mlp", "mlp_common", "linear", "struct_alpha0", "pop_rho2"]
    rng = np.random.default_rng(0)
    ds = xr.Dataset(
        {v: (("model", "seed"), rng.uniform(0.1, 1.0, (len(names), 3))) for v in figures.CHANGE_AXES},
        coords={"model": names, "seed": [0, 1, 2]},
    )
    cfg = {"models": ["structured", "mlp"], "common_rate": {"mlp": "mlp_common"}, "ablations": []}
    order = figures.laziness_order(ds, cfg)
    assert order == ["structured", "mlp", "mlp_common", "linear", "struct_alpha0"]
    fig = figures.changes({"population": ds}, cfg)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == order
    colours = [to_hex(c.get_facecolor()[0]) for c in ax.collections]
    assert colours == [style(m).color.lower() for m in order]
