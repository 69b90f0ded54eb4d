"""Reporting of the training stage: the claims table (computed in ``claims``) as a dataset,
LaTeX tables and the macros the paper quotes (spec structured-layers.md §1, §7)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import xarray as xr

from ..latex import fmt_num
from ..stats import VERDICTS
from .claims import final


def claims_dataset(df: pd.DataFrame) -> xr.Dataset:
    """The claims table as a dataset (dim ``row``) for results/analysis."""
    ds = xr.Dataset.from_dataframe(df.reset_index(drop=True).rename_axis("row"))
    units = {
        "structured": "structured model value (mean)",
        "baseline_value": "baseline value (mean)",
        "effect": "paired effect structured - baseline",
        "ci_low": "CI lower end",
        "ci_high": "CI upper end",
        "n": "number of seeds",
    }
    for name in ds.data_vars:
        ds[name].attrs.update(long_name=units.get(name, name), units="1")
    ds["row"].attrs.update(long_name="table row", units="1")
    return ds


def _tex_escape(s: str) -> str:
    return s.replace("_", r"\_")


def claims_latex_frame(df: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Display form of the claims table (numbers formatted, model names escaped)."""

    def num(x):
        return "--" if not np.isfinite(x) else f"${fmt_num(float(x))}$"

    pct = int(round(100 * confidence))
    return pd.DataFrame(
        {
            "claim": df.claim,
            "measured quantity": df.measure,
            "baseline": df.baseline.map(_tex_escape),
            "better": df.better.map({"higher": r"$\uparrow$", "lower": r"$\downarrow$"}),
            "effect": df.effect.map(num),
            f"{pct}\\% CI": [f"[{num(a)}, {num(b)}]" for a, b in zip(df.ci_low, df.ci_high)],
            "$n$": df.n.astype(int),
            "verdict": df.verdict.map(lambda v: r"\textbf{" + v + "}" if v == "supported" else v),
        }
    )


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
            c = cells.sel(task=task, model=model, depth=depth, width=width)
            if not np.isfinite(c.n_params.values):
                continue

            def ms(da):
                v = np.asarray(da.values, dtype=float)
                if not np.isfinite(v).any():
                    return "--"
                sd = np.nanstd(v, ddof=1) if np.isfinite(v).sum() > 1 else 0
                return f"{np.nanmean(v):.3g} $\\pm$ {sd:.2g}"

            rows.append(
                {
                    "task": _tex_escape(task),
                    "model": _tex_escape(model),
                    "train": ms(final(c.train_metric)),
                    "test": ms(final(c.test_metric)),
                    "gap": ms(c.gen_gap),
                    r"$\log_{10}\kappa$": ms(c.e2e_logcond.sel(stage="final")),
                    r"$\|g_0\|/\|g_L\|$": ms(final(c.grad_ratio)),
                    rf"noise $\sigma={sigma:g}$": ms(c.noise_metric.sel(noise_sigma=sigma)),
                    "div.": int(np.nansum(c.diverged.values)),
                    "params": int(c.n_params.values),
                }
            )
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
