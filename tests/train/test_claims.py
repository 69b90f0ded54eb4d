"""The claims registry and ``claims_table`` against a synthetic study with known effects.

The cells are random for every model, except that the structured model is built from the mlp
baseline with a known per-(task, seed) effect on exactly the slice each claim reads (last eval
step, final stage, the configured noise sigma / FGSM eps at the matched evaluation, the gradient
direction at h_L, the deepest depth ...). Everywhere else structured equals mlp (or, for the
robustness curves, is far from it), so reading a wrong slice changes the effect.

The table has one row per (claim, baseline, task); the tests recompute effects, intervals,
p-values (t-test by hand, exact sign-flip by enumeration), Holm's adjustment (statsmodels) and
the verdicts independently of ``learndyn.stats``.
"""

import itertools
import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats
from statsmodels.stats.multitest import multipletests

from learndyn.train.claims import (
    BY_CONSTRUCTION,
    CLAIMS,
    DROPPED,
    EQUIVALENT,
    EXCLUDED,
    FAMILIES,
    LEDGER_COLUMNS,
    NOT_EQUIVALENT,
    Context,
    alpha_label,
    changed_verdicts,
    claim,
    claims_table,
)

EFFECT_TOL = 1e-10  # effect vs. the mean paired difference built in (float64 round-off)
CI_TOL = 1e-10  # CI bounds vs. an independent Student-t interval
P_TOL = 1e-9  # p-values vs. an independent computation (relative)
NOISE_SCALE = 0.005  # per-(task, seed) noise on the built effects; effects are >= 8x larger

EXPECTED_KEYS = [
    "GradFlow",
    "Conditioning",
    "Sensitivity",
    "NoiseRobust",
    "FgsmRobust",
    "LayerRobust",
    "LossTV",
    "StableLR",
    "DepthScaling",
    "WidthScaling",
    "Accuracy",
    "RegressionMSE",
    "GenGap",
    "FixedPoint",
]

CLASSIFICATION, REGRESSION = ["spirals", "digits"], ["sine"]
TASKS = CLASSIFICATION + REGRESSION
MODELS = ["mlp", "resmlp", "structured"]
DEPTHS, WIDTHS, SEEDS = [2, 4, 8], [16, 32, 64], [0, 1, 2, 3, 4]
DEPTH, WIDTH = 4, 32
STAGES = ["init", "final"]
NOISE_SIGMAS, FGSM_EPS = [0.0, 0.2], [0.05, 0.1]
DIRECTIONS, LAYER_H = ["gradient", "random"], [0, 2, 4, 8]
LR_TASKS, LR_SEEDS = ["digits"], list(range(16))
RHOS, ALPHAS, FP_SEEDS = [0.5, 0.95, np.inf], [0.0, 0.1, 0.3], list(range(16))
ALPHA = 0.05

# matched robustness: clean VALIDATION accuracy curves over four evaluations (the same for every
# task and seed), the kept weights at the last evaluation. The level is the highest validation
# accuracy every seed of both models reaches, 0.8: the structured model is read at evaluation 2,
# the baselines at evaluation 3 (their last). LOOSE: a (task, seed) whose structured curve jumps
# over the level (0.4 -> 0.95): it is read at evaluation 3, 0.15 above the level (more than the
# tolerance: a loose match, noted), and still counts (n = 5, n_dropped = 0). The clean TEST
# curves are the validation curves in reverse order: a matching that read them would pick other
# evaluations.
EVAL_STEPS = [0, 50, 100, 150]
CLEAN_BASELINE = [0.2, 0.5, 0.7, 0.8]
CLEAN_STRUCTURED = [0.2, 0.6, 0.8, 0.95]
CLEAN_LOOSE = [0.2, 0.3, 0.4, 0.95]
I_STRUCTURED, I_BASELINE, I_LOOSE = 2, 3, 3
LOOSE = ("digits", SEEDS[-1])
MATCH_TOLERANCE = 0.05

CFG = {
    "studies": {
        "main": {"tasks": TASKS, "models": MODELS},
        "depth": {"tasks": ["spirals"], "models": ["mlp", "structured"], "depths": DEPTHS},
        "width": {"tasks": ["digits"], "models": ["mlp", "structured"], "widths": WIDTHS},
    },
    "depth": DEPTH,
    "width": WIDTH,
    "seeds": SEEDS,
    "claims": {
        "structured": "structured",
        "baselines": ["mlp", "resmlp"],
        "confidence": 0.95,
        "alpha": ALPHA,
        "noise_sigma": 0.2,
        "fgsm_eps": 0.05,
        "match_tolerance": MATCH_TOLERANCE,
        "fixed_point_rho": 0.95,
        "min_seeds": len(SEEDS),
        "converged_share": 0.9,
        "favourable_tasks": [],
        "exclude": [],
        "equivalence": {"baselines": ["resmlp"], "margin": 0.5},
    },
}
FIXED_TASK = "sine"  # every run on it is still improving at the end of its budget: fixed-budget

# Built-in effects (structured - mlp, in the claim's units, per task) and the verdicts they imply.
GRAD_FLOW = -0.05  # slope of |log10 g0/gL| against L (decades per layer): smaller
CONDITIONING = 0.0  # zero-mean noise only: inconclusive
CONDITIONING_WEAK = -0.01  # on the regression task: raw p < 0.05, but not after Holm (inconclusive)
SENSITIVITY = -0.2
NOISE_ROBUST = 0.05  # accuracy change under noise at matched clean accuracy
FGSM_ROBUST = 0.04
LAYER_ROBUST = -0.1
LOSS_TV = -0.15
ACCURACY = 0.1  # at the default depth and width
DEPTH_SLOPE = 0.05  # test accuracy gained per doubling of depth (slope against log2 L)
WIDTH_SLOPE = 0.04  # test accuracy gained per doubling of width (slope against log2 d)
REGRESSION_MSE = -0.3
GEN_GAP = 0.04  # classification gap (accuracy units), larger: against the claim
GEN_GAP_MSE = 3.0  # regression gap (MSE units, gaps of 5-15): never averaged with accuracies
STABLE_STRUCTURED, STABLE_RESMLP = 5, 3  # grid indices; mlp draws from 0..3 (ordinal, permutation test)
FIXED_POINT = 0.4  # convergence fraction at the tested gate alpha = 0.3
TESTED_ALPHA, CONSTRUCTED_ALPHA = 0.3, 0.1  # q < 1 for every seed at 0.1: "by construction"

RNG = np.random.default_rng(0)
NOISE = xr.DataArray(
    RNG.normal(0, NOISE_SCALE, (len(TASKS), len(SEEDS))),
    coords={"task": TASKS, "seed": SEEDS},
    dims=("task", "seed"),
)
ZERO_MEAN_NOISE = NOISE - NOISE.mean("seed")  # every task's mean over seeds is exactly 0
FP_NOISE = RNG.normal(0, NOISE_SCALE, len(FP_SEEDS))
MLP_STABLE = RNG.integers(0, 4, len(LR_SEEDS))

