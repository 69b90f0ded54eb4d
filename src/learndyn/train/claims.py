"""The claims of the structured-layer papers as data (spec structured-layers.md §1, §7).

Each claim is one ``Claim`` registered with the small function that measures it:
``values(ctx, model) -> per-seed values`` (dims ``seed`` and ``task``; the fixed-point claim uses
the gate value as its "task"), or None when the model is not part of the study the claim reads.
A claim that compares two models at a matched operating point gives ``paired(ctx, structured,
baseline) -> (effect, structured values, baseline values)`` instead.

``claims_table`` loops over the registry and makes one row per (claim, baseline, task): the
effect is the structured model minus the baseline, paired by seed, with the test the claim
declares (``stats.paired_test``: a t-test and t-interval for continuous measures, an exact
sign-flip permutation test and a bootstrap interval for discrete or ordinal ones). Holm's
method adjusts the p-values over the whole family of rows; the verdict is read off the
adjusted p and the sign of the effect (``stats.verdict_from_test``). Rows that hold by
construction (the fixed-point claim where the contraction bound q < 1 guarantees it) are
labelled as such and kept out of the family.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import xarray as xr

from ..stats import holm, min_attainable_p, paired_test, tost, trend_slope, verdict_from_test
from .collect import task_kind
from .selection import ValidationView, match_on_validation, read_at

BY_CONSTRUCTION = "by construction"


@dataclass(frozen=True)
class Context:
    """What a claim's measurement reads: the combined cells, the LR sweep, the fixed-point
    study and the validated ``train`` config."""

    cells: xr.Dataset
    cfg: dict
    lr: xr.Dataset | None = None
    fp: xr.Dataset | None = None

    @property
    def claims_cfg(self) -> dict:
        return self.cfg["claims"]

    @property
    def main_tasks(self) -> list[str]:
        return list(self.cfg["studies"]["main"]["tasks"])

    def kind_tasks(self, tasks, kind: str) -> list[str]:
        """Those of ``tasks`` present in the cells whose kind is ``kind``."""
        out = []
        for t in tasks:
            if t not in self.cells.task.values:
                continue
            is_class = task_kind(self.cells, t) == "classification"
            if (kind == "classification") == is_class:
                out.append(t)
        return out

    @cached_property
    def classification(self) -> list[str]:
        return self.kind_tasks(self.main_tasks, "classification")

    @cached_property
    def regression(self) -> list[str]:
        return self.kind_tasks(self.main_tasks, "regression")

    def main(self, model: str) -> xr.Dataset | None:
        """The model's cells of the main study at the default size (main tasks), or None."""
        if model not in self.cfg["studies"]["main"]["models"]:
            return None
        return self.cells.sel(
            model=model, depth=self.cfg["depth"], width=self.cfg["width"], task=self.main_tasks
        )

    def study(self, name: str, model: str) -> dict | None:
        """The study ``name`` if it exists and contains ``model``."""
        st = self.cfg["studies"].get(name)
        return st if st and model in st["models"] else None


def final(da: xr.DataArray) -> xr.DataArray:
    """The value at the last evaluation (unchanged when there is no ``eval_step`` dim)."""
    return da.isel(eval_step=-1) if "eval_step" in da.dims else da


Values = Callable[[Context, str], "xr.DataArray | None"]
Paired = Callable[[Context, str, str], "tuple[xr.DataArray, xr.DataArray, xr.DataArray] | None"]


@dataclass(frozen=True)
class Claim:
    """A claim of the papers and the quantity that tests it."""

    key: str  # letters only (macro names)
    claim: str  # the paper's wording (spec §1)
    measure: str  # what is compared, for the table
    better: str  # "higher" or "lower"
    values: Values | None = None  # per-seed values of one model
    test: str = "t"  # stats.paired_test: "t" (continuous) or "permutation" (discrete, ordinal)
    baselines: Callable[[Context], list[str]] | None = None  # default: train.claims.baselines
    paired: Paired | None = None  # (effect, structured, baseline) for matched comparisons
    unit: str = "1"  # unit of the effect ("metric": the task's metric, ``metric_unit``)
    source: str = "main"  # what the rows read (``SOURCES``): selection split, budget, size
    bound: str = ""  # the bound of the spectral cap that implies the claim's direction (P1, P4)

    def baselines_for(self, ctx: Context) -> list[str]:
        return self.baselines(ctx) if self.baselines else list(ctx.claims_cfg["baselines"])


