"""The bridge family: every question of the kernel lens as one row of paired-by-seed statistics,
Holm over the whole family, the verdict from the adjusted p; the combined dataset the figures
read, the LaTeX table and the macros.

Rows (``family``; one function per kind, registered in ``ROWS``): (a) laziness, structured vs each
other model (log10 drift at the kept weights); (b) drift-vs-width exponents per model and their
difference; (c) the correction path: growth of its kernel share and alignment; (d) rank
correlations across models and seeds of the drift with the training half's effects; (e) kernel
regression of the trained outputs with K_0 vs K_kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats as sps

from ..io import cf_attrs
from ..latex import (
    column_style,
    fmt_in_style,
    fmt_num,
    fmt_value,
    macro_name,
    number_word,
    tex_escape,
    write_macros,
    write_table,
)
from ..stats import VERDICTS, holm, paired_test, trend_slope, verdict_from_test
from . import PATH_ORDER
from .settings import BridgeSettings

# models whose macros the paper quotes: defined in every profile (n/a where a profile omits one)
QUOTED_MODELS = ("structured", "mlp", "snmlp")


def last_finite(da: xr.DataArray, dim: str) -> xr.DataArray:
    """The last finite value of ``da`` along ``dim`` (NaN where there is none)."""
    values = np.moveaxis(da.values, da.get_axis_num(dim), -1)
    finite = np.isfinite(values)
    idx = np.where(finite.any(-1), values.shape[-1] - 1 - np.argmax(finite[..., ::-1], -1), 0)
    out = np.take_along_axis(values, idx[..., None], -1)[..., 0]
    out = np.where(finite.any(-1), out, np.nan)
    return xr.DataArray(
        out, dims=[d for d in da.dims if d != dim], coords={d: da[d] for d in da.dims if d != dim}
    )


def combine(
    trajectories: dict[str, xr.Dataset], cells: dict[str, xr.Dataset], settings: BridgeSettings
) -> xr.Dataset:
    """The trajectory datasets of every model along a ``model`` dim, with the training half's
    per-seed effects of the same cells (kept weights): top Hessian eigenvalue at the last
    evaluation where it was measured, test metric, accuracy under noise ``claims.noise_sigma`` and
    under FGSM ``claims.fgsm_eps``."""
    parts, claims = [], settings.claims
    for name, ds in trajectories.items():
        cell = cells[name].squeeze(["task", "model", "depth", "width"], drop=True)
        hess = last_finite(cell.hessian_top, "eval_step")
        effects = xr.Dataset(
            {
                "hessian_top": hess.assign_attrs(cf_attrs("top Hessian eigenvalue (last measured)")),
                "test_metric": cell.final_test_metric.assign_attrs(cf_attrs("test metric (kept weights)")),
                "noise_metric": cell.noise_metric.sel(noise_sigma=claims.noise_sigma, method="nearest")
                .drop_vars("noise_sigma")
                .assign_attrs(cf_attrs(f"test metric under noise sigma {claims.noise_sigma}")),
                "fgsm_metric": cell.fgsm_metric.sel(fgsm_eps=claims.fgsm_eps, method="nearest")
                .drop_vars("fgsm_eps")
                .assign_attrs(cf_attrs(f"test metric under FGSM eps {claims.fgsm_eps}")),
            }
        )
        both = xr.merge([ds, effects.reindex(seed=ds.seed)], join="left", combine_attrs="drop_conflicts")
        parts.append(both.expand_dims(model=[name]))
    # one path axis in the kernel's order (combine_by_coords needs monotonic coordinates)
    paths = [p for p in PATH_ORDER if any(p in ds.path.values for ds in parts)]
    parts = [ds.reindex(path=paths) for ds in parts]
    out = xr.concat(
        parts,
        dim="model",
        join="outer",
        data_vars="all",
        coords="different",
        compat="equals",
        combine_attrs="drop_conflicts",
    )
    out["model"].attrs.update(cf_attrs("model"))
    out["path"].attrs.update(cf_attrs("kernel path"))
    return out


def _row(question, key, hypothesis, measure, res, better, test) -> dict:
    return {
        "question": question,
        "key": key,
        "hypothesis": hypothesis,
        "measure": measure,
        "effect": res.mean,
        "low": res.low,
        "high": res.high,
        "n": res.n,
        "p": res.p,
        "better": better,
        "test": test,
    }


class _Result:
    def __init__(self, mean, low, high, n, p):
        self.mean, self.low, self.high, self.n, self.p = mean, low, high, n, p


def rank_correlation(x, y, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> _Result:
    """Spearman rank correlation of paired ``x``, ``y`` (finite pairs only), the p-value of
    ``scipy.stats.spearmanr`` and a percentile bootstrap interval over pairs
    (``scipy.stats.bootstrap``, ``paired=True``)."""
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 4:
        return _Result(np.nan, np.nan, np.nan, len(x), np.nan)
    rho, p = sps.spearmanr(x, y)
    boot = sps.bootstrap(
        (x, y),
        lambda a, b: sps.spearmanr(a, b)[0],
        paired=True,
        vectorized=False,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = boot.confidence_interval
    return _Result(float(rho), float(ci.low), float(ci.high), len(x), float(p))


@dataclass(frozen=True)
class Family:
    """What the rows of the family read: the combined and width datasets, the structured model
    and the others, the log10 drift at the kept weights, the interval level and the bootstrap
    resamples."""

    combined: xr.Dataset
    width: xr.Dataset
    structured: str
    others: list
    log_drift: xr.DataArray
    confidence: float
    bootstrap: int

    @classmethod
    def of(cls, combined: xr.Dataset, width: xr.Dataset, settings: BridgeSettings) -> Family:
        structured = settings.claims.structured
        others = [m for m in combined.model.values if m != structured]
        cfg = settings.bridge
        return cls(
            combined, width, structured, others, np.log10(combined.drift_kept), cfg.confidence, cfg.bootstrap
        )


def _t_row(question, key, hypothesis, measure, diffs, better, confidence) -> dict:
    """A row whose effect is the mean of the per-seed ``diffs`` (paired t test)."""
    return _row(question, key, hypothesis, measure, paired_test(diffs, "t", confidence), better, "t")


def width_slopes(width: xr.Dataset) -> dict:
    """Per model: the per-seed least-squares slopes of log10 drift against log10 width."""
    logw = np.log10(width.width.values.astype(float))
    return {
        m: trend_slope(logw, np.log10(width.drift.sel(model=m).transpose("seed", "width").values))
        for m in width.model.values
    }


def lazier_rows(f: Family) -> list[dict]:
    """(a) laziness at equal width and depth: log10 drift ratio, structured vs each other model."""
    return [
        _t_row(
            "lazier",
            f"Lazier{base}",
            f"{f.structured} drifts less than {base}",
            "log10 drift ratio",
            (f.log_drift.sel(model=f.structured) - f.log_drift.sel(model=base)).values,
            "lower",
            f.confidence,
        )
        for base in f.others
    ]


def width_rows(f: Family) -> list[dict]:
    """(b) drift ~ width^beta per model (per-seed slopes in log-log), and the structured model's
    exponent against each other model's."""
    slopes = width_slopes(f.width)
    rows = [
        _t_row(
            "width",
            f"Width{m}",
            f"the drift of {m} falls with width",
            "exponent beta",
            s,
            "lower",
            f.confidence,
        )
        for m, s in slopes.items()
    ]
    if f.structured not in slopes:
        return rows
    return rows + [
        _t_row(
            "width",
            f"WidthDiff{m}",
            f"{f.structured}'s exponent is below {m}'s",
            "exponent difference",
            slopes[f.structured] - slopes[m],
            "lower",
            f.confidence,
        )
        for m in slopes
        if m != f.structured
    ]