CELL_DIMS = {"task": TASKS, "model": MODELS, "depth": DEPTHS, "width": WIDTHS, "seed": SEEDS}


def _var(extra: dict, structured, low=0.5, high=1.5) -> xr.DataArray:
    """Random values for every model (dims in the order of ``collect``); structured =
    ``structured(mlp)``."""
    coords = {**CELL_DIMS, **extra}
    da = xr.DataArray(
        RNG.uniform(low, high, [len(v) for v in coords.values()]), coords=coords, dims=tuple(coords)
    )
    mlp = da.sel(model="mlp", drop=True)
    da.loc[{"model": "structured"}] = structured(mlp).transpose(*mlp.dims).values
    return da


DEPTH_DA = xr.DataArray(DEPTHS, coords={"depth": DEPTHS}, dims="depth")
WIDTH_DA = xr.DataArray(WIDTHS, coords={"width": WIDTHS}, dims="width")
IS_REG = xr.DataArray([t in REGRESSION for t in TASKS], coords={"task": TASKS}, dims="task")


def _curves(level_name: str, levels: list, level: float, effect: float):
    """(validation clean curve, test clean curve, perturbed test curve) with dims (..., seed,
    eval_step[, level]).

    Baselines: the accuracy change (perturbed - clean, on test) is uniform in [-0.3, -0.1] at
    every level but 0 (no perturbation: change 0). Structured: change uniform in [-0.9, -0.6]
    except at its matched evaluation and ``level``, where it is mlp's change at mlp's matched
    evaluation + ``effect`` + NOISE. Reading any other evaluation or level gives a very
    different effect. The test clean curve is the validation curve reversed along eval_step."""
    shape = [len(v) for v in CELL_DIMS.values()]
    clean = np.broadcast_to(np.asarray(CLEAN_BASELINE), (*shape, len(EVAL_STEPS))).copy()
    change = RNG.uniform(-0.3, -0.1, (*shape, len(EVAL_STEPS), len(levels)))
    s = MODELS.index("structured")
    clean[:, s] = CLEAN_STRUCTURED
    change[:, s] = RNG.uniform(-0.9, -0.6, change[:, s].shape)
    j = levels.index(level)
    mlp_at_match = change[:, MODELS.index("mlp"), ..., I_BASELINE, j]  # (task, depth, width, seed)
    change[:, s, ..., I_STRUCTURED, j] = mlp_at_match + effect + NOISE.values[:, None, None, :]
    t, k = TASKS.index(LOOSE[0]), SEEDS.index(LOOSE[1])
    clean[t, s, :, :, k] = CLEAN_LOOSE
    change[t, s, :, :, k, I_LOOSE, j] = mlp_at_match[t, :, :, k] + effect + NOISE.values[t, k]
    if 0.0 in levels:
        change[..., levels.index(0.0)] = 0.0
    dims = (*CELL_DIMS, "eval_step")
    coords = {**CELL_DIMS, "eval_step": EVAL_STEPS}
    val_da = xr.DataArray(clean, coords=coords, dims=dims)
    test_clean = clean[..., ::-1].copy()
    pert = xr.DataArray(
        test_clean[..., None] + change, coords={**coords, level_name: levels}, dims=(*dims, level_name)
    )
    return val_da, xr.DataArray(test_clean, coords=coords, dims=dims), pert


def build_cells() -> xr.Dataset:
    final_stage = lambda m: m.stage == "final"
    # accuracy effect: ACCURACY at the default size, plus a per-seed trend across depths and
    # widths (zero at the default size, so the other claims are unaffected)
    acc = (
        ACCURACY
        + (DEPTH_SLOPE + NOISE) * (np.log2(DEPTH_DA) - np.log2(DEPTH))
        + (WIDTH_SLOPE + NOISE) * (np.log2(WIDTH_DA) - np.log2(WIDTH))
    )
    val, clean, noise = _curves("track_sigma", NOISE_SIGMAS, 0.2, NOISE_ROBUST)
    _, clean_fgsm, fgsm = _curves("track_eps", FGSM_EPS, 0.05, FGSM_ROBUST)
    np.testing.assert_array_equal(clean.values, clean_fgsm.values)
    kept = xr.full_like(val.isel(eval_step=-1, drop=True), EVAL_STEPS[-1])  # kept at the last evaluation
    flat = xr.where(val.task == FIXED_TASK, 0.5, 0.0) * xr.ones_like(kept)  # relative late improvement
    # gaps in each task's units: accuracies of [0, 0.2] (classification), MSE 5-15 (regression)
    gap = _var({}, lambda m: m, low=0.0, high=1.0)
    gap = xr.where(IS_REG, 5 + 10 * gap, 0.2 * gap).transpose(*gap.dims)
    gap.loc[{"model": "structured"}] = (
        gap.sel(model="mlp") + xr.where(IS_REG, GEN_GAP_MSE, GEN_GAP) + NOISE
    ).transpose(*gap.sel(model="mlp").dims)
    cells = xr.Dataset(
        {
            # at the last evaluation; log10 in [-3, -2]: the shift of at most 0.44 decades keeps
            # the sign, |log10| changes by (GRAD_FLOW + NOISE) per layer
            "grad_ratio": _var(
                {"eval_step": EVAL_STEPS},
                lambda m: xr.where(
                    m.eval_step == EVAL_STEPS[-1],
                    m * 10 ** (-(GRAD_FLOW + NOISE) * m.depth),
                    m,
                ),
                low=1e-3,
                high=1e-2,
            ),
            "e2e_logcond": _var(
                {"stage": STAGES},
                lambda m: xr.where(
                    final_stage(m), m + xr.where(IS_REG, CONDITIONING_WEAK, CONDITIONING) + ZERO_MEAN_NOISE, m
                ),
            ),
            "io_norm": _var(
                {"stage": STAGES}, lambda m: xr.where(final_stage(m), m * 10 ** (SENSITIVITY + NOISE), m)
            ),
            "val_metric": val,
            "val_loss": 1.0 - val,
            "selected_step": kept,
            "late_improvement": flat.transpose(*kept.dims),
            "clean_curve": clean,
            "noise_curve": noise,
            "fgsm_curve": fgsm,
            "amplification": _var(
                {"direction": DIRECTIONS, "layer_h": LAYER_H},
                lambda m: xr.where(
                    (m.direction == "gradient") & (m.layer_h == DEPTH), m * 10 ** (LAYER_ROBUST + NOISE), m
                ),
            ),
            "loss_tv_ratio": _var({}, lambda m: m * 10 ** (LOSS_TV + NOISE)),
            "final_test_metric": _var(
                {}, lambda m: xr.where(IS_REG, m * 10 ** (REGRESSION_MSE + NOISE), m + acc + NOISE)
            ),
            "gen_gap": gap,
        }
    )
    kinds = ["classification" if t in CLASSIFICATION else "regression" for t in cells.task.values]
    return cells.assign_coords(kind=("task", kinds))