CLAIMS: list[Claim] = []


def claim(
    key: str,
    wording: str,
    measure: str,
    better: str,
    test: str = "t",
    baselines=None,
    paired=False,
    **fields,
):
    """Register the decorated function as the measurement of a claim: ``values(ctx, model)``,
    or with ``paired=True`` ``paired(ctx, structured, baseline)``; ``fields``: ``unit``,
    ``source``, ``bound`` of ``Claim``."""

    def register(fn):
        CLAIMS.append(
            Claim(
                key,
                wording,
                measure,
                better,
                None if paired else fn,
                test,
                baselines,
                fn if paired else None,
                **fields,
            )
        )
        return fn

    return register


# what a claim's rows read: the main study's cells at the default size (weights kept on
# validation), a depth or width sweep's cells (kept on validation), the LR sweep's or the
# fixed-point study's fixed-budget runs (last weights, no choice made)
SOURCES = ("main", "depth", "width", "lr", "fp")


# Claims measured but not tested, with the reason (quoted in the paper).
DROPPED = {
    "Curvature": "the top Hessian eigenvalue in weight space is not invariant under the "
    "reparametrisation S(W) that defines the structured layer, so it does not compare models "
    "(it is shown as a curve, not tested); the stable learning rate tests the smoothness claim",
}


# --- the claims, in table order ----------------------------------------------------------------


def _sweep(ctx: Context, model: str, study: str) -> tuple[xr.Dataset, dict] | None:
    """The model's cells of a depth or width study (at the default width or depth), or None."""
    st = ctx.study(study, model)
    if st is None:
        return None
    if study == "depth":
        sub = ctx.cells.sel(model=model, depth=sorted(st["depths"]), width=ctx.cfg["width"], task=st["tasks"])
    else:
        sub = ctx.cells.sel(model=model, width=sorted(st["widths"]), depth=ctx.cfg["depth"], task=st["tasks"])
    return sub, st


def slope_over(da: xr.DataArray, dim: str, log2: bool) -> xr.DataArray:
    """Per-seed least-squares slope of ``da`` against ``dim`` (log2 of it with ``log2``) over every
    value of the sweep (``stats.trend_slope``; NaN with fewer than 3 finite points)."""
    x = np.log2(da[dim].values.astype(float)) if log2 else da[dim].values.astype(float)
    return xr.apply_ufunc(lambda y: trend_slope(x, y), da, input_core_dims=[[dim]])


# what a trend claim fits: the variable, the sweep dimension and whether x is log2 of it
TRENDS = {
    "GradFlow": ("grad_decades", "depth", False),
    "DepthScaling": ("final_test_metric", "depth", True),
    "WidthScaling": ("final_test_metric", "width", True),
}


def trend_values(cells: xr.Dataset, name: str) -> xr.DataArray:
    """The per-seed quantity a trend fits: |log10 g_0/g_L| at the end of training (GradFlow),
    or a cell variable."""
    if name == "grad_decades":
        return np.abs(np.log10(final(cells.grad_ratio)))
    return cells[name]


@claim(
    "GradFlow",
    "gradient flow",
    r"slope of $|\log_{10}\|g_0\|/\|g_L\||$ against $L$ (decades per layer)",
    "lower",
    unit="decades per layer",
    source="depth",
)
def grad_flow(ctx, model):
    got = _sweep(ctx, model, "depth")
    if got is None:
        return None
    name, dim, log2 = TRENDS["GradFlow"]
    return slope_over(trend_values(got[0], name), dim, log2)


@claim(
    "Conditioning",
    "gradient conditioning",
    r"$\log_{10}\kappa_+(\partial h_L/\partial h_0)$ (active subspace)",
    "lower",
    unit="log10",
)
def conditioning(ctx, model):
    base = ctx.main(model)
    return None if base is None else base.e2e_logcond.sel(stage="final")