def correction_rows(f: Family) -> list[dict]:
    """(c) the correction path of the structured model: growth of its kernel share and alignment
    from init to the end, and of its alignment against the linear path's."""
    st = f.combined.sel(model=f.structured)
    if "correction" not in st.path.values:
        return []
    first, last = st.isel(step=0), st.isel(step=-1)
    d_share = (last.share_path - first.share_path).sel(path="correction").values
    d_align_c = (last.align_path - first.align_path).sel(path="correction").values
    d_align_l = (last.align_path - first.align_path).sel(path="linear").values
    return [
        _t_row(
            "correction",
            "CorrShare",
            "the correction path's kernel share grows",
            "share change",
            d_share,
            "higher",
            f.confidence,
        ),
        _t_row(
            "correction",
            "CorrAlign",
            "the correction path's kernel aligns with the target",
            "alignment change",
            d_align_c,
            "higher",
            f.confidence,
        ),
        _t_row(
            "correction",
            "CorrVsLinear",
            "its alignment grows more than the linear path's",
            "alignment change difference",
            d_align_c - d_align_l,
            "higher",
            f.confidence,
        ),
    ]


# The training half's effects the drift is rank-correlated with: variable -> label
EFFECTS = {
    "hessian_top": "top Hessian eigenvalue",
    "test_metric": "test accuracy",
    "noise_metric": "accuracy under noise",
    "fgsm_metric": "accuracy under FGSM",
}