def build_lr() -> xr.Dataset:
    """Grid index of the largest stable rate: mlp varies, structured and resmlp are constant."""
    models = ["mlp", "resmlp", "structured"]
    idx = np.empty((len(LR_TASKS), len(models), len(LR_SEEDS)))
    idx[:, 0], idx[:, 1], idx[:, 2] = MLP_STABLE, STABLE_RESMLP, STABLE_STRUCTURED
    da = xr.DataArray(
        idx, coords={"task": LR_TASKS, "model": models, "seed": LR_SEEDS}, dims=("task", "model", "seed")
    )
    return xr.Dataset({"stable_index": da})


def build_fp() -> xr.Dataset:
    """Convergence fractions and contraction bounds per (rho, alpha, seed). At the tested gate
    the cap converges FIXED_POINT more often than the uncapped model and one seed has q >= 1;
    at CONSTRUCTED_ALPHA q < 1 for every seed (the claim holds by construction)."""
    dims = ("rho", "alpha", "seed")
    coords = {"rho": RHOS, "alpha": ALPHAS, "seed": FP_SEEDS}
    shape = (len(RHOS), len(ALPHAS), len(FP_SEEDS))
    conv = xr.DataArray(RNG.uniform(0.2, 0.5, shape), coords=coords, dims=dims)
    conv.loc[{"rho": 0.95, "alpha": TESTED_ALPHA}] = (
        conv.sel(rho=np.inf, alpha=TESTED_ALPHA) + FIXED_POINT + FP_NOISE
    ).values
    conv.loc[{"rho": 0.95, "alpha": CONSTRUCTED_ALPHA}] = 1.0
    q = xr.DataArray(RNG.uniform(1.1, 3.0, shape), coords=coords, dims=dims)
    q.loc[{"rho": 0.95}] = RNG.uniform(0.5, 0.99, (len(ALPHAS), len(FP_SEEDS)))
    q.loc[{"rho": 0.95, "alpha": TESTED_ALPHA, "seed": FP_SEEDS[3]}] = 1.02
    return xr.Dataset({"converged": conv, "q_bound": q})


CELLS, LR, FP = build_cells(), build_lr(), build_fp()


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return claims_table(Context(CELLS, CFG, LR, FP))


def row(table: pd.DataFrame, key: str, baseline: str, task: str) -> pd.Series:
    sel = table[(table.key == key) & (table.baseline == baseline) & (table.task == task)]
    assert len(sel) == 1, f"{key} vs {baseline} on {task}: {len(sel)} rows"
    return sel.iloc[0]


# --- independent statistics ---------------------------------------------------------------------


def t_test(d: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float, int, float]:
    """(mean, low, high, n, p) of the Student-t interval and two-sided one-sample t-test."""
    d = d[np.isfinite(d)]
    n, mean, se = len(d), d.mean(), d.std(ddof=1) / np.sqrt(len(d))
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * se
    return mean, mean - half, mean + half, n, 2 * stats.t.sf(abs(mean) / se, n - 1)


def sign_flip_p(d: np.ndarray) -> float:
    """Exact two-sided sign-flip p-value of the mean, by enumerating all 2**n sign patterns."""
    d = d[np.isfinite(d)]
    signs = np.array(list(itertools.product([1.0, -1.0], repeat=len(d))))
    null = np.abs(signs @ d) / len(d)
    return float(np.mean(null >= abs(d.mean()) * (1 - 1e-12)))


def expected_verdict(effect: float, p_holm: float, better: str) -> str:
    if not (np.isfinite(p_holm) and p_holm < ALPHA) or effect == 0:
        return "inconclusive"
    return "supported" if (effect > 0) == (better == "higher") else "not supported"


# --- the per-seed effects built in (structured - mlp), per task -----------------------------------


def built(effect: float, task: str, noise=NOISE) -> np.ndarray:
    return effect + noise.sel(task=task).values


def loose_note(task: str) -> str:
    """The note of a matched row: the seed whose structured curve jumps over the level."""
    above = CLEAN_LOOSE[I_LOOSE] - CLEAN_BASELINE[-1]
    return (
        f"loose match (1 of {len(SEEDS)} seeds, up to {above:.2g} above the level)"
        if task == LOOSE[0]
        else ""
    )


# (key, task) -> (per-seed differences, verdict) against mlp
EXPECTED = {
    ("GradFlow", "spirals"): (built(GRAD_FLOW, "spirals"), "supported"),
    **{
        ("Conditioning", t): (built(CONDITIONING, t, ZERO_MEAN_NOISE), "inconclusive") for t in CLASSIFICATION
    },
    **{
        ("Conditioning", t): (built(CONDITIONING_WEAK, t, ZERO_MEAN_NOISE), "inconclusive")
        for t in REGRESSION
    },
    **{("Sensitivity", t): (built(SENSITIVITY, t), "supported") for t in TASKS},
    **{("NoiseRobust", t): (built(NOISE_ROBUST, t), "supported") for t in CLASSIFICATION},
    **{("FgsmRobust", t): (built(FGSM_ROBUST, t), "supported") for t in CLASSIFICATION},
    **{("LayerRobust", t): (built(LAYER_ROBUST, t), "supported") for t in TASKS},
    **{("LossTV", t): (built(LOSS_TV, t), "supported") for t in TASKS},
    ("StableLR", "digits"): (STABLE_STRUCTURED - MLP_STABLE.astype(float), "supported"),
    ("DepthScaling", "spirals"): (built(DEPTH_SLOPE, "spirals"), "supported"),
    ("WidthScaling", "digits"): (built(WIDTH_SLOPE, "digits"), "supported"),
    **{("Accuracy", t): (built(ACCURACY, t), "supported") for t in CLASSIFICATION},
    **{("RegressionMSE", t): (built(REGRESSION_MSE, t), "supported") for t in REGRESSION},
    **{("GenGap", t): (built(GEN_GAP, t), "not supported") for t in CLASSIFICATION},
    **{("GenGap", t): (built(GEN_GAP_MSE, t), "not supported") for t in REGRESSION},
    ("FixedPoint", alpha_label(TESTED_ALPHA)): (FIXED_POINT + FP_NOISE, "supported"),
}
# claims whose rows include resmlp: the main study (and the LR sweep, which swept resmlp);
# GradFlow/Depth/Width have mlp only, FixedPoint the uncapped model
RESMLP_KEYS = {
    "Conditioning",
    "Sensitivity",
    "NoiseRobust",
    "FgsmRobust",
    "LayerRobust",
    "LossTV",
    "StableLR",
    "Accuracy",
    "RegressionMSE",
    "GenGap",
}


BOUND_KEYS = {"Sensitivity", "LayerRobust"}  # implied by the spectral cap's bounds P4, P1

# --- the registry -------------------------------------------------------------------------------