@claim(
    "Sensitivity",
    "spectral sensitivity",
    r"$\log_{10}\|\partial F/\partial x\|_2$",
    "lower",
    unit="log10",
    bound="P4",
)
def sensitivity(ctx, model):
    base = ctx.main(model)
    return None if base is None else np.log10(base.io_norm.sel(stage="final"))


def matched_indices(ctx: Context, s_cell: xr.Dataset, b_cell: xr.Dataset):
    """The evaluations at which two cells (one task) are compared, chosen on validation alone
    (``selection.match_on_validation`` over their ``ValidationView``), and the number of seeds
    dropped: both models have kept weights but no evaluation matches within
    ``claims.match_tolerance``. Returns ``(idx_s, idx_b, n_dropped)``."""
    vs, vb = ValidationView.of(s_cell), ValidationView.of(b_cell)
    i_s, i_b = match_on_validation(vs, vb, ctx.claims_cfg["match_tolerance"])
    both = np.isfinite(vs.at_kept()) & np.isfinite(vb.at_kept())
    return i_s, i_b, int((both & (i_s < 0)).sum())


def test_drop(cell: xr.Dataset, curve: str, level: dict, idx: np.ndarray) -> np.ndarray:
    """The accuracy change under a perturbation on the test inputs (tracked ``curve`` at
    ``level`` minus the clean test accuracy) at each seed's evaluation ``idx`` (NaN at -1):
    the test split reports, at weights chosen on validation."""
    order = ("seed", "eval_step")
    change = (cell[curve].sel(level) - cell.clean_curve).transpose(*order).values
    return read_at(change, idx)


def _matched(ctx: Context, s_model: str, b_model: str, curve: str, level: dict):
    """Accuracy drop under a perturbation at matched clean accuracy: per classification task
    and seed, both models read at the evaluation whose clean VALIDATION accuracy is closest to
    the lower of their kept weights' (``matched_indices``), the drop measured on the TEST
    inputs there (``test_drop``). The effect carries ``attrs["dropped"]``: per task, the seeds
    without a match."""
    s_base, b_base = ctx.main(s_model), ctx.main(b_model)
    if s_base is None or b_base is None or not ctx.classification:
        return None
    s_drop, b_drop, dropped = [], [], {}
    for task in ctx.classification:
        s, b = s_base.sel(task=task), b_base.sel(task=task)
        i_s, i_b, dropped[task] = matched_indices(ctx, s, b)
        s_drop.append(test_drop(s, curve, level, i_s))
        b_drop.append(test_drop(b, curve, level, i_b))
    coords = {"task": ctx.classification, "seed": s_base.seed.values}
    da = lambda a: xr.DataArray(np.array(a), dims=("task", "seed"), coords=coords)
    effect = da(s_drop) - da(b_drop)
    effect.attrs["dropped"] = dropped
    return effect, da(s_drop), da(b_drop)


@claim(
    "NoiseRobust",
    "robustness (noise)",
    r"accuracy change under noise $\sigma$, at matched clean accuracy",
    "higher",
    paired=True,
    unit="accuracy",
)
def noise_robust(ctx, s_model, b_model):
    return _matched(ctx, s_model, b_model, "noise_curve", {"track_sigma": ctx.claims_cfg["noise_sigma"]})


@claim(
    "FgsmRobust",
    "robustness (FGSM)",
    r"accuracy change under FGSM $\epsilon$, at matched clean accuracy",
    "higher",
    paired=True,
    unit="accuracy",
)
def fgsm_robust(ctx, s_model, b_model):
    return _matched(ctx, s_model, b_model, "fgsm_curve", {"track_eps": ctx.claims_cfg["fgsm_eps"]})


@claim(
    "LayerRobust",
    "layer-wise robustness",
    r"$\log_{10}$ amplification at $h_L$ (gradient dir.)",
    "lower",
    unit="log10",
    bound="P1",
)
def layer_robust(ctx, model):
    base = ctx.main(model)
    if base is None:
        return None
    return np.log10(base.amplification.sel(direction="gradient", layer_h=ctx.cfg["depth"]))


