"""The claims registry and ``claims_table`` against a synthetic study with known effects.

The cells are random for every model, except that the structured model is built from the mlp
baseline with a known per-seed effect on exactly the slice each claim reads (last eval step,
final stage, the configured noise sigma / FGSM eps, the gradient direction at h_L, the deepest
depth ...). Everywhere else structured equals mlp, so reading a wrong slice changes the effect.
"""

import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from learndyn.train.claims import CLAIMS, Context, claim, claims_table

EFFECT_TOL = 1e-10  # effect vs. the mean paired difference built in (float64 round-off)
CI_TOL = 1e-10  # CI bounds vs. an independent Student-t interval
NOISE_SCALE = 0.02  # per-(task, seed) noise on the built effects; effects are >= 5x larger

EXPECTED_KEYS = [
    "GradFlow",
    "Conditioning",
    "Sensitivity",
    "NoiseRobust",
    "FgsmRobust",
    "LayerRobust",
    "LossTV",
    "Curvature",
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
DEPTHS, WIDTHS, SEEDS = [2, 4, 8], [16, 32], [0, 1, 2, 3, 4]
DEPTH, WIDTH = 4, 32
EVAL_STEPS, STAGES = [0, 50], ["init", "final"]
NOISE_SIGMAS, FGSM_EPS = [0.0, 0.2], [0.05, 0.1]
DIRECTIONS, LAYER_H = ["gradient", "random"], [0, 2, 4, 8]
LR_TASKS = ["digits"]
RHOS, ALPHAS = [0.5, 0.95, np.inf], [0.0, 0.3]

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
        "noise_sigma": 0.2,
        "fgsm_eps": 0.05,
        "fixed_point_rho": 0.95,
        "fixed_point_alpha": 0.3,
    },
}

# Built-in effects (structured - mlp, in the claim's units) and the verdicts they imply.
GRAD_FLOW = -1.0  # |log10 g0/gL| smaller
CONDITIONING = 0.0  # zero-mean noise only: inconclusive
SENSITIVITY = -0.2
CLEAN = 0.07  # structured's clean accuracy (noise_sigma=0) gain: the robustness claims subtract it
NOISE_ROBUST = 0.05
FGSM_ROBUST = 0.04
LAYER_ROBUST = -0.1
LOSS_TV = -0.15
CURVATURE = 0.5  # larger Hessian: against the claim
STABLE_LR = 0.5
ACCURACY = 0.1  # at the default depth and width (and at width 16 of the depth-2 cells)
DEPTH_SCALING = 0.25  # test accuracy at the deepest depth (8)
NARROW_ACCURACY = 0.3  # test accuracy at width 16 (default depth): WidthScaling averages it with ACCURACY
REGRESSION_MSE = -0.3
GEN_GAP = 0.02  # larger gap: against the claim
FIXED_POINT = 0.4

RNG = np.random.default_rng(0)
NOISE = xr.DataArray(
    RNG.normal(0, NOISE_SCALE, (len(TASKS), len(SEEDS))),
    coords={"task": TASKS, "seed": SEEDS},
    dims=("task", "seed"),
)
ZERO_MEAN_NOISE = NOISE - NOISE.mean("seed")  # every task's mean over seeds is exactly 0
FP_NOISE = xr.DataArray(RNG.normal(0, NOISE_SCALE, len(SEEDS)), coords={"seed": SEEDS}, dims="seed")

# key -> (effect, tasks it pools, noise used, verdict) for the mlp baseline
EXPECTED = {
    "GradFlow": (GRAD_FLOW, ["spirals"], NOISE, "supported"),
    "Conditioning": (CONDITIONING, TASKS, ZERO_MEAN_NOISE, "inconclusive"),
    "Sensitivity": (SENSITIVITY, TASKS, NOISE, "supported"),
    "NoiseRobust": (NOISE_ROBUST, CLASSIFICATION, NOISE, "supported"),
    "FgsmRobust": (FGSM_ROBUST, CLASSIFICATION, NOISE, "supported"),
    "LayerRobust": (LAYER_ROBUST, TASKS, NOISE, "supported"),
    "LossTV": (LOSS_TV, TASKS, NOISE, "supported"),
    "Curvature": (CURVATURE, TASKS, NOISE, "not supported"),
    "StableLR": (STABLE_LR, LR_TASKS, NOISE, "supported"),
    "DepthScaling": (DEPTH_SCALING, ["spirals"], NOISE, "supported"),
    "WidthScaling": ((NARROW_ACCURACY + ACCURACY) / 2, ["digits"], NOISE, "supported"),
    "Accuracy": (ACCURACY, CLASSIFICATION, NOISE, "supported"),
    "RegressionMSE": (REGRESSION_MSE, REGRESSION, NOISE, "supported"),
    "GenGap": (GEN_GAP, TASKS, NOISE, "not supported"),
}
# claims whose study includes resmlp (main study); GradFlow/Depth/Width/StableLR have mlp only
RESMLP_KEYS = {
    "Conditioning",
    "Sensitivity",
    "NoiseRobust",
    "FgsmRobust",
    "LayerRobust",
    "LossTV",
    "Curvature",
    "Accuracy",
    "RegressionMSE",
    "GenGap",
}