def test_registry_keys_are_unique_letter_macros_in_order():
    keys = [c.key for c in CLAIMS]
    assert keys == EXPECTED_KEYS
    assert len(set(keys)) == len(keys)
    assert all(re.fullmatch(r"[A-Za-z]+", k) for k in keys)
    assert {c.better for c in CLAIMS} <= {"higher", "lower"}
    assert {c.test for c in CLAIMS} <= {"t", "permutation"}
    assert all((c.values is None) != (c.paired is None) for c in CLAIMS)
    assert {c.key for c in CLAIMS if c.paired is not None} == {"NoiseRobust", "FgsmRobust"}
    assert {c.key for c in CLAIMS if c.test == "permutation"} == {"StableLR", "FixedPoint"}
    assert {c.key: c.bound for c in CLAIMS if c.bound} == {"Sensitivity": "P4", "LayerRobust": "P1"}


def test_dropped_claims_are_not_registered():
    assert "Curvature" in DROPPED and DROPPED["Curvature"]
    assert not set(DROPPED) & {c.key for c in CLAIMS}


def test_table_columns_and_registration_order(table):
    assert list(table.columns) == LEDGER_COLUMNS
    for col in ("family", "claim", "task", "model", "baseline", "depth", "width", "n_seeds"):
        assert col in LEDGER_COLUMNS
    claims = table[table.family != "equivalence"]
    assert list(dict.fromkeys(claims.key)) == EXPECTED_KEYS
    assert set(table.family) <= set(FAMILIES)
    assert set(claims.verdict) <= {"supported", "not supported", "inconclusive", BY_CONSTRUCTION}
    assert "all" not in set(table.task), "every claim has a task dim: no pooled rows"
    assert not table.duplicated(["family", "key", "baseline", "task"]).any()
    assert (table.model == "structured").all()
    # no choice on the test split: kept weights and matching on validation, or none at all
    assert set(table.selection_split) == {"validation", "none"}
    assert set(table[table.key.isin(["StableLR", "FixedPoint"])].selection_split) == {"none"}
    # sizes: the default size, the sweeps' ranges, the weight-tied study
    assert set(table[table.key == "Accuracy"].depth) == {str(DEPTH)}
    assert set(table[table.key == "GradFlow"].depth) == {f"{DEPTHS[0]}-{DEPTHS[-1]}"}
    assert set(table[table.key == "WidthScaling"].width) == {f"{WIDTHS[0]}-{WIDTHS[-1]}"}
    assert set(table[table.key == "FixedPoint"].depth) == {"tied"}


def test_rows_per_claim_baseline_and_task(table):
    claims = table[table.family != "equivalence"]
    got = {(r.key, r.task) for r in claims[claims.baseline.isin(["mlp", "uncapped"])].itertuples()}
    assert got == set(EXPECTED) | {("FixedPoint", alpha_label(CONSTRUCTED_ALPHA))}
    assert set(claims[claims.baseline == "resmlp"].key) == RESMLP_KEYS
    # gates: only alpha > 0, one row each
    assert set(table[table.key == "FixedPoint"].task) == {alpha_label(a) for a in ALPHAS if a > 0}


# --- effects, n, p and verdicts against the construction ---------------------------------------


@pytest.mark.parametrize("key,task", list(EXPECTED), ids=[f"{k}-{t}" for k, t in EXPECTED])
def test_effect_interval_n_p_match_hand_computation(table, key, task):
    r = row(table, key, "uncapped" if key == "FixedPoint" else "mlp", task)
    d, verdict = EXPECTED[(key, task)]
    finite = d[np.isfinite(d)]
    assert r.n_seeds == len(finite)
    assert r.effect == pytest.approx(finite.mean(), abs=EFFECT_TOL)
    assert r.better == next(c.better for c in CLAIMS if c.key == key)
    if r.test == "t":
        mean, low, high, _, p = t_test(d, CFG["claims"]["confidence"])
        assert (r.low, r.high) == pytest.approx((low, high), abs=CI_TOL)
        assert r.p == pytest.approx(p, rel=P_TOL)
    else:  # bootstrap interval (random): only that it brackets the mean within the data's range
        assert finite.min() - EFFECT_TOL <= r.low <= r.effect <= r.high <= finite.max() + EFFECT_TOL
        assert r.p == pytest.approx(sign_flip_p(d), rel=P_TOL)
    # every seed matches; a seed matched above the level by more than the tolerance is noted
    matched = key in ("NoiseRobust", "FgsmRobust")
    assert r.note == (loose_note(task) if matched else "")
    assert r.n_dropped == 0
    assert r.verdict == verdict
    assert r.family == ("by_construction" if key in BOUND_KEYS else "empirical")


def test_holm_matches_statsmodels_within_each_family(table):
    assert {"empirical", "by_construction", "equivalence"} <= set(table.family)
    for fam, g in table.groupby("family"):
        p = g.p.to_numpy(dtype=float)
        tested = np.isfinite(p)
        expected = multipletests(p[tested], method="holm")[1]
        np.testing.assert_allclose(g.p_holm.to_numpy(dtype=float)[tested], expected, rtol=1e-12, atol=0)
        assert np.isnan(g.p_holm.to_numpy(dtype=float)[~tested]).all()
        assert (g.family_size == tested.sum()).all(), fam
        assert (g.p_holm[tested] >= g.p[tested]).all()
    built = table[table.family == "by_construction"]
    assert not np.isfinite(built.p).all(), "the fixed-point row that holds by construction is not tested"
    # the rows implied by the cap's bounds leave the empirical family: its size is its own rows'
    emp = table[table.family == "empirical"]
    assert (emp.family_size == np.isfinite(emp.p).sum()).all()
    assert set(built.key) == BOUND_KEYS | {"FixedPoint"} and built.by_construction.all()
    assert not table[table.family == "empirical"].by_construction.any()


def test_holm_interval_excludes_zero_exactly_when_the_adjusted_p_passes(table):
    t_rows = table[(table.test == "t") & np.isfinite(table.p_holm)]
    assert len(t_rows) > 10
    for r in t_rows.itertuples():
        outside = r.low_holm > 0 or r.high_holm < 0
        assert outside == (r.p_holm < ALPHA), (r.key, r.baseline, r.task)
        # at least as wide as the unadjusted interval (Holm's level is never looser)
        assert r.low_holm <= r.low + CI_TOL and r.high_holm >= r.high - CI_TOL


def test_verdict_follows_adjusted_p_and_direction(table):
    tested = table[(table.verdict != BY_CONSTRUCTION) & (table.family != "equivalence")]
    for r in tested.itertuples():
        assert r.verdict == expected_verdict(r.effect, r.p_holm, r.better), (r.key, r.baseline, r.task)
    # the construction exercises every verdict, and one that the raw p alone would call supported
    assert {"supported", "not supported", "inconclusive"} <= set(tested.verdict)
    adjusted_away = tested[(tested.p < ALPHA) & (tested.p_holm >= ALPHA)]
    assert (adjusted_away.verdict == "inconclusive").all()
    weak = row(table, "Conditioning", "mlp", REGRESSION[0])
    assert weak.p < ALPHA <= weak.p_holm and weak.verdict == "inconclusive"


