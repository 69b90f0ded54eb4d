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

from learndyn.train.claims import BY_CONSTRUCTION, CLAIMS, DROPPED, Context, alpha_label, claim, claims_table

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

# matched robustness: clean-accuracy curves over four evaluations (the same for every task and
# seed). The target is min(final clean) = 0.8: the structured model is read at evaluation 2, the
# baselines at evaluation 3 (their last). UNMATCHED: a (task, seed) whose structured curve never
# comes within the tolerance of the target (that seed drops out: n = 4).
EVAL_STEPS = [0, 50, 100, 150]
CLEAN_BASELINE = [0.2, 0.5, 0.7, 0.8]
CLEAN_STRUCTURED = [0.2, 0.6, 0.8, 0.95]
CLEAN_UNMATCHED = [0.2, 0.3, 0.4, 0.95]
I_STRUCTURED, I_BASELINE = 2, 3
UNMATCHED = ("digits", SEEDS[-1])
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
    },
}

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
    """(clean_curve, perturbed curve) with dims (..., seed, eval_step[, level]).

    Baselines: the accuracy change (perturbed - clean) is uniform in [-0.3, -0.1] at every
    level but 0 (no perturbation: change 0). Structured: change uniform in [-0.9, -0.6] except at
    its matched evaluation and ``level``, where it is mlp's change at mlp's matched evaluation +
    ``effect`` + NOISE. Reading any other evaluation or level gives a very different effect."""
    shape = [len(v) for v in CELL_DIMS.values()]
    clean = np.broadcast_to(np.asarray(CLEAN_BASELINE), (*shape, len(EVAL_STEPS))).copy()
    change = RNG.uniform(-0.3, -0.1, (*shape, len(EVAL_STEPS), len(levels)))
    s = MODELS.index("structured")
    clean[:, s] = CLEAN_STRUCTURED
    change[:, s] = RNG.uniform(-0.9, -0.6, change[:, s].shape)
    j = levels.index(level)
    mlp_at_match = change[:, MODELS.index("mlp"), ..., I_BASELINE, j]  # (task, depth, width, seed)
    change[:, s, ..., I_STRUCTURED, j] = mlp_at_match + effect + NOISE.values[:, None, None, :]
    t, k = TASKS.index(UNMATCHED[0]), SEEDS.index(UNMATCHED[1])
    clean[t, s, :, :, k] = CLEAN_UNMATCHED
    if 0.0 in levels:
        change[..., levels.index(0.0)] = 0.0
    dims = (*CELL_DIMS, "eval_step")
    coords = {**CELL_DIMS, "eval_step": EVAL_STEPS}
    clean_da = xr.DataArray(clean, coords=coords, dims=dims)
    pert = xr.DataArray(
        clean[..., None] + change, coords={**coords, level_name: levels}, dims=(*dims, level_name)
    )
    return clean_da, pert


def build_cells() -> xr.Dataset:
    final_stage = lambda m: m.stage == "final"
    # accuracy effect: ACCURACY at the default size, plus a per-seed trend across depths and
    # widths (zero at the default size, so the other claims are unaffected)
    acc = (
        ACCURACY
        + (DEPTH_SLOPE + NOISE) * (np.log2(DEPTH_DA) - np.log2(DEPTH))
        + (WIDTH_SLOPE + NOISE) * (np.log2(WIDTH_DA) - np.log2(WIDTH))
    )
    clean, noise = _curves("track_sigma", NOISE_SIGMAS, 0.2, NOISE_ROBUST)
    clean_fgsm, fgsm = _curves("track_eps", FGSM_EPS, 0.05, FGSM_ROBUST)
    np.testing.assert_array_equal(clean.values, clean_fgsm.values)
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


def unmatched(d: np.ndarray, task: str) -> np.ndarray:
    """NaN for the seed whose structured curve never reaches the matching target."""
    d = d.copy()
    if task == UNMATCHED[0]:
        d[SEEDS.index(UNMATCHED[1])] = np.nan
    return d


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
    **{("NoiseRobust", t): (unmatched(built(NOISE_ROBUST, t), t), "supported") for t in CLASSIFICATION},
    **{("FgsmRobust", t): (unmatched(built(FGSM_ROBUST, t), t), "supported") for t in CLASSIFICATION},
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