def per_seed(key: str) -> np.ndarray:
    """The per-seed effect built in for ``key``: effect + noise, averaged over its tasks."""
    effect, tasks, noise, _ = EXPECTED[key]
    return np.array([effect + np.mean([float(noise.sel(task=t, seed=s)) for t in tasks]) for s in SEEDS])


def _var(extra: dict, structured, low=0.5, high=1.5) -> xr.DataArray:
    """Random values for every model; structured = ``structured(mlp)``."""
    coords = {"task": TASKS, "model": MODELS, "depth": DEPTHS, "width": WIDTHS, "seed": SEEDS, **extra}
    da = xr.DataArray(
        RNG.uniform(low, high, [len(v) for v in coords.values()]), coords=coords, dims=tuple(coords)
    )
    mlp = da.sel(model="mlp", drop=True)
    da.loc[{"model": "structured"}] = structured(mlp).transpose(*mlp.dims).values
    return da


DEPTH_DA = xr.DataArray(DEPTHS, coords={"depth": DEPTHS}, dims="depth")
WIDTH_DA = xr.DataArray(WIDTHS, coords={"width": WIDTHS}, dims="width")


def build_cells() -> xr.Dataset:
    last = lambda m: m.eval_step == EVAL_STEPS[-1]
    final_stage = lambda m: m.stage == "final"
    is_reg = xr.DataArray([t in REGRESSION for t in TASKS], coords={"task": TASKS}, dims="task")
    acc = xr.where(
        DEPTH_DA == max(DEPTHS), DEPTH_SCALING, xr.where(WIDTH_DA == min(WIDTHS), NARROW_ACCURACY, ACCURACY)
    )
    test_struct = lambda m: xr.where(
        last(m), xr.where(is_reg, m * 10 ** (REGRESSION_MSE + NOISE), m + acc + NOISE), m
    )
    cells = xr.Dataset(
        {
            # only at the deepest depth; log10 in [-3, -2]: the shift keeps the sign,
            # |log10| changes by GRAD_FLOW
            "grad_ratio": _var(
                {"eval_step": EVAL_STEPS},
                lambda m: xr.where(last(m) & (m.depth == max(DEPTHS)), m * 10 ** (-(GRAD_FLOW + NOISE)), m),
                low=1e-3,
                high=1e-2,
            ),
            "e2e_logcond": _var(
                {"stage": STAGES}, lambda m: xr.where(final_stage(m), m + CONDITIONING + ZERO_MEAN_NOISE, m)
            ),
            "io_norm": _var(
                {"stage": STAGES}, lambda m: xr.where(final_stage(m), m * 10 ** (SENSITIVITY + NOISE), m)
            ),
            "noise_metric": _var(
                {"noise_sigma": NOISE_SIGMAS},
                lambda m: xr.where(m.noise_sigma == 0.2, m + CLEAN + NOISE_ROBUST + NOISE, m + CLEAN),
            ),
            "fgsm_metric": _var(
                {"fgsm_eps": FGSM_EPS},
                lambda m: xr.where(m.fgsm_eps == 0.05, m + CLEAN + FGSM_ROBUST + NOISE, m),
            ),
            "amplification": _var(
                {"direction": DIRECTIONS, "layer_h": LAYER_H},
                lambda m: xr.where(
                    (m.direction == "gradient") & (m.layer_h == DEPTH), m * 10 ** (LAYER_ROBUST + NOISE), m
                ),
            ),
            "loss_tv_ratio": _var({}, lambda m: m * 10 ** (LOSS_TV + NOISE)),
            "hessian_top": _var(
                {"eval_step": EVAL_STEPS}, lambda m: xr.where(last(m), m * 10 ** (CURVATURE + NOISE), m)
            ),
            "test_metric": _var({"eval_step": EVAL_STEPS}, test_struct),
            "gen_gap": _var({}, lambda m: m + GEN_GAP + NOISE),
        }
    )
    cells.attrs.update({f"kind_{t}": "classification" for t in CLASSIFICATION})
    cells.attrs.update({f"kind_{t}": "regression" for t in REGRESSION})
    return cells


def build_lr() -> xr.Dataset:
    models = ["mlp", "structured"]
    da = xr.DataArray(
        RNG.uniform(0.1, 1.0, (len(models), len(LR_TASKS), len(SEEDS))),
        coords={"model": models, "task": LR_TASKS, "seed": SEEDS},
        dims=("model", "task", "seed"),
    )
    da.loc[{"model": "structured"}] = (
        (da.sel(model="mlp") * 10 ** (STABLE_LR + NOISE.sel(task=LR_TASKS))).transpose("task", "seed").values
    )
    return xr.Dataset({"stable_lr": da})