def test_fixed_point_by_construction_kept_out_of_the_family(table):
    r = row(table, "FixedPoint", "uncapped", alpha_label(CONSTRUCTED_ALPHA))
    assert r.verdict == BY_CONSTRUCTION and r.by_construction and r.family == "by_construction"
    assert np.isnan(r.p) and np.isnan(r.p_holm)
    d = 1.0 - FP.converged.sel(rho=np.inf, alpha=CONSTRUCTED_ALPHA).values
    assert r.effect == pytest.approx(d.mean(), abs=EFFECT_TOL) and r.n_seeds == len(FP_SEEDS)
    built = table[table.family == "by_construction"]
    assert r.structured == pytest.approx(1.0) and r.family_size == np.isfinite(built.p).sum()
    # one seed with q >= 1 at the tested gate: not implied, an empirical test in the empirical family
    tested = row(table, "FixedPoint", "uncapped", alpha_label(TESTED_ALPHA))
    assert tested.note == "" and np.isfinite(tested.p) and tested.family == "empirical"
    # once every seed's q < 1 there too, that row moves to the by-construction rows, untested
    fp = FP.copy(deep=True)
    fp.q_bound.loc[{"rho": 0.95, "alpha": TESTED_ALPHA}] = 0.9
    t2 = claims_table(Context(CELLS, CFG, LR, fp))
    r2 = row(t2, "FixedPoint", "uncapped", alpha_label(TESTED_ALPHA))
    assert r2.verdict == BY_CONSTRUCTION and np.isnan(r2.p) and r2.family == "by_construction"
    emp, emp2 = table[table.family == "empirical"], t2[t2.family == "empirical"]
    assert (emp2.family_size == emp.family_size.iloc[0] - 1).all()
    # a non-finite bound proves nothing: tested again
    fp.q_bound.loc[{"rho": 0.95, "alpha": TESTED_ALPHA, "seed": 0}] = np.nan
    t3 = claims_table(Context(CELLS, CFG, LR, fp))
    assert row(t3, "FixedPoint", "uncapped", alpha_label(TESTED_ALPHA)).verdict != BY_CONSTRUCTION


def test_fixed_point_compares_with_uncapped(table):
    assert set(table[table.key == "FixedPoint"].baseline) == {"uncapped"}
    capped = claims_table(Context(CELLS, CFG, LR, FP.sel(rho=[0.5, 0.95])))
    assert "FixedPoint" not in set(capped.key)
    assert "FixedPoint" not in set(claims_table(Context(CELLS, CFG, LR, None)).key)


def _drop(curve: xr.DataArray, level: dict, model: str, task: str, i: int) -> np.ndarray:
    """Accuracy change (perturbed - clean) of ``model`` at evaluation ``i``, per seed."""
    cell = dict(model=model, task=task, depth=DEPTH, width=WIDTH)
    pert = CELLS[curve].sel(**cell, **level).isel(eval_step=i)
    return (pert - CELLS.clean_curve.sel(**cell).isel(eval_step=i)).values


@pytest.mark.parametrize(
    "key,curve,level",
    [("NoiseRobust", "noise_curve", {"track_sigma": 0.2}), ("FgsmRobust", "fgsm_curve", {"track_eps": 0.05})],
)
@pytest.mark.parametrize("task", CLASSIFICATION)
def test_matched_robustness_reads_the_matched_evaluations(table, key, curve, level, task):
    """Against resmlp (random drops, nothing built in): the structured model is read where its
    clean validation accuracy first reaches the level every seed of both reaches (evaluation 2;
    the seed that jumps over it at its last), the baseline at its last; no seed drops out, the
    loose match is noted."""
    s = _drop(curve, level, "structured", task, I_STRUCTURED)
    if task == LOOSE[0]:
        k = SEEDS.index(LOOSE[1])
        s[k] = _drop(curve, level, "structured", task, I_LOOSE)[k]
    b = _drop(curve, level, "resmlp", task, I_BASELINE)
    d = s - b
    r = row(table, key, "resmlp", task)
    assert r.n_seeds == np.isfinite(d).sum() == len(SEEDS)
    assert r.n_dropped == 0 and r.selection_split == "validation"
    assert r.note == loose_note(task)
    assert r.effect == pytest.approx(np.nanmean(d), abs=EFFECT_TOL)
    assert r.structured == pytest.approx(np.nanmean(s), abs=EFFECT_TOL)
    assert r.baseline_value == pytest.approx(np.nanmean(b), abs=EFFECT_TOL)
    # reading both at the last evaluation (final robustness) would give another effect
    final = _drop(curve, level, "structured", task, -1) - _drop(curve, level, "resmlp", task, -1)
    assert abs(np.nanmean(final) - r.effect) > 0.2
    # the matching reads validation only: the test clean curves, reversed, would match elsewhere
    # (the structured model's test curve passes 0.8 at evaluation 1, not 2)
    test_matched = _drop(curve, level, "structured", task, len(EVAL_STEPS) - 1 - I_STRUCTURED)
    assert abs(np.nanmean(test_matched - b) - r.effect) > 0.2


def test_degenerate_row_is_noted_constant(table):
    """StableLR vs resmlp: both grid indices constant over seeds; the difference is a point."""
    r = row(table, "StableLR", "resmlp", "digits")
    assert r.note == "zero variance; constant"
    diff = STABLE_STRUCTURED - STABLE_RESMLP
    assert (r.effect, r.low, r.high, r.n_seeds) == (diff, diff, diff, len(LR_SEEDS))
    assert r.p == pytest.approx(2 / 2 ** len(LR_SEEDS))
    assert r.structured == STABLE_STRUCTURED and r.baseline_value == STABLE_RESMLP
    assert row(table, "StableLR", "mlp", "digits").note == ""  # mlp varies over seeds


def test_generalisation_gap_rows_per_task_in_own_units():
    """One classification and one regression task: one row each, the regression effect in MSE
    units (never averaged with an accuracy gap)."""
    cfg = {**CFG, "studies": {**CFG["studies"], "main": {"tasks": ["digits", "sine"], "models": MODELS}}}
    t = claims_table(Context(CELLS, cfg, LR, FP))
    gap = t[(t.key == "GenGap") & (t.baseline == "mlp")]
    assert list(gap.task) == ["digits", "sine"]
    cls, reg = row(t, "GenGap", "mlp", "digits"), row(t, "GenGap", "mlp", "sine")
    assert cls.effect == pytest.approx(built(GEN_GAP, "digits").mean(), abs=EFFECT_TOL)
    assert reg.effect == pytest.approx(built(GEN_GAP_MSE, "sine").mean(), abs=EFFECT_TOL)
    assert cls.baseline_value < 0.2 < 5 < reg.baseline_value  # accuracy units vs MSE units
    assert reg.n_seeds == cls.n_seeds == len(SEEDS)
    assert (cls.unit, reg.unit) == ("accuracy", "relative MSE")
    # the regression-only claims see the regression task only, the accuracy claims the other
    assert set(t[t.key == "RegressionMSE"].task) == {"sine"}
    assert set(t[t.key == "Accuracy"].task) == {"digits"}


