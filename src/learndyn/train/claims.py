"""The claims of the structured-layer papers as data (spec structured-layers.md §1, §7).

Each claim is one ``Claim`` registered with the small function that measures it:
``values(ctx, model) -> per-seed values`` (a ``seed`` dim, plus ``task`` when the claim pools
tasks), or None when the model is not part of the study the claim reads. ``claims_table``
loops over the registry: the effect is the structured model minus a baseline, paired by seed
(averaged over tasks within a seed when a claim pools several tasks), with a Student-t
confidence interval over seeds; the verdict is read off the interval only (``stats.verdict``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import xarray as xr

from ..stats import paired_ci, verdict


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
            is_class = bool(self.cells.attrs.get(f"kind_{t}", "") == "classification")
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


@dataclass(frozen=True)
class Claim:
    """A claim of the papers and the quantity that tests it."""

    key: str  # letters only (macro names)
    claim: str  # the paper's wording (spec §1)
    measure: str  # what is compared, for the table
    better: str  # "higher" or "lower"
    values: Values  # per-seed values of one model
    baselines: Callable[[Context], list[str]] | None = None  # default: train.claims.baselines

    def baselines_for(self, ctx: Context) -> list[str]:
        return self.baselines(ctx) if self.baselines else list(ctx.claims_cfg["baselines"])


CLAIMS: list[Claim] = []


def claim(key: str, wording: str, measure: str, better: str, baselines=None):
    """Register the decorated ``values(ctx, model)`` as the measurement of a claim."""

    def register(fn: Values) -> Values:
        CLAIMS.append(Claim(key, wording, measure, better, fn, baselines))
        return fn

    return register


# --- the claims, in table order ----------------------------------------------------------------


def _deepest(ctx: Context, model: str) -> xr.Dataset | None:
    st = ctx.study("depth", model)
    if st is None:
        return None
    return ctx.cells.sel(model=model, depth=max(st["depths"]), width=ctx.cfg["width"], task=st["tasks"])


@claim("GradFlow", "gradient flow", r"$|\log_{10}\|g_0\|/\|g_L\||$ at the deepest $L$", "lower")
def grad_flow(ctx, model):
    sub = _deepest(ctx, model)
    return None if sub is None else np.abs(np.log10(final(sub.grad_ratio)))


@claim("Conditioning", "gradient conditioning", r"$\log_{10}\kappa(\partial h_L/\partial h_0)$", "lower")
def conditioning(ctx, model):
    base = ctx.main(model)
    return None if base is None else base.e2e_logcond.sel(stage="final")


@claim("Sensitivity", "spectral sensitivity", r"$\log_{10}\|\partial F/\partial x\|_2$", "lower")
def sensitivity(ctx, model):
    base = ctx.main(model)
    return None if base is None else np.log10(base.io_norm.sel(stage="final"))


@claim("NoiseRobust", "robustness (noise)", r"accuracy change under noise $\sigma$", "higher")
def noise_robust(ctx, model):
    base = ctx.main(model)
    if base is None or not ctx.classification:
        return None
    m = base.noise_metric.sel(task=ctx.classification)
    return m.sel(noise_sigma=ctx.claims_cfg["noise_sigma"]) - m.sel(noise_sigma=0.0)


@claim("FgsmRobust", "robustness (FGSM)", r"accuracy change under FGSM $\epsilon$", "higher")
def fgsm_robust(ctx, model):
    base = ctx.main(model)
    if base is None or not ctx.classification:
        return None
    m = base.sel(task=ctx.classification)
    return m.fgsm_metric.sel(fgsm_eps=ctx.claims_cfg["fgsm_eps"]) - m.noise_metric.sel(noise_sigma=0.0)


@claim("LayerRobust", "layer-wise robustness", r"$\log_{10}$ amplification at $h_L$ (gradient dir.)", "lower")
def layer_robust(ctx, model):
    base = ctx.main(model)
    if base is None:
        return None
    return np.log10(base.amplification.sel(direction="gradient", layer_h=ctx.cfg["depth"]))


@claim("LossTV", "smoothness (loss)", r"$\log_{10}$ loss total-variation ratio", "lower")
def loss_tv(ctx, model):
    base = ctx.main(model)
    return None if base is None else np.log10(base.loss_tv_ratio)


@claim("Curvature", "smoothness (curvature)", r"$\log_{10}$ top Hessian eigenvalue (final)", "lower")
def curvature(ctx, model):
    base = ctx.main(model)
    return None if base is None else np.log10(final(base.hessian_top))


@claim("StableLR", "smoothness (stable LR)", r"$\log_{10}$ largest stable SGD learning rate", "higher")
def stable_lr(ctx, model):
    if ctx.lr is None or model not in ctx.lr.model.values:
        return None
    return np.log10(ctx.lr.stable_lr.sel(model=model))


@claim("DepthScaling", "depth scaling", r"test accuracy at the deepest $L$", "higher")
def depth_scaling(ctx, model):
    sub = _deepest(ctx, model)
    if sub is None:
        return None
    tasks = ctx.kind_tasks(ctx.study("depth", model)["tasks"], "classification")
    return final(sub.test_metric.sel(task=tasks)) if tasks else None


@claim("WidthScaling", "across widths", r"test accuracy, mean over widths", "higher")
def width_scaling(ctx, model):
    st = ctx.study("width", model)
    if st is None:
        return None
    tasks = ctx.kind_tasks(st["tasks"], "classification")
    if not tasks:
        return None
    sub = ctx.cells.sel(model=model, depth=ctx.cfg["depth"], width=st["widths"], task=tasks)
    return final(sub.test_metric).mean("width")


@claim("Accuracy", "accuracy", r"test accuracy", "higher")
def accuracy(ctx, model):
    base = ctx.main(model)
    if base is None or not ctx.classification:
        return None
    return final(base.test_metric.sel(task=ctx.classification))


@claim("RegressionMSE", "regression error", r"$\log_{10}$ test MSE", "lower")
def regression_mse(ctx, model):
    base = ctx.main(model)
    if base is None or not ctx.regression:
        return None
    return np.log10(final(base.test_metric.sel(task=ctx.regression)))


@claim("GenGap", "generalisation", r"generalisation gap", "lower")
def gen_gap(ctx, model):
    base = ctx.main(model)
    return None if base is None else base.gen_gap


def _uncapped_baseline(ctx: Context) -> list[str]:
    """The fixed-point claim compares the cap with the uncapped model, when it was trained."""
    return ["uncapped"] if ctx.fp is not None and np.isinf(ctx.fp.rho.values).any() else []


@claim(
    "FixedPoint",
    "fixed points",
    r"fraction of inputs whose iteration converges",
    "higher",
    baselines=_uncapped_baseline,
)
def fixed_point(ctx, model):
    if ctx.fp is None:
        return None
    cl = ctx.claims_cfg
    if model == "uncapped":
        return ctx.fp.converged.sel(rho=np.inf, alpha=cl["fixed_point_alpha"])
    if model != cl["structured"]:
        return None
    return ctx.fp.converged.sel(rho=cl["fixed_point_rho"], alpha=cl["fixed_point_alpha"])


# --- the table -------------------------------------------------------------------------------


def claim_values(claim: Claim, ctx: Context, model: str) -> xr.DataArray | None:
    """Per-seed values of ``claim`` for ``model`` (None when the model was not trained)."""
    if model != "uncapped" and model not in ctx.cells.model.values:
        return None
    return claim.values(ctx, model)


def paired_effect(a: xr.DataArray, b: xr.DataArray) -> np.ndarray:
    """Per-seed effect a - b, averaged over tasks when the claim pools tasks ``(seed,)``."""
    diff = a - b
    extra = [d for d in diff.dims if d != "seed"]
    if extra:
        diff = diff.mean(extra, skipna=False)
    return diff.transpose("seed").values


def claims_table(ctx: Context) -> pd.DataFrame:
    """One row per (claim, baseline): effect, CI, n, verdict (module docstring)."""
    cl = ctx.claims_cfg
    rows = []
    for c in CLAIMS:
        s_vals = claim_values(c, ctx, cl["structured"])
        if s_vals is None:
            continue
        for base in c.baselines_for(ctx):
            b_vals = claim_values(c, ctx, base)
            if b_vals is None:
                continue
            mean, low, high, n = paired_ci(paired_effect(s_vals, b_vals), cl["confidence"])
            rows.append(
                {
                    "key": c.key,
                    "claim": c.claim,
                    "measure": c.measure,
                    "baseline": base,
                    "better": c.better,
                    "structured": float(np.nanmean(s_vals.values)),
                    "baseline_value": float(np.nanmean(b_vals.values)),
                    "effect": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "n": n,
                    "verdict": verdict(low, high, c.better),
                }
            )
    return pd.DataFrame(rows)
