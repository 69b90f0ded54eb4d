"""Report of the level-0 closure on the structured layer (``structured_closure``; torch-free):
exponents of the level-0 error over width per model, paired-by-seed comparisons between the
models at equal width (and of their exponents), Holm over the family, the ledger rows and the
paper's macros (docs/structured-closure.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..latex import macro_name
from ..ledger import HALF_COLUMNS
from ..stats import exponent_interval, holm, paired_test, verdict_from_test

FAMILY = "theory_structured_closure"
# (model, baseline) pairs compared at equal width; effect = model minus baseline
PAIRS = (("structured", "relu"), ("linear", "relu"), ("structured", "linear"))


NAMES = {"structured": "structured layer", "linear": "linear path ($\\alpha=0$)", "relu": "ReLU network"}
LEDGER_COLUMNS = HALF_COLUMNS  # the paper ledger's columns (learndyn.ledger)
NA = r"\text{n/a}"


def trajectory_error(ds: xr.Dataset) -> xr.DataArray:
    """Largest level-0 error over the stored fractions of the horizon: (model, depth, width, seed)."""
    return ds.err.max("tau", skipna=True)


def model_exponents(ds: xr.Dataset, confidence: float = 0.95) -> dict:
    """Exponent p of the trajectory error ~ m^p per (model, depth): mean and Student-t interval
    over seeds of the per-seed log-log slopes (``stats.exponent_interval``)."""
    sup = trajectory_error(ds)
    return {
        (str(model), int(L)): exponent_interval(
            ds.width.values, sup.sel(model=model, depth=L).transpose("seed", "width").values, 0.0, confidence
        )
        for model in ds.model.values
        for L in ds.depth.values
    }


def log_ratio(ds: xr.Dataset, model: str, baseline: str, depth: int) -> np.ndarray:
    """log10 of the trajectory-error ratio model / baseline per (seed, width): the paired effect
    at equal width (negative: ``model`` is closer to its kernel limit)."""
    sup = trajectory_error(ds).sel(depth=depth)
    return np.log10(sup.sel(model=model) / sup.sel(model=baseline)).transpose("seed", "width").values


def comparison_rows(ds: xr.Dataset, confidence: float = 0.95) -> pd.DataFrame:
    """One row per (pair, depth, width) with the paired log-ratio, and one per (pair, depth) with
    the paired exponent difference; paired t-tests over seeds, Holm over the whole family,
    verdict from the adjusted p (better: lower)."""
    rows = []
    expo = {key: np.asarray(ex.slopes) for key, ex in model_exponents(ds, confidence).items()}
    task, budget = (
        ds.attrs.get("data_task", ""),
        f"t_h from the truncation's horizon rule ({ds.attrs['horizon_rule']})",
    )
    for model, base in PAIRS:
        for L in ds.depth.values:
            L = int(L)
            ratios = log_ratio(ds, model, base, L)
            diffs = [
                (str(int(m)), ratios[:, k], "log10 error ratio", "level-0 error at equal width")
                for k, m in enumerate(ds.width.values)
            ]
            diffs.append(
                (
                    "all",
                    expo[(model, L)] - expo[(base, L)],
                    "exponent difference",
                    "level-0 error exponent over width",
                )
            )
            for width, d, unit, claim in diffs:
                res = paired_test(d, "t", confidence)
                rows.append(
                    dict(
                        family=FAMILY,
                        claim=claim,
                        task=task,
                        model=model,
                        baseline=base,
                        depth=L,
                        width=width,
                        n_seeds=res.n,
                        selection_split="none (no selection)",
                        effect=res.mean,
                        unit=unit,
                        low=res.low,
                        high=res.high,
                        p=res.p,
                        by_construction=0,
                        budget=budget,
                        test_unit="seed",
                        n_units=res.n,
                    )
                )
    df = pd.DataFrame(rows)
    df["p_holm"] = holm(df.p.to_numpy(dtype=float))
    df["verdict"] = [verdict_from_test(e, p, "lower") for e, p in zip(df.effect, df.p_holm)]
    return df[LEDGER_COLUMNS]


def ledger_csv(ds: xr.Dataset, confidence: float = 0.95) -> str:
    """The ledger rows (``comparison_rows``) as CSV text, the columns of ``LEDGER_COLUMNS``."""
    return comparison_rows(ds, confidence).to_csv(index=False, float_format="%.10g")


def _fmt(v, digits=2) -> str:
    return f"{v:.{digits}f}" if np.isfinite(v) else NA


def _at_widths(widths: list) -> str:
    """'at width 8' or 'at widths 8, 16 and 32'."""
    if len(widths) == 1:
        return f"at width {widths[0]}"
    return f"at widths {', '.join(widths[:-1])} and {widths[-1]}"


def closer_sentence(df: pd.DataFrame, model: str, baseline: str, depth: int) -> str:
    """The verdict sentence of one pair at equal width, from the Holm-adjusted rows: at which
    widths ``model``'s level-0 error is lower, higher, or not distinguishable."""
    sel = df[(df.model == model) & (df.baseline == baseline) & (df.depth == depth) & (df.width != "all")]
    groups = {
        v: [w for w, vv in zip(sel.width, sel.verdict) if vv == v]
        for v in ("supported", "not supported", "inconclusive")
    }
    name, other = NAMES[model], NAMES[baseline]
    phrases = {
        "supported": f"the {name} has the lower level-0 error",
        "not supported": f"the {other} has the lower level-0 error",
        "inconclusive": "the paired test does not separate them",
    }
    parts = [f"{phrases[v]} {_at_widths(ws)}" for v, ws in groups.items() if ws]
    return "; ".join(parts) if parts else "not measured"