@claim("LossTV", "smoothness (loss)", r"$\log_{10}$ loss total-variation ratio", "lower", unit="log10")
def loss_tv(ctx, model):
    base = ctx.main(model)
    return None if base is None else np.log10(base.loss_tv_ratio)


def _swept(ctx: Context) -> list[str]:
    models = [] if ctx.lr is None else list(ctx.lr.model.values)
    return [b for b in ctx.claims_cfg["baselines"] if b in models]


@claim(
    "StableLR",
    "smoothness (stable LR)",
    r"largest stable SGD rate (grid steps; $-1$: none stable)",
    "higher",
    test="permutation",
    baselines=_swept,
    unit="grid steps",
    source="lr",
)
def stable_lr(ctx, model):
    if ctx.lr is None or model not in ctx.lr.model.values:
        return None
    return ctx.lr.stable_index.sel(model=model)


@claim(
    "DepthScaling",
    "depth scaling",
    r"slope of test accuracy against $\log_2 L$",
    "higher",
    unit="accuracy per doubling",
    source="depth",
)
def depth_scaling(ctx, model):
    got = _sweep(ctx, model, "depth")
    if got is None:
        return None
    tasks = ctx.kind_tasks(got[1]["tasks"], "classification")
    _, dim, log2 = TRENDS["DepthScaling"]
    return slope_over(got[0].final_test_metric.sel(task=tasks), dim, log2) if tasks else None


@claim(
    "WidthScaling",
    "across widths",
    r"slope of test accuracy against $\log_2 d$",
    "higher",
    unit="accuracy per doubling",
    source="width",
)
def width_scaling(ctx, model):
    got = _sweep(ctx, model, "width")
    if got is None:
        return None
    tasks = ctx.kind_tasks(got[1]["tasks"], "classification")
    _, dim, log2 = TRENDS["WidthScaling"]
    return slope_over(got[0].final_test_metric.sel(task=tasks), dim, log2) if tasks else None


@claim("Accuracy", "accuracy", r"test accuracy", "higher", unit="accuracy")
def accuracy(ctx, model):
    base = ctx.main(model)
    if base is None or not ctx.classification:
        return None
    return base.final_test_metric.sel(task=ctx.classification)


@claim("RegressionMSE", "regression error", r"$\log_{10}$ test MSE", "lower", unit="log10 MSE")
def regression_mse(ctx, model):
    base = ctx.main(model)
    if base is None or not ctx.regression:
        return None
    return np.log10(base.final_test_metric.sel(task=ctx.regression))


@claim(
    "GenGap",
    "generalisation",
    r"gap: train $-$ test accuracy, test/train MSE $-1$",
    "lower",
    unit="metric",
)
def gen_gap(ctx, model):
    base = ctx.main(model)
    return None if base is None else base.gen_gap


def _uncapped_baseline(ctx: Context) -> list[str]:
    """The fixed-point claim compares the cap with the uncapped model, when it was trained."""
    return ["uncapped"] if ctx.fp is not None and np.isinf(ctx.fp.rho.values).any() else []


def _fixed_point_alphas(ctx: Context) -> list[float]:
    """Gates with a correction (alpha > 0): at alpha = 0 the comparison is not the papers'."""
    return [float(a) for a in ctx.fp.alpha.values if a > 0]


def alpha_label(alpha: float) -> str:
    return f"alpha={alpha:g}"


@claim(
    "FixedPoint",
    "fixed points",
    r"fraction of inputs whose iteration converges",
    "higher",
    test="permutation",
    baselines=_uncapped_baseline,
    unit="fraction of inputs",
    source="fp",
)
def fixed_point(ctx, model):
    if ctx.fp is None:
        return None
    rho = np.inf if model == "uncapped" else ctx.claims_cfg["fixed_point_rho"]
    if model not in ("uncapped", ctx.claims_cfg["structured"]):
        return None
    alphas = _fixed_point_alphas(ctx)
    out = ctx.fp.converged.sel(rho=rho, alpha=alphas)
    return out.rename(alpha="task").assign_coords(task=[alpha_label(a) for a in alphas])