def test_dropped_claims_are_not_registered():
    assert "Curvature" in DROPPED and DROPPED["Curvature"]
    assert not set(DROPPED) & {c.key for c in CLAIMS}


def test_table_columns_and_registration_order(table):
    assert list(table.columns) == [
        "key",
        "claim",
        "measure",
        "baseline",
        "task",
        "better",
        "test",
        "structured",
        "baseline_value",
        "effect",
        "ci_low",
        "ci_high",
        "n",
        "p",
        "note",
        "p_holm",
        "verdict",
        "family_size",
    ]
    assert list(dict.fromkeys(table.key)) == EXPECTED_KEYS
    assert set(table.verdict) <= {"supported", "not supported", "inconclusive", BY_CONSTRUCTION}
    assert "all" not in set(table.task), "every claim has a task dim: no pooled rows"
    assert not table.duplicated(["key", "baseline", "task"]).any()


def test_rows_per_claim_baseline_and_task(table):
    got = {(r.key, r.task) for r in table[table.baseline.isin(["mlp", "uncapped"])].itertuples()}
    assert got == set(EXPECTED) | {("FixedPoint", alpha_label(CONSTRUCTED_ALPHA))}
    assert set(table[table.baseline == "resmlp"].key) == RESMLP_KEYS
    # gates: only alpha > 0, one row each
    assert set(table[table.key == "FixedPoint"].task) == {alpha_label(a) for a in ALPHAS if a > 0}


# --- effects, n, p and verdicts against the construction ---------------------------------------


@pytest.mark.parametrize("key,task", list(EXPECTED), ids=[f"{k}-{t}" for k, t in EXPECTED])
def test_effect_interval_n_p_match_hand_computation(table, key, task):
    r = row(table, key, "uncapped" if key == "FixedPoint" else "mlp", task)
    d, verdict = EXPECTED[(key, task)]
    finite = d[np.isfinite(d)]
    assert r.n == len(finite)
    assert r.effect == pytest.approx(finite.mean(), abs=EFFECT_TOL)
    assert r.better == next(c.better for c in CLAIMS if c.key == key)
    if r.test == "t":
        mean, low, high, _, p = t_test(d, CFG["claims"]["confidence"])
        assert (r.ci_low, r.ci_high) == pytest.approx((low, high), abs=CI_TOL)
        assert r.p == pytest.approx(p, rel=P_TOL)
    else:  # bootstrap interval (random): only that it brackets the mean within the data's range
        assert finite.min() - EFFECT_TOL <= r.ci_low <= r.effect <= r.ci_high <= finite.max() + EFFECT_TOL
        assert r.p == pytest.approx(sign_flip_p(d), rel=P_TOL)
    assert r.note == ""
    assert r.verdict == verdict


def test_holm_matches_statsmodels_over_tested_rows(table):
    p = table.p.to_numpy(dtype=float)
    tested = np.isfinite(p)
    assert tested.sum() < len(p), "the by-construction row is not tested"
    expected = multipletests(p[tested], method="holm")[1]
    np.testing.assert_allclose(table.p_holm.to_numpy(dtype=float)[tested], expected, rtol=1e-12, atol=0)
    assert np.isnan(table.p_holm.to_numpy(dtype=float)[~tested]).all()
    assert (table.family_size == tested.sum()).all()
    assert (table.p_holm[tested] >= table.p[tested]).all()