def structured_macros(ds: xr.Dataset, df: pd.DataFrame, confidence: float = 0.95) -> dict:
    """Macros of the structured-closure section: exponents with intervals per model and depth,
    the paired effects at the largest width, exponent differences, verdict sentences, the
    horizon, seeds, widths, the cap excess and the checks' largest errors."""
    macros = {
        "ScAlpha": f"{ds.attrs['alpha']:g}",
        "ScRho": f"{ds.attrs['rho']:g}",
        "ScRankRatio": f"{ds.attrs['rank_ratio']:g}",
        "ScSeeds": int(ds.sizes["seed"]),
        "ScDepth": int(ds.depth.values[0]),
        "ScConfidence": f"{100 * confidence:.0f}",
        "ScMinWidth": int(ds.width.values.min()),
        "ScMaxWidth": int(ds.width.values.max()),
        "ScWidthFactor": int(ds.width.values.max() // ds.width.values.min()),
        "ScHorizonMedian": f"{float(ds.horizon.median()):.3g}",
        "ScCheckSteps": int(ds.attrs["check_steps"]),
        "ScNumTests": int(np.isfinite(df.p_holm.to_numpy(dtype=float)).sum()),
        "ScKernelJacobianError": float(ds.kernel_jacobian_error.max(skipna=True)),
        "ScIntegratorError": float(ds.integrator_error.max(skipna=True)),
    }
    cap = ds.cap_excess.sel(model="structured").max("tau")
    macros["ScCapExcessMin"] = f"{float(cap.isel(width=-1).median()):.2g}"
    macros["ScCapExcessMax"] = f"{float(cap.isel(width=0).median()):.2g}"
    for (model, L), ex in model_exponents(ds, confidence).items():
        key = f"ScExpo{macro_name(model)}{macro_name(L, spell_digits=True)}"
        macros[key], macros[key + "Lo"], macros[key + "Hi"] = _fmt(ex.mean), _fmt(ex.low), _fmt(ex.high)
    for r in df.itertuples():
        tag = f"{macro_name(r.model)}Vs{macro_name(r.baseline)}{macro_name(r.depth, spell_digits=True)}"
        if r.width == "all":
            key = f"ScExpoDiff{tag}"
        elif int(r.width) == int(ds.width.values.max()):
            key = f"ScRatioMaxWidth{tag}"
        else:
            continue
        macros[key], macros[key + "Lo"], macros[key + "Hi"] = _fmt(r.effect), _fmt(r.low), _fmt(r.high)
        macros[key + "PHolm"] = f"{r.p_holm:.2g}" if np.isfinite(r.p_holm) else NA
        macros[key + "Verdict"] = r.verdict
    for model, base in PAIRS:
        for L in ds.depth.values:
            tag = f"{macro_name(model)}Vs{macro_name(base)}{macro_name(int(L), spell_digits=True)}"
            macros[f"ScCloser{tag}"] = closer_sentence(df, model, base, int(L))
    return macros


def structured_macro_defaults(depths=(2, 3)) -> dict:
    """Every macro of the section as n/a (a profile without the experiment still builds)."""
    out = {
        k: NA
        for k in (
            "ScAlpha",
            "ScRho",
            "ScRankRatio",
            "ScSeeds",
            "ScMinWidth",
            "ScMaxWidth",
            "ScWidthFactor",
            "ScHorizonMedian",
            "ScCheckSteps",
            "ScNumTests",
            "ScKernelJacobianError",
            "ScIntegratorError",
            "ScCapExcessMin",
            "ScCapExcessMax",
        )
    }
    for L in depths:
        W = macro_name(L, spell_digits=True)
        for model in ("structured", "linear", "relu"):
            for s in ("", "Lo", "Hi"):
                out[f"ScExpo{macro_name(model)}{W}{s}"] = NA
        for model, base in PAIRS:
            tag = f"{macro_name(model)}Vs{macro_name(base)}{W}"
            for key in (f"ScExpoDiff{tag}", f"ScRatioMaxWidth{tag}"):
                for s in ("", "Lo", "Hi", "PHolm", "Verdict"):
                    out[key + s] = NA
            out[f"ScCloser{tag}"] = "not measured in this profile"
    return out