def fixed_point_by_construction(ctx: Context, task: str) -> bool:
    """Whether the capped model's bound q < 1 holds for every seed at this gate (P3 then
    guarantees convergence: the comparison is true by construction, not an empirical test)."""
    rho = ctx.claims_cfg["fixed_point_rho"]
    for a in _fixed_point_alphas(ctx):
        if alpha_label(a) == task:
            q = ctx.fp.q_bound.sel(rho=rho, alpha=a).values
            return bool(np.isfinite(q).all() and (q < 1).all())
    return False


# --- the table -------------------------------------------------------------------------------


def claim_values(claim: Claim, ctx: Context, model: str) -> xr.DataArray | None:
    """Per-seed values of ``claim`` for ``model`` with dims (task, seed), or None."""
    if model != "uncapped" and model not in ctx.cells.model.values:
        return None
    out = claim.values(ctx, model)
    if out is None:
        return None
    if "task" not in out.dims:
        out = out.expand_dims(task=["all"])
    return out.transpose("task", "seed")


def comparisons(claim: Claim, ctx: Context, s_model: str, b_model: str):
    """(effect, structured values, baseline values) with dims (task, seed), or None."""
    if claim.paired is not None:
        if b_model not in ctx.cells.model.values:
            return None
        return claim.paired(ctx, s_model, b_model)
    s_vals, b_vals = claim_values(claim, ctx, s_model), claim_values(claim, ctx, b_model)
    if s_vals is None or b_vals is None:
        return None
    s_vals, b_vals = xr.align(s_vals, b_vals, join="inner")
    return s_vals - b_vals, s_vals, b_vals


def _constant(a: np.ndarray) -> bool:
    a = a[np.isfinite(a)]
    return a.size > 1 and bool(np.all(a == a[0]))


def claims_table(ctx: Context) -> pd.DataFrame:
    """One row per (claim, baseline, task): effect, interval, raw and Holm-adjusted p, verdict
    (module docstring). ``note`` flags degenerate rows (both models constant over seeds) and
    underpowered ones (an exact test whose smallest attainable p cannot pass alpha / m)."""
    cl = ctx.claims_cfg
    rows = []
    for c in CLAIMS:
        for base in c.baselines_for(ctx):
            got = comparisons(c, ctx, cl["structured"], base)
            if got is None:
                continue
            effect, s_vals, b_vals = got
            for task in effect.task.values:
                diff = effect.sel(task=task).values
                s, b = s_vals.sel(task=task).values, b_vals.sel(task=task).values
                res = paired_test(diff, c.test, cl["confidence"])
                by_construction = c.key == "FixedPoint" and fixed_point_by_construction(ctx, str(task))
                rows.append(
                    {
                        "key": c.key,
                        "claim": c.claim,
                        "measure": c.measure,
                        "baseline": base,
                        "task": str(task),
                        "better": c.better,
                        "test": c.test,
                        "structured": float(np.nanmean(s)) if np.isfinite(s).any() else np.nan,
                        "baseline_value": float(np.nanmean(b)) if np.isfinite(b).any() else np.nan,
                        "effect": res.mean,
                        "ci_low": res.low,
                        "ci_high": res.high,
                        "n": res.n,
                        "p": np.nan if by_construction else res.p,
                        "note": BY_CONSTRUCTION
                        if by_construction
                        else ("constant" if _constant(s) and _constant(b) else ""),
                    }
                )
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df["p_holm"] = holm(df.p.to_numpy(dtype=float))
    df["verdict"] = [
        BY_CONSTRUCTION
        if r.note == BY_CONSTRUCTION
        else verdict_from_test(r.effect, r.p_holm, r.better, cl["alpha"])
        for r in df.itertuples()
    ]
    m = int(np.isfinite(df.p.to_numpy(dtype=float)).sum())
    df["family_size"] = m
    # a row whose smallest attainable p cannot pass even Holm's first threshold alpha/m
    weak = [
        np.isfinite(r.p) and r.note == "" and min_attainable_p(int(r.n), r.test) >= cl["alpha"] / max(m, 1)
        for r in df.itertuples()
    ]
    df.loc[weak, "note"] = "underpowered"
    return df