def effects_rows(f: Family) -> list[dict]:
    """(d) rank correlations across models and seeds of the drift with each effect, and the
    control for the confound "model": both centred on each model's mean over seeds."""
    rows = []
    centred_drift = (f.log_drift - f.log_drift.mean("seed")).values
    for var, label in EFFECTS.items():
        effect, name = f.combined[var], var.replace("_", "").title()
        res = rank_correlation(f.log_drift.values, effect.values, f.confidence, f.bootstrap)
        text = f"drift is rank-related to the {label}"
        rows.append(_row("effects", f"Rank{name}", text, "Spearman rho", res, "related", "spearman"))
        within = rank_correlation(
            centred_drift, (effect - effect.mean("seed")).values, f.confidence, f.bootstrap
        )
        text = "... within models (each centred on its model's mean)"
        rows.append(_row("effects", f"Within{name}", text, "Spearman rho", within, "related", "spearman"))
    return rows


def regression_rows(f: Family) -> list[dict]:
    """(e) kernel regression of the trained test outputs: K_kept vs K_0 per model, and the
    structured model vs each other with K_0."""
    r2 = f.combined.r2_kept - f.combined.r2_init
    rows = [
        _t_row(
            "regression",
            f"Kernel{m}",
            f"K_kept predicts {m}'s test outputs better than K_0",
            "R2 difference",
            r2.sel(model=m).values,
            "higher",
            f.confidence,
        )
        for m in f.combined.model.values
    ]
    init = f.combined.r2_init
    return rows + [
        _t_row(
            "regression",
            f"Init{base}",
            f"K_0 predicts {f.structured} better than {base}",
            "R2 difference (K_0)",
            (init.sel(model=f.structured) - init.sel(model=base)).values,
            "higher",
            f.confidence,
        )
        for base in f.others
    ]


# The questions of the family in table order: question -> the function making its rows
ROWS = {
    "lazier": lazier_rows,
    "width": width_rows,
    "correction": correction_rows,
    "effects": effects_rows,
    "regression": regression_rows,
}


