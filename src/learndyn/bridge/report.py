"""The bridge family: every question of the kernel lens as one row of paired-by-seed statistics,
Holm over the whole family, the verdict from the adjusted p; the combined dataset the figures
read, the LaTeX table and the macros.

Rows (``family``): (a) laziness, structured vs each other model (log10 drift at the kept weights);
(b) drift-vs-width exponents per model and their difference; (c) the correction path: growth of
its kernel share and alignment; (d) rank correlations across models and seeds of the drift with
the training half's effects; (e) kernel regression of the trained outputs with K_0 vs K_kept.
"""

from __future__ import annotations

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
    number_word,
    tex_escape,
    write_macros,
    write_table,
)
from ..stats import holm, paired_test, trend_slope, verdict_from_test
from . import PATH_ORDER

QUESTIONS = ("lazier", "width", "correction", "effects", "regression")
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


def combine(trajectories: dict[str, xr.Dataset], cells: dict[str, xr.Dataset], claims: dict) -> xr.Dataset:
    """The trajectory datasets of every model along a ``model`` dim, with the training half's
    per-seed effects of the same cells (kept weights): top Hessian eigenvalue at the last
    evaluation where it was measured, test metric, accuracy under noise ``claims.noise_sigma`` and
    under FGSM ``claims.fgsm_eps``."""
    parts = []
    for name, ds in trajectories.items():
        cell = cells[name].squeeze(["task", "model", "depth", "width"], drop=True)
        hess = last_finite(cell.hessian_top, "eval_step")
        effects = xr.Dataset(
            {
                "hessian_top": hess.assign_attrs(cf_attrs("top Hessian eigenvalue (last measured)")),
                "test_metric": cell.final_test_metric.assign_attrs(cf_attrs("test metric (kept weights)")),
                "noise_metric": cell.noise_metric.sel(noise_sigma=claims["noise_sigma"], method="nearest")
                .drop_vars("noise_sigma")
                .assign_attrs(cf_attrs(f"test metric under noise sigma {claims['noise_sigma']}")),
                "fgsm_metric": cell.fgsm_metric.sel(fgsm_eps=claims["fgsm_eps"], method="nearest")
                .drop_vars("fgsm_eps")
                .assign_attrs(cf_attrs(f"test metric under FGSM eps {claims['fgsm_eps']}")),
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


def family(combined: xr.Dataset, width: xr.Dataset, structured: str, cfg) -> pd.DataFrame:
    """Every test of the bridge family as one row, Holm-adjusted and with its verdict."""
    rows, conf = [], cfg.confidence
    others = [m for m in combined.model.values if m != structured]
    log_drift = np.log10(combined.drift_kept)
    # (a) laziness at equal width and depth
    for base in others:
        d = (log_drift.sel(model=structured) - log_drift.sel(model=base)).values
        rows.append(
            _row(
                "lazier",
                f"Lazier{base}",
                f"{structured} drifts less than {base}",
                "log10 drift ratio",
                paired_test(d, "t", conf),
                "lower",
                "t",
            )
        )
    # (b) drift ~ width^beta per model (per-seed least-squares slopes in log-log), and the difference
    slopes = {}
    logw = np.log10(width.width.values.astype(float))
    for m in width.model.values:
        slopes[m] = trend_slope(logw, np.log10(width.drift.sel(model=m).transpose("seed", "width").values))
        rows.append(
            _row(
                "width",
                f"Width{m}",
                f"the drift of {m} falls with width",
                "exponent beta",
                paired_test(slopes[m], "t", conf),
                "lower",
                "t",
            )
        )
    if structured in slopes:
        for m in slopes:
            if m != structured:
                rows.append(
                    _row(
                        "width",
                        f"WidthDiff{m}",
                        f"{structured}'s exponent is below {m}'s",
                        "exponent difference",
                        paired_test(slopes[structured] - slopes[m], "t", conf),
                        "lower",
                        "t",
                    )
                )
    # (c) the correction path of the structured model: share and alignment from init to the end
    st = combined.sel(model=structured)
    if "correction" in st.path.values:
        first, last = st.isel(step=0), st.isel(step=-1)
        d_share = (last.share_path - first.share_path).sel(path="correction").values
        d_align_c = (last.align_path - first.align_path).sel(path="correction").values
        d_align_l = (last.align_path - first.align_path).sel(path="linear").values
        rows += [
            _row(
                "correction",
                "CorrShare",
                "the correction path's kernel share grows",
                "share change",
                paired_test(d_share, "t", conf),
                "higher",
                "t",
            ),
            _row(
                "correction",
                "CorrAlign",
                "the correction path's kernel aligns with the target",
                "alignment change",
                paired_test(d_align_c, "t", conf),
                "higher",
                "t",
            ),
            _row(
                "correction",
                "CorrVsLinear",
                "its alignment grows more than the linear path's",
                "alignment change difference",
                paired_test(d_align_c - d_align_l, "t", conf),
                "higher",
                "t",
            ),
        ]
    # (d) rank correlations across models and seeds: drift vs the training half's effects
    for var, label in (
        ("hessian_top", "top Hessian eigenvalue"),
        ("test_metric", "test accuracy"),
        ("noise_metric", "accuracy under noise"),
        ("fgsm_metric", "accuracy under FGSM"),
    ):
        res = rank_correlation(log_drift.values, combined[var].values, conf, cfg.bootstrap)
        rows.append(
            _row(
                "effects",
                f"Rank{var.replace('_', '').title()}",
                f"drift is rank-related to the {label}",
                "Spearman rho",
                res,
                "related",
                "spearman",
            )
        )
        # control for the confound "model": both centred on each model's mean over seeds
        within = rank_correlation(
            (log_drift - log_drift.mean("seed")).values,
            (combined[var] - combined[var].mean("seed")).values,
            conf,
            cfg.bootstrap,
        )
        key = f"Within{var.replace('_', '').title()}"
        text = "... within models (each centred on its model's mean)"
        rows.append(_row("effects", key, text, "Spearman rho", within, "related", "spearman"))
    # (e) kernel regression of the trained test outputs: K_kept vs K_0, structured vs the others with K_0
    for m in combined.model.values:
        d = (combined.r2_kept - combined.r2_init).sel(model=m).values
        rows.append(
            _row(
                "regression",
                f"Kernel{m}",
                f"K_kept predicts {m}'s test outputs better than K_0",
                "R2 difference",
                paired_test(d, "t", conf),
                "higher",
                "t",
            )
        )
    for base in others:
        d = (combined.r2_init.sel(model=structured) - combined.r2_init.sel(model=base)).values
        rows.append(
            _row(
                "regression",
                f"Init{base}",
                f"K_0 predicts {structured} better than {base}",
                "R2 difference (K_0)",
                paired_test(d, "t", conf),
                "higher",
                "t",
            )
        )
    df = pd.DataFrame(rows)
    df["p_holm"] = holm(df["p"].to_numpy())
    df["verdict"] = [
        verdict_from_test(
            abs(r.effect) if r.better == "related" else r.effect,
            r.p_holm,
            "higher" if r.better == "related" else r.better,
            cfg.alpha,
        )
        for r in df.itertuples()
    ]
    return df


def exponents(width: xr.Dataset, confidence: float) -> dict[str, tuple[float, float, float]]:
    """Per model: the drift-vs-width exponent (mean of per-seed slopes) and its t interval."""
    logw = np.log10(width.width.values.astype(float))
    out = {}
    for m in width.model.values:
        s = trend_slope(logw, np.log10(width.drift.sel(model=m).transpose("seed", "width").values))
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


def macros(
    df: pd.DataFrame, combined: xr.Dataset, width: xr.Dataset, cfg, structured: str = "structured"
) -> dict:
    """Every number the bridge section quotes."""
    out: dict = {}
    for r in df.itertuples():
        key = "".join(ch for ch in r.key.title() if ch.isalpha())
        out[f"{key}Effect"] = r.effect
        out[f"{key}Low"] = r.low
        out[f"{key}High"] = r.high
        out[f"{key}P"] = fmt_num(r.p_holm, 2)
        out[f"{key}Verdict"] = r.verdict
        out[f"{key}N"] = int(r.n)
    for m in combined.model.values:
        name = "".join(ch for ch in str(m).title() if ch.isalpha())
        out[f"DriftKept{name}"] = float(combined.drift_kept.sel(model=m).median())
        out[f"RInit{name}"] = float(combined.r2_init.sel(model=m).mean())
        out[f"RKept{name}"] = float(combined.r2_kept.sel(model=m).mean())
        out[f"AgreeInit{name}"] = float(combined.agree_init.sel(model=m).mean())
        out[f"AgreeKept{name}"] = float(combined.agree_kept.sel(model=m).mean())
    for m, (e, lo, hi) in exponents(width, cfg.confidence).items():
        name = "".join(ch for ch in m.title() if ch.isalpha())
        out[f"Exponent{name}"], out[f"Exponent{name}Low"], out[f"Exponent{name}High"] = e, lo, hi
    for m in QUOTED_MODELS:  # the quoted macros of a model this profile does not follow
        name = m.title()
        for key in ([f"Lazier{m}", f"Init{m}"] if m != structured else []) + [f"Kernel{m}"]:
            for suffix in ("Effect", "Low", "High", "P", "Verdict", "N"):
                out.setdefault(f"{key.title()}{suffix}", r"\text{n/a}" if suffix != "Verdict" else "not run")
        for key in ("DriftKept", "RInit", "RKept", "AgreeInit", "AgreeKept"):
            out.setdefault(f"{key}{name}", r"\text{n/a}")
    out["WidthdiffmlpWords"] = WIDTH_DIFF_WORDS.get(str(out.get("WidthdiffmlpVerdict")), WIDTH_DIFF_WORDS[""])
    out["N"] = int(combined.attrs.get("n", cfg.n)) if "n" in combined.attrs else cfg.n
    out["NTest"] = cfg.n_test
    out["Seeds"] = int(combined.seed.size)
    out["WidthSeeds"] = int(width.seed.size)
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
