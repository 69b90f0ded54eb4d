"""Aggregation of the training stage and the claims table (spec structured-layers.md §1, §7).

Each claim of the papers is turned into one measured quantity per seed; the effect is the
structured model minus a baseline, paired by seed (averaged over tasks within a seed when a
claim pools several tasks), with a Student-t confidence interval over seeds. The verdict is
read off the interval only: *supported* when it lies entirely on the side the paper claims,
*not supported* when it lies entirely on the other side, *inconclusive* when it contains 0.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from .io import cf_attrs


def expand_cell(ds: xr.Dataset) -> xr.Dataset:
    """Add the cell's (task, model, depth, width) as length-1 dimensions for combining."""
    out = ds.drop_vars(["A_sv", "J_sv", "step_loss", "step"], errors="ignore")
    out = out.expand_dims(task=[ds.attrs["task"]], model=[ds.attrs["model"]],
                          depth=[int(ds.attrs["depth"])], width=[int(ds.attrs["width"])])
    out["depth"].attrs.update(cf_attrs("depth L"))
    out["width"].attrs.update(cf_attrs("width d"))
    out.attrs = {}
    return out


COMBINE = dict(join="outer", compat="no_conflicts", data_vars="all", combine_attrs="drop_conflicts")
VERDICTS = ("supported", "not supported", "inconclusive")


# --- aggregation ---------------------------------------------------------------------------

def _eval_axis(ds: xr.Dataset) -> xr.Dataset:
    """Replace the per-task epoch axis by the optimisation step of each evaluation, which is
    the same for every cell (epochs differ with the training-set size)."""
    cfg = ds.attrs.get("train_config")
    every = json.loads(cfg)["eval_every"]
    out = ds.assign_coords(epoch=np.arange(ds.sizes["epoch"]) * every).rename(epoch="eval_step")
    out["eval_step"].attrs.update(long_name="optimisation step", units="1")
    return out


def combine_cells(datasets: list[xr.Dataset]) -> xr.Dataset:
    """One tidy dataset with dims (task, model, depth, width, seed, eval_step, layer, ...)."""
    L = max(int(ds.attrs["depth"]) for ds in datasets)
    parts = []
    for ds in datasets:
        part = expand_cell(_eval_axis(ds)).drop_vars("sv", errors="ignore")
        # integers become floats, so cells missing from the grid are NaN (not a fill value)
        part = part.assign({k: v.astype(float) for k, v in part.data_vars.items() if v.dtype.kind in "iu"})
        # shared layer axes (deeper cells have more layers) so only the cell dims are concatenated
        parts.append(part.reindex(layer=np.arange(1, L + 1), layer_h=np.arange(0, L + 1)))
    out = xr.combine_by_coords(parts, **COMBINE)
    out.attrs.update({f"kind_{ds.attrs['task']}": ds.attrs["kind"] for ds in datasets})
    return label_coords(out)


def combine_spectra(datasets: list[xr.Dataset], depth: int, width: int) -> xr.Dataset:
    """Singular-value spectra (task, model, seed, stage, layer, sv) of the default-size cells."""
    parts = []
    for ds in datasets:
        if int(ds.attrs["depth"]) == depth and int(ds.attrs["width"]) == width:
            sub = ds[["A_sv", "J_sv"]].expand_dims(task=[ds.attrs["task"]], model=[ds.attrs["model"]])
            sub.attrs = {}
            parts.append(sub)
    return label_coords(xr.combine_by_coords(parts, **COMBINE))


def combine_lr_sweeps(datasets: list[xr.Dataset]) -> xr.Dataset:
    parts = []
    for ds in datasets:
        sub = ds.expand_dims(task=[ds.attrs["task"]], model=[ds.attrs["model"]])
        sub.attrs = {}
        parts.append(sub)
    return label_coords(xr.combine_by_coords(parts, **COMBINE))