def test_baselines_outside_a_study_or_the_cells_give_no_rows(table):
    no_resmlp = claims_table(Context(CELLS.sel(model=["mlp", "structured"]), CFG, LR, FP))
    assert "resmlp" not in set(no_resmlp.baseline)
    # the same rows otherwise; Holm's family is smaller, so only the adjusted columns differ
    adjusted = ("p_holm", "verdict", "family_size", "low_holm", "high_holm")
    raw = [c for c in table.columns if c not in adjusted]
    pd.testing.assert_frame_equal(
        no_resmlp[raw].reset_index(drop=True), table[table.baseline != "resmlp"][raw].reset_index(drop=True)
    )
    emp = no_resmlp[no_resmlp.family == "empirical"]
    assert (emp.family_size == np.isfinite(emp.p).sum()).all()
    # StableLR only against swept baselines
    lr_mlp_only = LR.sel(model=["mlp", "structured"])
    t = claims_table(Context(CELLS, CFG, lr_mlp_only, FP))
    assert set(t[t.key == "StableLR"].baseline) == {"mlp"}
    assert "StableLR" not in set(claims_table(Context(CELLS, CFG, None, FP)).key)


# --- claims are data --------------------------------------------------------------------------


@pytest.fixture
def extra_claim():
    saved = list(CLAIMS)
    try:

        @claim(
            "DoubleGap", "a claim added by a test", "twice the gap", "lower", baselines=lambda ctx: ["mlp"]
        )
        def double_gap(ctx, model):
            base = ctx.main(model)
            return None if base is None else 2 * base.gen_gap

        yield "DoubleGap"
    finally:
        CLAIMS[:] = saved


def test_registered_claim_appears_in_table(extra_claim):
    t = claims_table(Context(CELLS, CFG, LR, FP))
    assert t[t.family != "equivalence"].key.iloc[-1] == extra_claim
    extra = t[t.key == extra_claim]
    assert list(extra.task) == TASKS and set(extra.baseline) == {"mlp"}
    for task in TASKS:
        r = row(t, extra_claim, "mlp", task)
        gap = GEN_GAP_MSE if task in REGRESSION else GEN_GAP
        assert r.effect == pytest.approx(2 * built(gap, task).mean(), abs=EFFECT_TOL)
        assert r.n_seeds == len(SEEDS) and r.verdict == "not supported"
        assert r.claim == "a claim added by a test" and r.measure == "twice the gap"
    emp = t[t.family == "empirical"]
    assert (emp.family_size == np.isfinite(emp.p).sum()).all()


def test_registry_restored_after_extra_claim():
    assert [c.key for c in CLAIMS] == EXPECTED_KEYS


# --- families, exclusions, budget, equivalence -----------------------------------------------


def _with_claims(**over) -> dict:
    return {**CFG, "claims": {**CFG["claims"], **over}}


def test_favourable_task_is_its_own_holm_family(table):
    t = claims_table(Context(CELLS, _with_claims(favourable_tasks=["sine"]), LR, FP))
    fav = t[t.family == "favourable_task"]
    assert set(fav.task) == {"sine"} and len(fav) > 0
    # the cap's bounds stay by construction whatever the task; the rest of sine's rows moved
    assert not set(fav.key) & BOUND_KEYS
    assert set(t[(t.task == "sine") & (t.family != "equivalence")].family) == {
        "favourable_task",
        "by_construction",
    }
    p = fav.p.to_numpy(float)
    np.testing.assert_allclose(fav.p_holm, multipletests(p, method="holm")[1], rtol=1e-12)
    assert (fav.family_size == len(fav)).all()
    emp, emp0 = t[t.family == "empirical"], table[table.family == "empirical"]
    assert emp.family_size.iloc[0] == emp0.family_size.iloc[0] - len(fav)
    # the raw numbers do not move with the family
    key = ["key", "baseline", "task"]
    merged = pd.merge(fav, table, on=key, suffixes=("", "_0"))
    np.testing.assert_allclose(merged.p, merged.p_0, rtol=0)


def test_excluded_rows_stay_in_the_ledger_and_leave_the_family(table):
    reason = "trails a stock library reference"
    t = claims_table(
        Context(
            CELLS, _with_claims(exclude=[{"task": "spirals", "baseline": "resmlp", "reason": reason}]), LR, FP
        )
    )
    ex = t[t.excluded_reason != ""]
    assert len(ex) > 0 and set(ex.task) == {"spirals"} and set(ex.baseline) == {"resmlp"}
    assert (ex.excluded_reason == reason).all() and (ex.verdict == EXCLUDED).all()
    assert np.isnan(ex.p_holm).all() and np.isfinite(ex.p).all()
    for fam, g in t[t.excluded_reason == ""].groupby("family"):
        assert (g.family_size == np.isfinite(g.p).sum()).all(), fam
    # without a task the entry excludes the baseline everywhere
    t_all = claims_table(
        Context(CELLS, _with_claims(exclude=[{"baseline": "resmlp", "reason": reason}]), LR, FP)
    )
    assert (t_all[t_all.baseline == "resmlp"].verdict == EXCLUDED).all()
    assert len(t_all) == len(table)


def test_budget_reads_the_flattened_share_of_the_rows_runs(table):
    main = table[table.selection_split == "validation"]
    assert (main[main.task == FIXED_TASK].budget == "fixed").all()
    assert (main[main.task == FIXED_TASK].flattened == 0.0).all()
    assert (main[main.task != FIXED_TASK].budget == "converged").all()
    assert (main[main.task != FIXED_TASK].flattened == 1.0).all()
    # the LR sweep and the fixed-point study run fixed short budgets by design
    short = table[table.selection_split == "none"]
    assert (short.budget == "fixed").all() and np.isnan(short.flattened).all()
    # one run of the two models' 10 on a task still improving: 90% flattened is still converged
    cells = CELLS.copy(deep=True)
    cells.late_improvement.loc[{"task": "spirals", "model": "mlp", "seed": 0}] = 0.5
    t = claims_table(Context(cells, CFG, LR, FP))
    r = row(t, "Accuracy", "mlp", "spirals")
    assert r.flattened == pytest.approx(0.9) and r.budget == "converged"
    cells.late_improvement.loc[{"task": "spirals", "model": "mlp", "seed": 1}] = 0.5
    r = row(claims_table(Context(cells, CFG, LR, FP)), "Accuracy", "mlp", "spirals")
    assert r.flattened == pytest.approx(0.8) and r.budget == "fixed"