def test_verdict_follows_adjusted_p_and_direction(table):
    tested = table[table.note != BY_CONSTRUCTION]
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
    assert r.note == BY_CONSTRUCTION and r.verdict == BY_CONSTRUCTION
    assert np.isnan(r.p) and np.isnan(r.p_holm)
    d = 1.0 - FP.converged.sel(rho=np.inf, alpha=CONSTRUCTED_ALPHA).values
    assert r.effect == pytest.approx(d.mean(), abs=EFFECT_TOL) and r.n == len(FP_SEEDS)
    assert r.structured == pytest.approx(1.0) and r.family_size == np.isfinite(table.p).sum()
    # one seed with q >= 1 at the tested gate: an empirical test, in the family
    tested = row(table, "FixedPoint", "uncapped", alpha_label(TESTED_ALPHA))
    assert tested.note == "" and np.isfinite(tested.p)
    # once every seed's q < 1 there too, that row leaves the family and the family shrinks by one
    fp = FP.copy(deep=True)
    fp.q_bound.loc[{"rho": 0.95, "alpha": TESTED_ALPHA}] = 0.9
    t2 = claims_table(Context(CELLS, CFG, LR, fp))
    r2 = row(t2, "FixedPoint", "uncapped", alpha_label(TESTED_ALPHA))
    assert r2.verdict == BY_CONSTRUCTION and np.isnan(r2.p)
    assert (t2.family_size == r.family_size - 1).all()
    # a non-finite bound proves nothing: tested again
    fp.q_bound.loc[{"rho": 0.95, "alpha": TESTED_ALPHA, "seed": 0}] = np.nan
    t3 = claims_table(Context(CELLS, CFG, LR, fp))
    assert row(t3, "FixedPoint", "uncapped", alpha_label(TESTED_ALPHA)).note == ""


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
    clean accuracy equals the baseline's final one (evaluation 2), the baseline at its last; a
    seed without a match within the tolerance drops out."""
    s = _drop(curve, level, "structured", task, I_STRUCTURED)
    b = _drop(curve, level, "resmlp", task, I_BASELINE)
    s, b = unmatched(s, task), unmatched(b, task)
    d = s - b
    r = row(table, key, "resmlp", task)
    assert r.n == np.isfinite(d).sum() == len(SEEDS) - (task == UNMATCHED[0])
    assert r.effect == pytest.approx(np.nanmean(d), abs=EFFECT_TOL)
    assert r.structured == pytest.approx(np.nanmean(s), abs=EFFECT_TOL)
    assert r.baseline_value == pytest.approx(np.nanmean(b), abs=EFFECT_TOL)
    # reading both at the last evaluation (final robustness) would give another effect
    final = _drop(curve, level, "structured", task, -1) - _drop(curve, level, "resmlp", task, -1)
    assert abs(np.nanmean(final) - r.effect) > 0.2


def test_degenerate_row_is_noted_constant(table):
    """StableLR vs resmlp: both grid indices constant over seeds; the difference is a point."""
    r = row(table, "StableLR", "resmlp", "digits")
    assert r.note == "constant"
    diff = STABLE_STRUCTURED - STABLE_RESMLP
    assert (r.effect, r.ci_low, r.ci_high, r.n) == (diff, diff, diff, len(LR_SEEDS))
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
    assert reg.n == cls.n == len(SEEDS)
    # the regression-only claims see the regression task only, the accuracy claims the other
    assert set(t[t.key == "RegressionMSE"].task) == {"sine"}
    assert set(t[t.key == "Accuracy"].task) == {"digits"}


def test_baselines_outside_a_study_or_the_cells_give_no_rows(table):
    no_resmlp = claims_table(Context(CELLS.sel(model=["mlp", "structured"]), CFG, LR, FP))
    assert "resmlp" not in set(no_resmlp.baseline)
    # the same rows otherwise; Holm's family is smaller, so only the adjusted columns differ
    raw = [c for c in table.columns if c not in ("p_holm", "verdict", "family_size")]
    pd.testing.assert_frame_equal(
        no_resmlp[raw].reset_index(drop=True), table[table.baseline != "resmlp"][raw].reset_index(drop=True)
    )
    assert (no_resmlp.family_size == np.isfinite(no_resmlp.p).sum()).all()
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
    assert t.key.iloc[-1] == extra_claim
    extra = t[t.key == extra_claim]
    assert list(extra.task) == TASKS and set(extra.baseline) == {"mlp"}
    for task in TASKS:
        r = row(t, extra_claim, "mlp", task)
        gap = GEN_GAP_MSE if task in REGRESSION else GEN_GAP
        assert r.effect == pytest.approx(2 * built(gap, task).mean(), abs=EFFECT_TOL)
        assert r.n == len(SEEDS) and r.verdict == "not supported"
        assert r.claim == "a claim added by a test" and r.measure == "twice the gap"
    assert (t.family_size == np.isfinite(t.p).sum()).all()


def test_registry_restored_after_extra_claim():
    assert [c.key for c in CLAIMS] == EXPECTED_KEYS