def label_coords(ds: xr.Dataset) -> xr.Dataset:
    """CF attributes for the string dimensions added by the aggregation."""
    for name, long in (("task", "task"), ("model", "model"), ("stage", "stage"),
                       ("direction", "perturbation direction")):
        if name in ds.coords:
            ds[name].attrs.update(long_name=long, units="1")
    return ds


# --- statistics ------------------------------------------------------------------------------

def paired_ci(diff: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of a Student-t interval for the mean of paired differences."""
    d = np.asarray(diff, dtype=float)
    d = d[np.isfinite(d)]
    n = len(d)
    if n == 0:
        return np.nan, np.nan, np.nan, 0
    mean = float(d.mean())
    if n < 2:
        return mean, np.nan, np.nan, n
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * d.std(ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half, n


def verdict(low: float, high: float, better: str) -> str:
    """From the CI of (structured - baseline): ``better`` is "higher" or "lower"."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"
    favourable = low > 0 if better == "higher" else high < 0
    unfavourable = high < 0 if better == "higher" else low > 0
    return "supported" if favourable else ("not supported" if unfavourable else "inconclusive")


# --- the claims ------------------------------------------------------------------------------

@dataclass
class Claim:
    """A claim of the papers and the quantity that tests it."""

    key: str  # letters only (macro names)
    claim: str  # the paper's wording (spec §1)
    measure: str  # what is compared, for the table
    better: str  # "higher" or "lower"


CLAIMS = [
    Claim("GradFlow", "gradient flow", r"$|\log_{10}\|g_0\|/\|g_L\||$ at the deepest $L$", "lower"),
    Claim("Conditioning", "gradient conditioning", r"$\log_{10}\kappa(\partial h_L/\partial h_0)$", "lower"),
    Claim("Sensitivity", "spectral sensitivity", r"$\log_{10}\|\partial F/\partial x\|_2$", "lower"),
    Claim("NoiseRobust", "robustness (noise)", r"accuracy change under noise $\sigma$", "higher"),
    Claim("FgsmRobust", "robustness (FGSM)", r"accuracy change under FGSM $\epsilon$", "higher"),
    Claim("LayerRobust", "layer-wise robustness", r"$\log_{10}$ amplification at $h_L$ (gradient dir.)", "lower"),
    Claim("LossTV", "smoothness (loss)", r"$\log_{10}$ loss total-variation ratio", "lower"),
    Claim("Curvature", "smoothness (curvature)", r"$\log_{10}$ top Hessian eigenvalue (final)", "lower"),
    Claim("StableLR", "smoothness (stable LR)", r"$\log_{10}$ largest stable SGD learning rate", "higher"),
    Claim("DepthScaling", "depth scaling", r"test accuracy at the deepest $L$", "higher"),
    Claim("WidthScaling", "across widths", r"test accuracy, mean over widths", "higher"),
    Claim("Accuracy", "accuracy", r"test accuracy", "higher"),
    Claim("RegressionMSE", "regression error", r"$\log_{10}$ test MSE", "lower"),
    Claim("GenGap", "generalisation", r"generalisation gap", "lower"),
    Claim("FixedPoint", "fixed points", r"fraction of inputs whose iteration converges", "higher"),
]


def _final(da: xr.DataArray) -> xr.DataArray:
    return da.isel(eval_step=-1) if "eval_step" in da.dims else da


def _cell(ds, task, model, depth, width):
    return ds.sel(task=task, model=model, depth=depth, width=width)


def _kind_tasks(cells: xr.Dataset, tasks, kind) -> list[str]:
    out = []
    for t in tasks:
        if t not in cells.task.values:
            continue
        is_class = bool(cells.attrs.get(f"kind_{t}", "") == "classification")
        if (kind == "classification") == is_class:
            out.append(t)
    return out


def claim_values(claim: Claim, cells: xr.Dataset, model: str, cfg: dict, lr: xr.Dataset | None,
                 fp: xr.Dataset | None) -> xr.DataArray | None:
    """Per-seed values of ``claim`` for ``model``, with a ``task`` dim when pooled (or None)."""
    studies, depth, width = cfg["studies"], cfg["depth"], cfg["width"]
    cl = cfg["claims"]
    main_tasks = [t for t in studies["main"]["tasks"]]
    sel = dict(model=model, depth=depth, width=width)
    if model not in cells.model.values:
        return None
    base = cells.sel(**sel) if model in studies["main"]["models"] else None
    classif = _kind_tasks(cells, main_tasks, "classification")
    regress = _kind_tasks(cells, main_tasks, "regression")
    if claim.key == "GradFlow" or claim.key == "DepthScaling":
        st = studies.get("depth")
        if not st or model not in st["models"]:
            return None
        dmax = max(st["depths"])
        sub = cells.sel(model=model, depth=dmax, width=width, task=st["tasks"])
        if claim.key == "GradFlow":
            return np.abs(np.log10(_final(sub.grad_ratio)))
        tasks = _kind_tasks(cells, st["tasks"], "classification")
        return _final(sub.test_metric.sel(task=tasks)) if tasks else None
    if claim.key == "WidthScaling":
        st = studies.get("width")
        if not st or model not in st["models"]:
            return None
        tasks = _kind_tasks(cells, st["tasks"], "classification")
        sub = cells.sel(model=model, depth=depth, width=st["widths"], task=tasks)
        return _final(sub.test_metric).mean("width") if tasks else None
    if claim.key == "StableLR":
        if lr is None or model not in lr.model.values:
            return None
        return np.log10(lr.stable_lr.sel(model=model))
    if claim.key == "FixedPoint":
        if fp is None or model != cl["structured"]:
            return None
        return fp.converged.sel(rho=cl["fixed_point_rho"], alpha=cl["fixed_point_alpha"])
    if base is None:
        return None
    base = base.sel(task=main_tasks)
    if claim.key == "Conditioning":
        return base.e2e_logcond.sel(stage="final")
    if claim.key == "Sensitivity":
        return np.log10(base.io_norm.sel(stage="final"))
    if claim.key == "NoiseRobust" and classif:
        m = base.noise_metric.sel(task=classif)
        return m.sel(noise_sigma=cl["noise_sigma"]) - m.sel(noise_sigma=0.0)
    if claim.key == "FgsmRobust" and classif:
        m = base.sel(task=classif)
        return m.fgsm_metric.sel(fgsm_eps=cl["fgsm_eps"]) - m.noise_metric.sel(noise_sigma=0.0)
    if claim.key == "LayerRobust":
        return np.log10(base.amplification.sel(direction="gradient", layer_h=depth))
    if claim.key == "LossTV":
        return np.log10(base.loss_tv_ratio)
    if claim.key == "Curvature":
        return np.log10(_final(base.hessian_top))
    if claim.key == "Accuracy" and classif:
        return _final(base.test_metric.sel(task=classif))
    if claim.key == "RegressionMSE" and regress:
        return np.log10(_final(base.test_metric.sel(task=regress)))
    if claim.key == "GenGap":
        return base.gen_gap
    return None


def fixed_point_uncapped(fp: xr.Dataset, cl: dict) -> xr.DataArray:
    return fp.converged.sel(rho=np.inf, alpha=cl["fixed_point_alpha"])


def paired_effect(a: xr.DataArray, b: xr.DataArray) -> np.ndarray:
    """Per-seed effect a - b, averaged over tasks when the claim pools tasks ``(seed,)``."""
    diff = a - b
    extra = [d for d in diff.dims if d != "seed"]
    if extra:
        diff = diff.mean(extra, skipna=False)
    return diff.transpose("seed").values


def claims_table(cells: xr.Dataset, cfg: dict, lr: xr.Dataset | None = None,
                 fp: xr.Dataset | None = None) -> pd.DataFrame:
    """One row per (claim, baseline): effect, CI, n, verdict (module docstring)."""
    cl = cfg["claims"]
    rows = []
    for claim in CLAIMS:
        s_vals = claim_values(claim, cells, cl["structured"], cfg, lr, fp)
        if s_vals is None:
            continue
        baselines = ["uncapped"] if claim.key == "FixedPoint" else cl["baselines"]
        for base in baselines:
            if claim.key == "FixedPoint":
                if not np.isinf(fp.rho.values).any():
                    continue
                b_vals = fixed_point_uncapped(fp, cl)
            else:
                b_vals = claim_values(claim, cells, base, cfg, lr, fp)
            if b_vals is None:
                continue
            diff = paired_effect(s_vals, b_vals)
            mean, low, high, n = paired_ci(diff, cl["confidence"])
            rows.append({"key": claim.key, "claim": claim.claim, "measure": claim.measure,
                         "baseline": base, "better": claim.better,
                         "structured": float(np.nanmean(s_vals.values)),
                         "baseline_value": float(np.nanmean(b_vals.values)),
                         "effect": mean, "ci_low": low, "ci_high": high, "n": n,
                         "verdict": verdict(low, high, claim.better)})
    return pd.DataFrame(rows)


def claims_dataset(df: pd.DataFrame) -> xr.Dataset:
    """The claims table as a dataset (dim ``row``) for results/analysis."""
    ds = xr.Dataset.from_dataframe(df.reset_index(drop=True).rename_axis("row"))
    units = {"structured": "structured model value (mean)", "baseline_value": "baseline value (mean)",
             "effect": "paired effect structured - baseline", "ci_low": "CI lower end",
             "ci_high": "CI upper end", "n": "number of seeds"}
    for name in ds.data_vars:
        ds[name].attrs.update(long_name=units.get(name, name), units="1")
    ds["row"].attrs.update(long_name="table row", units="1")
    return ds


def _tex_escape(s: str) -> str:
    return s.replace("_", r"\_")


def claims_latex_frame(df: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Display form of the claims table (numbers formatted, model names escaped)."""
    from .latex import fmt_num

    def num(x):
        return "--" if not np.isfinite(x) else f"${fmt_num(float(x))}$"

    pct = int(round(100 * confidence))
    return pd.DataFrame({
        "claim": df.claim, "measured quantity": df.measure,
        "baseline": df.baseline.map(_tex_escape),
        "better": df.better.map({"higher": r"$\uparrow$", "lower": r"$\downarrow$"}),
        "effect": df.effect.map(num),
        f"{pct}\\% CI": [f"[{num(a)}, {num(b)}]" for a, b in zip(df.ci_low, df.ci_high)],
        "$n$": df.n.astype(int),
        "verdict": df.verdict.map(lambda v: r"\textbf{" + v + "}" if v == "supported" else v)})


def summary_frame(cells: xr.Dataset, cfg: dict, study: str = "main") -> pd.DataFrame:
    """T-1 (``study="main"``) or the ablation table: per task and model at the default size,
    mean +- sd over seeds. The ablation table adds the structured model for reference."""
    depth, width = cfg["depth"], cfg["width"]
    sigma = cfg["claims"]["noise_sigma"]
    st = cfg["studies"].get(study)
    if st is None:
        return pd.DataFrame({"task": [], "model": []})
    models = list(st["models"])
    if study != "main" and cfg["claims"]["structured"] not in models:
        models = [cfg["claims"]["structured"], *models]
    rows = []
    for task in st["tasks"]:
        for model in models:
            if model not in cells.model.values:
                continue
            c = _cell(cells, task, model, depth, width)
            if not np.isfinite(c.n_params.values):
                continue

            def ms(da):
                v = np.asarray(da.values, dtype=float)
                if not np.isfinite(v).any():
                    return "--"
                return f"{np.nanmean(v):.3g} $\\pm$ {np.nanstd(v, ddof=1) if np.isfinite(v).sum() > 1 else 0:.2g}"

            rows.append({"task": _tex_escape(task), "model": _tex_escape(model),
                         "train": ms(_final(c.train_metric)), "test": ms(_final(c.test_metric)),
                         "gap": ms(c.gen_gap),
                         r"$\log_{10}\kappa$": ms(c.e2e_logcond.sel(stage="final")),
                         r"$\|g_0\|/\|g_L\|$": ms(_final(c.grad_ratio)),
                         rf"noise $\sigma={sigma:g}$": ms(c.noise_metric.sel(noise_sigma=sigma)),
                         "div.": int(np.nansum(c.diverged.values)),
                         "params": int(c.n_params.values)})
    return pd.DataFrame(rows)


def camel(name: str) -> str:
    """``struct_orth`` -> ``StructOrth`` (letters only, for macro names)."""
    words = re.split(r"[^A-Za-z]+", name)
    return "".join(w[:1].upper() + w[1:] for w in words if w)


def claims_macros(df: pd.DataFrame, cells: xr.Dataset, cfg: dict, fp: xr.Dataset | None) -> dict:
    """Numbers the section quotes: per-claim effects/CIs/verdicts, counts, parameter counts."""
    out = {}
    for _, r in df.iterrows():
        stem = f"{r.key}Vs{camel(r.baseline)}"
        out[stem + "Effect"] = float(r.effect)
        out[stem + "Low"] = float(r.ci_low)
        out[stem + "High"] = float(r.ci_high)
        out[stem + "Verdict"] = r.verdict
        out[stem + "Structured"] = float(r.structured)
        out[stem + "Baseline"] = float(r.baseline_value)
    for v in VERDICTS:
        out["Num" + camel(v)] = int((df.verdict == v).sum())
    out["NumClaimRows"] = len(df)
    out["NumSeeds"] = len(cfg["seeds"])
    out["Depth"] = cfg["depth"]
    out["Width"] = cfg["width"]
    out["Steps"] = cfg["optim"]["steps"]
    out["BatchSize"] = cfg["optim"]["batch_size"]
    out["NumCells"] = int(np.isfinite(cells.n_params.values).sum())
    out["Confidence"] = int(round(100 * cfg["claims"]["confidence"]))
    out["NumDiverged"] = int(np.nansum(cells.diverged.values))
    out["MaxDepth"] = int(max(cfg["studies"].get("depth", {}).get("depths", [cfg["depth"]])))
    task0 = cfg["studies"]["main"]["tasks"][0]
    for model in cells.model.values:
        n = cells.n_params.sel(task=task0, model=model, depth=cfg["depth"], width=cfg["width"]).values
        if np.isfinite(n):
            out["Params" + camel(str(model))] = int(n)
    out["ParamsTask"] = _tex_escape(task0)
    # P1: measured layer Lipschitz estimates never exceed the bound
    ratio = (cells.J_sigma_sup / cells.bound_upper).values
    ratio = ratio[np.isfinite(ratio)]
    out["POneMaxRatio"] = f"{ratio.max():.6f}" if ratio.size else r"\text{n/a}"
    out["POneNumChecked"] = int(ratio.size)
    low = (cells.J_sigma_min - cells.bound_lower).values
    low = low[np.isfinite(low)]
    out["PTwoMinSlack"] = float(low.min()) if low.size else float("nan")
    out["PTwoNumChecked"] = int(low.size)
    if fp is not None:
        q, qh = fp.q_bound.values, fp.q_hat.values
        ok = np.isfinite(q) & np.isfinite(qh) & (q < 1)
        out["PThreeNumContracting"] = int(ok.sum())
        out["PThreeNumWithinBound"] = int((qh[ok] <= q[ok] + 1e-6).sum())
        out["PThreeMaxRatio"] = float((qh[ok] / q[ok]).max()) if ok.any() else float("nan")
        out["FixedPointRho"] = float(cfg["claims"]["fixed_point_rho"])
        out["FixedPointAlpha"] = float(cfg["claims"]["fixed_point_alpha"])
    return out