def test_equivalence_rows_are_tost_by_hand(table):
    eq = table[table.family == "equivalence"]
    assert set(eq.task) == set(TASKS) and set(eq.baseline) == {"resmlp"}
    assert set(eq.test) == {"tost"} and set(eq.verdict) <= {EQUIVALENT, NOT_EQUIVALENT}
    margin = CFG["claims"]["equivalence"]["margin"]
    for r in eq.itertuples():
        s = CELLS.final_test_metric.sel(task=r.task, model="structured", depth=DEPTH, width=WIDTH).values
        b = CELLS.final_test_metric.sel(task=r.task, model="resmlp", depth=DEPTH, width=WIDTH).values
        d = s - b if r.task in CLASSIFICATION else s / b - 1
        n, m, se = len(d), d.mean(), d.std(ddof=1) / np.sqrt(len(d))
        p = max(stats.t.sf((m + margin) / se, n - 1), stats.t.cdf((m - margin) / se, n - 1))
        assert r.effect == pytest.approx(m, abs=EFFECT_TOL) and r.p == pytest.approx(p, rel=P_TOL)
        half = stats.t.ppf(1 - ALPHA, n - 1) * se  # the 1 - 2 alpha interval
        assert (r.low, r.high) == pytest.approx((m - half, m + half), abs=CI_TOL)
        assert r.unit == ("accuracy" if r.task in CLASSIFICATION else "relative MSE")
        assert r.verdict == (EQUIVALENT if r.p_holm < ALPHA else NOT_EQUIVALENT)
        # Holm-consistent: the adjusted interval lies inside the margin exactly when equivalent
        inside = -margin < r.low_holm and r.high_holm < margin
        assert inside == (r.verdict == EQUIVALENT)
    # a margin far larger than the differences: every task equivalent
    wide = claims_table(
        Context(CELLS, _with_claims(equivalence={"baselines": ["resmlp"], "margin": 10.0}), LR, FP)
    )
    assert (wide[wide.family == "equivalence"].verdict == EQUIVALENT).all()
    # none configured: no equivalence rows
    none = claims_table(Context(CELLS, _with_claims(equivalence={}), LR, FP))
    assert "equivalence" not in set(none.family)


def test_underpowered_flag_fires_for_every_test_kind():
    """t-tested rows with fewer pairs than min_seeds, permutation rows whose smallest attainable
    p cannot pass alpha / m."""
    t = claims_table(Context(CELLS, _with_claims(min_seeds=10), LR, FP))
    main = t[t.selection_split == "validation"]
    assert main.note.str.contains("underpowered").all()  # 5 seeds < 10
    lr_fp = t[t.selection_split == "none"]
    assert not lr_fp.note.str.contains("underpowered").any()  # 16 seeds, 2/2^16 << alpha/m
    few = LR.isel(seed=slice(0, 5))  # 2/2^5 = 0.0625 > alpha
    t5 = claims_table(Context(CELLS, CFG, few, FP))
    assert t5[t5.key == "StableLR"].note.str.contains("underpowered").all()


# --- the ledger as a file, and two runs compared -------------------------------------------------


def test_ledger_csv_round_trip_and_integrity(table, tmp_path):
    from learndyn.integrity import csv_problem, integrity_problem
    from learndyn.train.report import read_ledger, write_ledger

    path = tmp_path / "results" / "paper" / "claims.csv"
    write_ledger(table, path)
    back = read_ledger(path)
    assert list(back.columns) == LEDGER_COLUMNS and len(back) == len(table)
    assert list(back.verdict) == list(table.verdict) and list(back.excluded_reason) == [""] * len(table)
    np.testing.assert_allclose(back.effect, table.effect, rtol=1e-9)
    assert integrity_problem(path) is None and path.with_name("claims.csv.sha256").exists()
    path.write_text(path.read_text()[:-40])  # truncated mid-line
    assert csv_problem(path) and integrity_problem(path)