def build_fp() -> xr.Dataset:
    da = xr.DataArray(
        RNG.uniform(0.2, 0.5, (len(RHOS), len(ALPHAS), len(SEEDS))),
        coords={"rho": RHOS, "alpha": ALPHAS, "seed": SEEDS},
        dims=("rho", "alpha", "seed"),
    )
    da.loc[{"rho": 0.95, "alpha": 0.3}] = (da.sel(rho=np.inf, alpha=0.3) + FIXED_POINT + FP_NOISE).values
    return xr.Dataset({"converged": da})


CELLS, LR, FP = build_cells(), build_lr(), build_fp()


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return claims_table(Context(CELLS, CFG, LR, FP))


def row(table: pd.DataFrame, key: str, baseline: str) -> pd.Series:
    sel = table[(table.key == key) & (table.baseline == baseline)]
    assert len(sel) == 1, f"{key} vs {baseline}: {len(sel)} rows"
    return sel.iloc[0]


# --- the registry -------------------------------------------------------------------------------


def test_registry_keys_are_unique_letter_macros_in_order():
    keys = [c.key for c in CLAIMS]
    assert keys == EXPECTED_KEYS
    assert len(set(keys)) == len(keys)
    assert all(re.fullmatch(r"[A-Za-z]+", k) for k in keys)
    assert {c.better for c in CLAIMS} <= {"higher", "lower"}


def test_table_follows_registration_order(table):
    assert list(dict.fromkeys(table.key)) == EXPECTED_KEYS
    assert set(table.verdict) <= {"supported", "not supported", "inconclusive"}


# --- effects, n and verdicts against the construction ------------------------------------------


@pytest.mark.parametrize("key", list(EXPECTED))
def test_effect_ci_n_and_verdict_match_construction(table, key):
    r = row(table, key, "mlp")
    d = per_seed(key)
    half = stats.t.ppf(0.5 + CFG["claims"]["confidence"] / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    assert r.effect == pytest.approx(d.mean(), abs=EFFECT_TOL)
    assert (r.ci_low, r.ci_high) == pytest.approx((d.mean() - half, d.mean() + half), abs=CI_TOL)
    assert r.n == len(SEEDS)
    assert r.verdict == EXPECTED[key][3]
    assert r.better == next(c.better for c in CLAIMS if c.key == key)


def test_pooled_claim_averages_tasks_within_seed(table):
    # Accuracy pools the two classification tasks: one paired difference per seed, not per (task, seed)
    fin = CELLS.test_metric.sel(depth=DEPTH, width=WIDTH, task=CLASSIFICATION).isel(eval_step=-1)
    d = (fin.sel(model="structured") - fin.sel(model="mlp")).values  # (task, seed)
    per_seed_diff = d.mean(axis=0)
    np.testing.assert_allclose(per_seed_diff, per_seed("Accuracy"), atol=EFFECT_TOL)
    half = stats.t.ppf(0.975, len(SEEDS) - 1) * per_seed_diff.std(ddof=1) / np.sqrt(len(SEEDS))
    r = row(table, "Accuracy", "mlp")
    assert r.n == len(SEEDS)
    assert r.effect == pytest.approx(per_seed_diff.mean(), abs=EFFECT_TOL)
    assert r.ci_low == pytest.approx(per_seed_diff.mean() - half, abs=CI_TOL)
    assert r.ci_high == pytest.approx(per_seed_diff.mean() + half, abs=CI_TOL)
    assert r.structured == pytest.approx(float(fin.sel(model="structured").mean()), abs=EFFECT_TOL)
    assert r.baseline_value == pytest.approx(float(fin.sel(model="mlp").mean()), abs=EFFECT_TOL)


def test_fixed_point_compares_with_uncapped(table):
    r = row(table, "FixedPoint", "uncapped")
    assert r.effect == pytest.approx(FIXED_POINT + float(FP_NOISE.mean()), abs=EFFECT_TOL)
    assert r.n == len(SEEDS) and r.verdict == "supported"
    assert set(table[table.key == "FixedPoint"].baseline) == {"uncapped"}
    capped = claims_table(Context(CELLS, CFG, LR, FP.sel(rho=[0.5, 0.95])))
    assert "FixedPoint" not in set(capped.key)
    assert "FixedPoint" not in set(claims_table(Context(CELLS, CFG, LR, None)).key)


def test_baselines_outside_a_study_or_the_cells_give_no_rows(table):
    assert set(table[table.baseline == "resmlp"].key) == RESMLP_KEYS
    no_resmlp = claims_table(Context(CELLS.sel(model=["mlp", "structured"]), CFG, LR, FP))
    assert "resmlp" not in set(no_resmlp.baseline)
    pd.testing.assert_frame_equal(
        no_resmlp.reset_index(drop=True), table[table.baseline != "resmlp"].reset_index(drop=True)
    )


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
    r = row(t, extra_claim, "mlp")
    assert r.effect == pytest.approx(2 * per_seed("GenGap").mean(), abs=EFFECT_TOL)
    assert r.n == len(SEEDS) and r.verdict == "not supported"
    assert r.claim == "a claim added by a test" and r.measure == "twice the gap"
    assert "resmlp" not in set(t[t.key == extra_claim].baseline)


def test_registry_restored_after_extra_claim():
    assert [c.key for c in CLAIMS] == EXPECTED_KEYS