def holm_verdicts(df: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """``df`` with the Holm-adjusted p over the whole family and each row's verdict (a rank
    correlation is judged on its size, either sign)."""
    df["p_holm"] = holm(df["p"].to_numpy())
    df["verdict"] = [
        verdict_from_test(
            abs(r.effect) if r.better == "related" else r.effect,
            r.p_holm,
            "higher" if r.better == "related" else r.better,
            alpha,
        )
        for r in df.itertuples()
    ]
    return df


def family(combined: xr.Dataset, width: xr.Dataset, settings: BridgeSettings) -> pd.DataFrame:
    """Every test of the bridge family as one row (``ROWS``), Holm-adjusted and with its verdict."""
    f = Family.of(combined, width, settings)
    rows = [row for make_rows in ROWS.values() for row in make_rows(f)]
    return holm_verdicts(pd.DataFrame(rows), settings.bridge.alpha)


def exponents(width: xr.Dataset, confidence: float) -> dict[str, tuple[float, float, float]]:
    """Per model: the drift-vs-width exponent (mean of per-seed slopes) and its t interval."""
    out = {}
    for m, s in width_slopes(width).items():
        r = paired_test(s, "t", confidence)
        out[str(m)] = (r.mean, r.low, r.high)
    return out


def tests_dataset(df: pd.DataFrame) -> xr.Dataset:
    """The family table as a dataset (dim ``test``)."""
    ds = xr.Dataset(coords={"test": ("test", df["key"].to_numpy())})
    for col, (long, units) in {
        "effect": ("effect (see measure)", "1"),
        "low": ("interval low", "1"),
        "high": ("interval high", "1"),
        "n": ("pairs (seeds) or points", "1"),
        "p": ("two-sided p-value", "1"),
        "p_holm": ("Holm-adjusted p-value (bridge family)", "1"),
    }.items():
        ds[col] = ("test", df[col].to_numpy(dtype=float), cf_attrs(long, units))
    for col in ("question", "hypothesis", "measure", "better", "test", "verdict"):
        ds[f"{col}_text" if col == "test" else col] = (
            "test",
            df[col].astype(str).to_numpy(),
            cf_attrs(col),
        )
    return ds


def write_tests_table(df: pd.DataFrame, path) -> None:
    """The family table: hypothesis, measure (the row's unit), effect [interval], n, Holm p,
    verdict; one number format per column (``latex.column_style``)."""
    eff = column_style(df[["effect", "low", "high"]].to_numpy(float).ravel(), 3)
    p_style = column_style(df["p_holm"].to_numpy(float), 2)
    table = pd.DataFrame(
        {
            "hypothesis": df["hypothesis"].map(tex_escape),
            "measure": df["measure"].map(tex_escape),
            "effect [interval]": [
                f"${fmt_in_style(e, eff)}$ [${fmt_in_style(lo, eff)}$, ${fmt_in_style(hi, eff)}$]"
                for e, lo, hi in zip(df["effect"], df["low"], df["high"])
            ],
            "$n$": df["n"].astype(int),
            "$p_\\mathrm{Holm}$": [f"${fmt_in_style(p, p_style)}$" for p in df["p_holm"]],
            "verdict": df["verdict"],
        }
    )
    write_table(table, path, column_format="p{5.2cm}p{2.4cm}lrll")


# What the width-exponent difference (structured minus MLP) says, by its Holm verdict: the
# sentence the text writes after the interval.
WIDTH_DIFF_WORDS = {
    "supported": "the structured model's kernel drift falls faster with width than the MLP's",
    "not supported": "the structured model's kernel drift falls more slowly with width than the MLP's",
    "": (
        "on these widths the data do not tell whether the structured model approaches the kernel "
        "limit faster or is lazier by a width-independent factor"
    ),
}


# Verdict words of the rows the text reads as a comparison: (supported, not supported, inconclusive)
COMPARE_WORDS = {
    "Laziermlp": ("smaller than", "larger than", "not distinguishable from"),
    "Laziersnmlp": ("smaller than", "larger than", "not distinguishable from"),
    "Initmlp": ("higher than", "lower than", "not distinguishable from"),
    "Initsnmlp": ("higher than", "lower than", "not distinguishable from"),
}


def verdict_words(verdict: str, words: tuple[str, str, str]) -> str:
    """The phrase of a comparison for its verdict (``stats.VERDICTS`` order); ``not run`` when
    the row is missing."""
    return dict(zip(VERDICTS, words)).get(str(verdict), "not run")


def macros(df: pd.DataFrame, combined: xr.Dataset, width: xr.Dataset, settings: BridgeSettings) -> dict:
    """Every number the bridge section quotes."""
    out: dict = {}
    cfg, structured = settings.bridge, settings.claims.structured
    for r in df.itertuples():
        key = macro_name(r.key.lower())
        out[f"{key}Effect"] = r.effect
        out[f"{key}Low"] = r.low
        out[f"{key}High"] = r.high
        out[f"{key}P"] = fmt_num(r.p_holm, 2)
        out[f"{key}Verdict"] = r.verdict
        out[f"{key}N"] = int(r.n)
    for m in combined.model.values:
        name = macro_name(str(m).lower())
        out[f"DriftKept{name}"] = float(combined.drift_kept.sel(model=m).median())
        out[f"RInit{name}"] = float(combined.r2_init.sel(model=m).mean())
        out[f"RKept{name}"] = float(combined.r2_kept.sel(model=m).mean())
        out[f"AgreeInit{name}"] = float(combined.agree_init.sel(model=m).mean())
        out[f"AgreeKept{name}"] = float(combined.agree_kept.sel(model=m).mean())
    for m, (e, lo, hi) in exponents(width, cfg.confidence).items():
        name = macro_name(m.lower())
        out[f"Exponent{name}"], out[f"Exponent{name}Low"], out[f"Exponent{name}High"] = e, lo, hi
    for m in QUOTED_MODELS:  # the quoted macros of a model this profile does not follow
        name = macro_name(m.lower())
        for key in ([f"Lazier{m}", f"Init{m}"] if m != structured else []) + [f"Kernel{m}"]:
            key = macro_name(key.lower())
            for suffix in ("Effect", "Low", "High", "P", "Verdict", "N"):
                out.setdefault(f"{key}{suffix}", r"\text{n/a}" if suffix != "Verdict" else "not run")
        for key in ("DriftKept", "RInit", "RKept", "AgreeInit", "AgreeKept"):
            out.setdefault(f"{key}{name}", r"\text{n/a}")
    for key, words in COMPARE_WORDS.items():
        out[f"{key}Words"] = verdict_words(out.get(f"{key}Verdict", "not run"), words)
    out["WidthdiffmlpWords"] = WIDTH_DIFF_WORDS.get(str(out.get("WidthdiffmlpVerdict")), WIDTH_DIFF_WORDS[""])
    out["N"] = int(combined.attrs["n"]) if "n" in combined.attrs else cfg.n
    out["NTest"] = cfg.n_test
    out["Seeds"] = int(combined.seed.size)
    # the seeds the width study trained (the dataset's seed axis is the union of every study's)
    out["WidthSeeds"] = int(np.isfinite(width.drift).any([d for d in width.drift.dims if d != "seed"]).sum())
    out["Widths"] = ", ".join(str(int(w)) for w in width.width.values)
    out["Tests"] = len(df)
    out["Supported"] = int((df["verdict"] == "supported").sum())
    out["Alpha"] = fmt_value(cfg.alpha)
    out["Confidence"] = fmt_num(100 * cfg.confidence)
    out["Ridge"] = fmt_value(cfg.ridge)
    out["Bootstrap"] = cfg.bootstrap
    out["NumModelsWord"] = number_word(len(cfg.models))
    ordinal = {1: "", 2: "second ", 3: "third ", 4: "fourth ", 5: "fifth "}
    out["SnapshotEvery"] = (
        "every " + ordinal.get(cfg.snapshot_every, f"{cfg.snapshot_every}th ") + "evaluation point"
    )
    out["Task"] = str(combined.attrs.get("task", cfg.task)).replace("_", r"\_")
    out["Steps"] = ", ".join(str(int(s)) for s in combined.step.values)
    out["InitError"] = float(combined.init_rebuild_error.max())
    return out


def write_macros_file(values: dict, path) -> None:
    write_macros(values, path, prefix="Bridge")