def test_reproduce_claims_prints_the_changed_verdicts(table, tmp_path, capsys):
    from learndyn.reproduce import main
    from learndyn.train.report import write_ledger

    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_ledger(table, a)
    changed = table.copy()
    i = changed.index[(changed.key == "Accuracy") & (changed.task == "digits") & (changed.baseline == "mlp")][
        0
    ]
    changed.loc[i, "verdict"] = "inconclusive"
    changed = changed.drop(changed.index[changed.key == "LossTV"][:1])
    write_ledger(changed, b)
    assert main(["claims", str(a), str(a)]) == 0
    assert "no verdict changed" in capsys.readouterr().out
    assert main(["claims", str(a), str(b)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "empirical Accuracy digits vs mlp (L=4, d=32): supported -> inconclusive" in out
    assert any(line.startswith("empirical LossTV") and line.endswith("-> (absent)") for line in out)
    assert out[-1] == "2 verdict(s) changed"
    assert len(changed_verdicts(table, changed)) == 2


def test_descriptive_study_rows_leave_every_family(table):
    studies = {**CFG["studies"], "depth": {**CFG["studies"]["depth"], "family": "descriptive"}}
    t = claims_table(Context(CELLS, {**CFG, "studies": studies}, LR, FP))
    desc = t[t.family == "descriptive"]
    assert len(desc) > 0 and set(desc.key) == {"GradFlow", "DepthScaling"} & set(table.key)
    assert (desc.verdict == "descriptive").all() and np.isnan(desc.p_holm).all()
    assert np.isfinite(desc.low).all() and np.isfinite(desc.high).all()  # intervals stay
    emp, emp0 = t[t.family == "empirical"], table[table.family == "empirical"]
    assert emp.family_size.iloc[0] == emp0.family_size.iloc[0] - np.isfinite(desc.p).sum()


# --- degenerate baselines ------------------------------------------------------------------------


def _degenerate_study(mlp_spec: dict | None = None):
    """resmlp plays the linear network (kind linear). On spirals the structured model (0.95) is
    above the linear network's interval and mlp sits at the linear level (0.6): degenerate. On
    digits every model sits at 0.6: nothing is degenerate (the task rewards no nonlinearity).
    On sine (MSE) mlp is worse than linear (2.0 vs 1.0) while structured is better (0.5). The
    uncapped fixed-point layer converges for no input at the tested gate."""
    cells = CELLS.copy(deep=True)
    rng = np.random.default_rng(7)  # its own generator: the same study whichever test builds it first
    jitter = lambda: 0.01 * rng.standard_normal(len(SEEDS))
    values = {
        ("spirals", "resmlp"): 0.6,
        ("spirals", "mlp"): 0.6,
        ("spirals", "structured"): 0.95,
        ("digits", "resmlp"): 0.6,
        ("digits", "mlp"): 0.6,
        ("digits", "structured"): 0.6,
        ("sine", "resmlp"): 1.0,
        ("sine", "mlp"): 2.0,
        ("sine", "structured"): 0.5,
    }
    for (task, model), v in values.items():
        cells.final_test_metric.loc[dict(task=task, model=model, depth=DEPTH, width=WIDTH)] = v * (
            1 + jitter()
        )
    fp = FP.copy(deep=True)
    fp.converged.loc[{"rho": np.inf, "alpha": TESTED_ALPHA}] = 0.0
    kinds = {
        "mlp": mlp_spec or {"kind": "mlp"},
        "resmlp": {"kind": "linear"},
        "structured": {"kind": "structured"},
    }
    return claims_table(Context(cells, {**CFG, "models": kinds}, LR, fp))


def test_degenerate_baselines_are_read_off_the_data():
    t = _degenerate_study()
    flagged = t[t.degenerate != ""]
    spirals_mlp = t[(t.task == "spirals") & (t.baseline == "mlp")]
    assert (
        len(spirals_mlp)
        and (spirals_mlp.degenerate.str.contains("within the linear network's interval")).all()
    )
    sine_mlp = t[(t.task == "sine") & (t.baseline == "mlp") & (t.family != "equivalence")]
    assert len(sine_mlp) and sine_mlp.degenerate.str.contains("log10 test MSE").all()
    assert sine_mlp.degenerate.str.contains("above the linear network's interval").all()
    # nothing on digits (the structured model is at the linear level too), nothing against the
    # linear network itself, no equivalence row
    assert not (flagged.task == "digits").any()
    assert not (flagged.baseline == "resmlp").any() and not (flagged.family == "equivalence").any()
    # the uncapped layer that never converges, at that gate only
    fp_rows = t[t.key == "FixedPoint"].set_index("task").degenerate
    assert fp_rows[alpha_label(TESTED_ALPHA)].startswith("never converges")
    assert fp_rows[alpha_label(CONSTRUCTED_ALPHA)] == ""
    # a baseline linear by construction (the alpha = 0 structured net) is a reference, never
    # degenerate, at whatever level it fits
    alpha0 = _degenerate_study({"kind": "structured", "gate": "fixed", "alpha": 0.0})
    assert not (alpha0[alpha0.baseline == "mlp"].degenerate != "").any()
    # a flag changes no number and no family
    base = claims_table(Context(CELLS, CFG, LR, FP))
    assert (base.degenerate == "").all() and list(t.columns) == list(base.columns)
    assert list(t.family) == list(base.family)


def test_verdict_counts_split_by_budget_and_name_degenerate_baselines():
    from learndyn.train.report import degenerate_macros, verdict_counts

    t = _degenerate_study()
    emp = t[t.family == "empirical"]
    text = verdict_counts(emp)
    n_conv, n_fixed = int((emp.budget == "converged").sum()), int((emp.budget == "fixed").sum())
    assert n_conv and n_fixed, "the construction has both budgets (FIXED_TASK)"
    assert text.startswith(f"among the {n_conv} converged ones, ")
    assert f"; among the {n_fixed} run at a fixed step budget, " in text
    for budget, g in emp.groupby("budget"):
        n = int((g.verdict == "supported").sum())
        assert f"{n} {'is' if n == 1 else 'are'} supported" in text, budget
    sup = emp[emp.verdict == "supported"]
    n_deg = int((sup.degenerate != "").sum())
    verb = "is" if n_deg == 1 else "are"
    assert n_deg and text.endswith(
        f"{n_deg} of the {len(sup)} supported verdicts {verb} against a degenerate baseline"
    )
    assert verdict_counts(emp[emp.budget == "fixed"]).startswith("none converged; among")
    # excluded rows are counted too: the counts add up to the rows
    ex = emp.assign(verdict=np.where(emp.index == emp.index[0], "excluded", emp.verdict))
    assert "1 is excluded" in verdict_counts(ex)
    macros = degenerate_macros(t)
    assert macros["NumDegenerateRows"] == int((t.degenerate != "").sum())
    assert "mlp on spirals" in macros["DegenerateText"].replace("MLP", "mlp")
    assert degenerate_macros(t.assign(degenerate=""))["DegenerateText"] == "none"


def test_depth_end_sentence_reads_the_deepest_against_the_default_depth():
    """Descriptive: the structured model's test accuracy at the sweep's largest depth against the
    default depth, paired over the sweep's seeds (the others are NaN at the deep end)."""
    from learndyn.train.report import depth_end_macros

    seeds, depths = np.arange(6), [4, 8, 16]
    acc = np.full((1, 1, 3, 1, 6), np.nan)
    rng = np.random.default_rng(3)
    acc[0, 0, 1] = 0.9 + 0.01 * rng.standard_normal(6)  # default depth: every seed
    acc[0, 0, 2, 0, :3] = 0.55 + 0.01 * rng.standard_normal(3)  # deepest: the sweep's seeds
    acc[0, 0, 0, 0, :3] = 0.8
    cells = xr.Dataset(
        {"final_test_metric": (("task", "model", "depth", "width", "seed"), acc)},
        coords={"task": ["spirals"], "model": ["structured"], "depth": depths, "width": [32], "seed": seeds},
    ).assign_coords(kind=("task", ["classification"]))
    cfg = {
        "depth": 8,
        "width": 32,
        "studies": {"depth": {"tasks": ["spirals"], "models": ["structured"], "depths": depths}},
        "claims": {"structured": "structured", "confidence": 0.95},
    }
    out = depth_end_macros(cells, cfg)
    diff = acc[0, 0, 2, 0, :3] - acc[0, 0, 1, 0, :3]
    assert out["DepthMax"] == 16 and out["DepthEndSpiralsSeeds"] == 3
    assert float(out["DepthEndSpiralsDiff"]) == pytest.approx(diff.mean(), rel=1e-2)
    assert float(out["DepthEndSpiralsDefault"]) == pytest.approx(acc[0, 0, 1, 0, :3].mean(), rel=1e-2)
    assert "test accuracy falls from" in out["DepthEndText"] and "3 seeds" in out["DepthEndText"]
    flat = cells.copy(deep=True)
    flat.final_test_metric.loc[dict(depth=16)] = (
        flat.final_test_metric.sel(depth=8).values + [0.01, -0.01] * 3
    )
    assert "no change beyond the interval" in depth_end_macros(flat, cfg)["DepthEndText"]


def test_a_row_mostly_read_above_the_matching_level_is_not_matched():
    from learndyn.train.claims import loose_reason

    cfg = {"match_tolerance": 0.02, "loose_exclude_share": 0.5}
    assert loose_reason(cfg, (0, np.nan), 10) == ""
    assert loose_reason(cfg, (4, 0.1), 10) == ""  # a minority of loose seeds: noted only
    assert loose_reason(cfg, (5, 0.14), 10) == (
        "not matched: 5 of 10 seeds read more than 0.02 above the matching level (up to 0.14)"
    )
    assert loose_reason({**cfg, "loose_exclude_share": 1.0}, (9, 0.1), 10) == ""
