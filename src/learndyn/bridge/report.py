"""The bridge family: every question of the kernel lens as one row of paired-by-seed statistics,
Holm over the whole family, the verdict from the adjusted p; the combined dataset the figures
read, the LaTeX table and the macros.

Rows (``family``; one function per kind, registered in ``ROWS``): (a) laziness, structured vs each
other followed model, in three measures of the kernel's change (Frobenius drift, trace-normalised
drift, 1 - CKA) at the last weights (the same step count), at the tuned rates and (control) at
the structured model's rate; (b) the ablations through the kernel: each ablation against the
structured model, paired by seed; (c) drift-vs-width exponents per model and their difference;
(d) the correction path: growth of its kernel share and alignment; (e) the kernel's change against
the training half's effects, between architectures (the architecture the unit, seed-averaged)
and within models (the seed the unit, ``learndyn.bridge.units``); (f) kernel regression of the
trained outputs with K_0 vs K_kept. Every row carries its unit (seed or architecture) and its
number of units; ``claims_table`` writes them in the claims ledger's columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..io import cf_attrs, write_text
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
from . import PATH_ORDER, units
from .settings import BridgeSettings

# models whose macros the paper quotes: defined in every profile (n/a where a profile omits one)
QUOTED_MODELS = (
    "structured", "mlp", "snmlp", "struct_alpha0", "struct_noshape", "struct_orth", "struct_fixedalpha",
)  # fmt: skip


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


def cell_effects(cell: xr.Dataset, settings: BridgeSettings) -> xr.Dataset:
    """The training half's per-seed effects of one cell dataset (kept weights), dims (seed):
    top Hessian eigenvalue at the last evaluation where it was measured (NaN for a sweep cell),
    test metric, accuracy under noise ``claims.noise_sigma`` and under FGSM ``claims.fgsm_eps``,
    the input-output Jacobian norm (the function's smoothness) and the cell's peak rate."""
    claims = settings.claims
    cell = cell.squeeze(["task", "model", "depth", "width"], drop=True)
    hess = last_finite(cell.hessian_top, "eval_step")
    return xr.Dataset(
        {
            "hessian_top": hess.assign_attrs(cf_attrs("top Hessian eigenvalue (last measured)")),
            "test_metric": cell.final_test_metric.assign_attrs(cf_attrs("test metric (kept weights)")),
            "noise_metric": cell.noise_metric.sel(noise_sigma=claims.noise_sigma, method="nearest")
            .drop_vars("noise_sigma")
            .assign_attrs(cf_attrs(f"test metric under noise sigma {claims.noise_sigma}")),
            "fgsm_metric": cell.fgsm_metric.sel(fgsm_eps=claims.fgsm_eps, method="nearest")
            .drop_vars("fgsm_eps")
            .assign_attrs(cf_attrs(f"test metric under FGSM eps {claims.fgsm_eps}")),
            "io_norm": cell.io_norm.sel(stage="final")
            .drop_vars("stage", errors="ignore")
            .assign_attrs(cf_attrs("input-output Jacobian norm ||dF/dx||_2 (kept weights)")),
            "lr": xr.DataArray(float(cell.lr), attrs=cf_attrs("peak learning rate (tuned on validation)")),
        }
    )


def population(endpoints: xr.Dataset, cells: dict[str, xr.Dataset], settings: BridgeSettings) -> xr.Dataset:
    """The endpoint kernels (``experiments.run_endpoints``: every model of the population and the
    common-rate copies) with the training half's per-seed effects of the population's cells,
    dims (model, seed); ``in_population`` marks the architectures of the between-model tests."""
    effects = [
        cell_effects(ds, settings).expand_dims(model=[name]).reindex(seed=endpoints.seed)
        for name, ds in cells.items()
    ]
    out = xr.merge(
        [endpoints, xr.concat(effects, dim="model", join="outer", combine_attrs="drop_conflicts")],
        join="left",
        combine_attrs="drop_conflicts",
    )
    member = np.isin(out.model.values, list(cells))
    out["in_population"] = (
        "model",
        member.astype(int),
        cf_attrs("architecture of the population (1) or not (0)"),
    )
    out["model"].attrs.update(cf_attrs("model"))
    return out


def combine(
    trajectories: dict[str, xr.Dataset], cells: dict[str, xr.Dataset], settings: BridgeSettings
) -> xr.Dataset:
    """The trajectory datasets of every model along a ``model`` dim, with the training half's
    per-seed effects of the same cells (kept weights): top Hessian eigenvalue at the last
    evaluation where it was measured, test metric, accuracy under noise ``claims.noise_sigma`` and
    under FGSM ``claims.fgsm_eps``."""
    parts = []
    for name, ds in trajectories.items():
        effects = cell_effects(cells[name], settings)
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


def _row(question, key, hypothesis, measure, res, better, test, unit="seed", n_units=None) -> dict:
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
        "unit": unit,
        "n_units": res.n if n_units is None else n_units,
    }


class _Result:
    def __init__(self, mean, low, high, n, p):
        self.mean, self.low, self.high, self.n, self.p = mean, low, high, n, p


@dataclass(frozen=True)
class Family:
    """What the rows of the family read: the combined (followed models), width and population
    (endpoints with effects) datasets, the structured model and the other followed models, the
    bridge settings, and the log10 drift at the kept weights."""

    combined: xr.Dataset
    width: xr.Dataset
    population: xr.Dataset
    structured: str
    others: list
    log_drift: xr.DataArray
    settings: BridgeSettings

    @property
    def confidence(self) -> float:
        return self.settings.bridge.confidence

    @classmethod
    def of(
        cls, combined: xr.Dataset, width: xr.Dataset, population: xr.Dataset, settings: BridgeSettings
    ) -> Family:
        structured = settings.claims.structured
        others = [m for m in combined.model.values if m != structured]
        return cls(combined, width, population, structured, others, np.log10(combined.drift_kept), settings)


def _t_row(question, key, hypothesis, measure, diffs, better, confidence) -> dict:
    """A row whose effect is the mean of the per-seed ``diffs`` (paired t test; unit: seed)."""
    return _row(question, key, hypothesis, measure, paired_test(diffs, "t", confidence), better, "t")


# The three measures of the kernel's change: variable -> (key part, label)
CHANGES = {
    "drift": ("", "Frobenius drift"),
    "drift_tn": ("Tn", "trace-normalised drift"),
    "cka_dist": ("Cka", "1 - CKA"),
}


def log_ratio(population: xr.Dataset, var: str, a: str, b: str) -> np.ndarray:
    """Per seed, log10(var of model ``a`` / var of model ``b``) (same seeds: paired)."""
    return (np.log10(population[var].sel(model=a)) - np.log10(population[var].sel(model=b))).values


def width_slopes(width: xr.Dataset, var: str = "drift") -> dict:
    """Per model: the per-seed least-squares slopes of log10 ``var`` against log10 width."""
    logw = np.log10(width.width.values.astype(float))
    return {
        m: trend_slope(logw, np.log10(width[var].sel(model=m).transpose("seed", "width").values))
        for m in width.model.values
    }


def lazier_rows(f: Family) -> list[dict]:
    """(a) laziness at equal width, depth and step count (the last weights): the log10 ratio of
    each measure of the kernel's change, structured vs each other followed model at the tuned
    rates, and (control) vs its copy at the structured model's rate (``bridge.common_rate``)."""
    rows, pop = [], f.population
    pairs = [("lazier", "Lazier", base, base, "tuned rates") for base in f.others]
    pairs += [
        ("common", "Common", base, copy, "common rate")
        for base, copy in f.settings.bridge.common_rate.items()
        if copy in pop.model.values
    ]
    for question, prefix, base, other, words in pairs:
        for var, (part, label) in CHANGES.items():
            rows.append(
                _t_row(
                    question,
                    f"{prefix}{part}{base}",
                    f"{f.structured}'s K changes less than {base}'s ({words})",
                    f"log10 ratio, {label}",
                    log_ratio(pop, f"{var}_last", f.structured, other),
                    "lower",
                    f.confidence,
                )
            )
    return rows


def ablation_rows(f: Family) -> list[dict]:
    """(b) the ablations through the kernel: each ablation's kernel change against the structured
    model's (same rate, step count and seeds), log10 ratio of each measure; positive: without the
    component the kernel moves more, so the component is what keeps it still."""
    pop = f.population
    return [
        _t_row(
            "ablation",
            f"Ablation{part}{abl}",
            f"{abl}'s K changes more than {f.structured}'s",
            f"log10 ratio, {label}",
            log_ratio(pop, f"{var}_last", abl, f.structured),
            "higher",
            f.confidence,
        )
        for abl in f.settings.bridge.ablations
        if abl in pop.model.values
        for var, (part, label) in CHANGES.items()
    ]


def width_rows(f: Family) -> list[dict]:
    """(c) drift ~ width^beta per model (per-seed slopes in log-log), Frobenius and
    trace-normalised, and the structured model's exponent against each other model's."""
    rows = []
    for var, part in (("drift", ""), ("drift_tn", "Tn")):
        if var not in f.width:
            continue
        slopes, label = width_slopes(f.width, var), CHANGES[var][1]
        rows += [
            _t_row(
                "width",
                f"Width{part}{m}",
                f"the {label} of {m} falls with width",
                "exponent beta",
                s,
                "lower",
                f.confidence,
            )
            for m, s in slopes.items()
        ]
        if f.structured not in slopes:
            continue
        rows += [
            _t_row(
                "width",
                f"WidthDiff{part}{m}",
                f"{f.structured}'s {label} exponent is below {m}'s",
                "exponent difference",
                slopes[f.structured] - slopes[m],
                "lower",
                f.confidence,
            )
            for m in slopes
            if m != f.structured
        ]
    return rows


def correction_rows(f: Family) -> list[dict]:
    """(d) the correction path of the structured model: growth of its kernel share and alignment
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


# The training half's effects the kernel's change is ranked against: variable -> label. The top
# Hessian eigenvalue is not among them: weight-space curvature does not compare models (its scale
# depends on the parametrisation), and the population's sweep cells do not measure it.
EFFECTS = {
    "test_metric": "test accuracy",
    "noise_metric": "accuracy under noise",
    "fgsm_metric": "accuracy under FGSM",
    "io_norm": "input-output Jacobian norm",
}


def _relation_row(key, hypothesis, rel) -> dict:
    res = _Result(rel.effect, rel.low, rel.high, rel.n_units, rel.p)
    test = "permutation" if rel.unit == "architecture" else "stratified permutation"
    question = "between" if rel.unit == "architecture" else "within"
    return _row(question, key, hypothesis, "Spearman rho", res, "related", test, rel.unit, rel.n_units)


# The kernel changes ranked against the effects: variable at the kept weights -> key part
RELATION_CHANGES = {"drift_kept": "", "drift_tn_kept": "Tn"}


def members(population: xr.Dataset) -> xr.Dataset:
    """The architectures of the population (not the common-rate copies)."""
    return population.sel(model=population.model.values[population.in_population.values == 1])


def relation_args(settings: BridgeSettings) -> dict:
    cfg = settings.bridge
    return dict(confidence=cfg.confidence, n_permutations=cfg.permutations, n_bootstrap=cfg.bootstrap)


def _values(pop: xr.Dataset, var: str) -> np.ndarray:
    return pop[var].transpose("model", "seed").values


def effects_rows(f: Family) -> list[dict]:
    """(e) the kernel's change (Frobenius and trace-normalised drift at the kept weights) against
    each effect: between architectures (seed-averaged, one unit per architecture of the
    population; a row needs ``bridge.min_units`` of them) and within models (per-model rank
    correlations over seeds, combined; ``units.within_models``)."""
    cfg, pop, args = f.settings.bridge, members(f.population), relation_args(f.settings)
    rows = []
    for var, part in RELATION_CHANGES.items():
        label = CHANGES[var.removesuffix("_kept")][1]
        for effect, words in EFFECTS.items():
            x, y = _values(pop, var), _values(pop, effect)
            name = effect.replace("_", "").title()
            between = units.between_models(x, y, **args)
            if between.n_units >= cfg.min_units:
                text = f"the {label} is rank-related to the {words} across architectures"
                rows.append(_relation_row(f"Between{part}{name}", text, between))
            within = units.within_models(x, y, **args)
            text = f"... within models (seeds as units, {within.n_models} models)"
            rows.append(_relation_row(f"Within{part}{name}", text, within))
    return rows


def regression_rows(f: Family) -> list[dict]:
    """(f) kernel regression of the trained test outputs: K_kept vs K_0 per model, and the
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
    "ablation": ablation_rows,
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


def family(
    combined: xr.Dataset, width: xr.Dataset, population: xr.Dataset, settings: BridgeSettings
) -> pd.DataFrame:
    """Every test of the bridge family as one row (``ROWS``), Holm-adjusted and with its verdict."""
    f = Family.of(combined, width, population, settings)
    rows = [row for make_rows in ROWS.values() for row in make_rows(f)]
    return holm_verdicts(pd.DataFrame(rows), settings.bridge.alpha)


# --- checks of the between-model rows, outside the Holm family ----------------------------------
# Sensitivity rows: each between-model row repeated with every continuum (``bridge.continua``) as
# one unit or left out, and with the weights' norm change held fixed (partial Spearman), plus the
# relation of each kernel change with that norm change. They are not verdict rows: their own Holm
# adjustment runs within each kind of check (``check``) and says whether a verdict survives.
CHECK_FAMILY = "bridge sensitivity"
NORM = "wnorm_kept"  # the weights' relative norm change, init to kept (experiments.ENDPOINT_VARS)
CHECK_WORDS = {
    "collapsed": "each continuum one unit",
    "excluded": "continua left out",
    "partial": "given the weight-norm change",
    "norm": "with the weight-norm change",
    "clean": "given the clean test accuracy",
}
CLEAN = "test_metric"  # the clean accuracy a robustness effect may only track
ROBUSTNESS = ("noise_metric", "fgsm_metric")


def _check_row(check, key, of, hypothesis, rel) -> dict:
    row = _relation_row(key, hypothesis, rel)
    return row | {"question": "sensitivity", "check": check, "sensitivity_of": of}


def sensitivity_rows(f: Family) -> list[dict]:
    """Each between-model row with the continua collapsed to one unit each and left out
    (``units.family_units``; the unit stays the architecture)."""
    pop, args, continua = members(f.population), relation_args(f.settings), f.settings.bridge.continua
    if not continua:
        return []
    rows = []
    for how in units.SENSITIVITY:
        for var, part in RELATION_CHANGES.items():
            x = units.family_units(_values(pop, var), pop.model.values, continua, how)
            for effect, words in EFFECTS.items():
                y = units.family_units(_values(pop, effect), pop.model.values, continua, how)
                name = effect.replace("_", "").title()
                label = CHANGES[var.removesuffix("_kept")][1]
                rows.append(
                    _check_row(
                        how,
                        f"Between{part}{name}{how.title()}",
                        f"Between{part}{name}",
                        f"the {label} and the {words} across architectures, {CHECK_WORDS[how]}",
                        units.between_models(x, y, **args),
                    )
                )
    return rows


def norm_rows(f: Family) -> list[dict]:
    """The simpler explanation of a kernel change, the growth of the weights' norm: each change's
    rank correlation with the relative weight-norm change across architectures, and each
    between-model row with that norm change held fixed (partial Spearman)."""
    pop, args = members(f.population), relation_args(f.settings)
    if NORM not in pop:
        return []
    z, rows = _values(pop, NORM), []
    for var, part in RELATION_CHANGES.items():
        x, label = _values(pop, var), CHANGES[var.removesuffix("_kept")][1]
        text = f"the {label} and the weight-norm change across architectures"
        rows.append(_check_row("norm", f"Norm{part}", "", text, units.between_models(x, z, **args)))
        rows += partial_rows(pop, args, "partial", part, label, x, z, EFFECTS)
    return rows


def partial_rows(pop, args, check: str, part: str, label: str, x, z, effects) -> list[dict]:
    """The between-model rows of kernel change ``x`` (``part``, ``label``) against each of
    ``effects`` with ``z`` held fixed (partial Spearman over architectures), as check rows of
    kind ``check`` (``Between{part}{Effect}{Check}``, checking ``Between{part}{Effect}``)."""
    rows = []
    for effect in effects:
        name = effect.replace("_", "").title()
        rows.append(
            _check_row(
                check,
                f"Between{part}{name}{check.title()}",
                f"Between{part}{name}",
                f"the {label} and the {EFFECTS[effect]} across architectures, {CHECK_WORDS[check]}",
                units.partial_between(x, _values(pop, effect), z, **args),
            )
        )
    return rows


def clean_rows(f: Family) -> list[dict]:
    """The simpler explanation of a robustness relation, the clean accuracy: each between-model
    row of a robustness effect (accuracy under noise, under FGSM) with the clean test accuracy
    held fixed (partial Spearman over architectures)."""
    pop, args = members(f.population), relation_args(f.settings)
    if CLEAN not in pop:
        return []
    z, rows = _values(pop, CLEAN), []
    for var, part in RELATION_CHANGES.items():
        label = CHANGES[var.removesuffix("_kept")][1]
        rows += partial_rows(pop, args, "clean", part, label, _values(pop, var), z, ROBUSTNESS)
    return rows


def checks(
    combined: xr.Dataset,
    width: xr.Dataset,
    population: xr.Dataset,
    settings: BridgeSettings,
    family_df: pd.DataFrame,
) -> pd.DataFrame:
    """The sensitivity rows (``sensitivity_rows``, ``norm_rows``), Holm-adjusted within each kind
    of check; ``check_verdict`` the verdict from that adjustment, ``survives`` whether the row it
    checks (``sensitivity_of``) is supported in the family and here with the same sign ("yes" /
    "no"; "" where the checked row is not supported or there is none)."""
    f = Family.of(combined, width, population, settings)
    rows = sensitivity_rows(f) + norm_rows(f) + clean_rows(f)
    if not rows:
        return pd.DataFrame(
            columns=[*family_df.columns, "check", "sensitivity_of", "check_verdict", "survives"]
        )
    df = pd.DataFrame(rows)
    parts = [holm_verdicts(g.copy(), f.settings.bridge.alpha) for _, g in df.groupby("check", sort=False)]
    df = pd.concat(parts).loc[df.index]
    df["check_verdict"] = df.pop("verdict")
    main = family_df.set_index("key")

    def survives(r) -> str:
        if r.sensitivity_of not in main.index or main.loc[r.sensitivity_of, "verdict"] != "supported":
            return ""
        same = np.sign(r.effect) == np.sign(main.loc[r.sensitivity_of, "effect"])
        return "yes" if r.check_verdict == "supported" and same else "no"

    df["survives"] = [survives(r) for r in df.itertuples()]
    df["verdict"] = "sensitivity"
    return df


def sign_flips(df: pd.DataFrame) -> list[tuple]:
    """The (between row, within row) pairs of the family whose rank correlations have opposite
    signs (both finite)."""
    rows = df.set_index("key")
    out = []
    for key in df.loc[df["question"] == "between", "key"]:
        within = "Within" + key.removeprefix("Between")
        if within not in rows.index:
            continue
        b, w = rows.loc[key], rows.loc[within]
        if np.isfinite(b.effect) and np.isfinite(w.effect) and np.sign(b.effect) * np.sign(w.effect) < 0:
            out.append((key, b, w))
    return out


def exponents(width: xr.Dataset, confidence: float) -> dict[str, tuple[float, float, float]]:
    """Per model: the drift-vs-width exponent (mean of per-seed slopes) and its t interval."""
    out = {}
    for m, s in width_slopes(width).items():
        r = paired_test(s, "t", confidence)
        out[str(m)] = (r.mean, r.low, r.high)
    return out


def tests_dataset(df: pd.DataFrame, checks_df: pd.DataFrame | None = None) -> xr.Dataset:
    """The family table as a dataset (dim ``test``), with the sensitivity rows after it
    (``family``: ``bridge`` or ``CHECK_FAMILY``; their p_holm is within their kind of check)."""
    df = df.assign(family="bridge", check="", sensitivity_of="", check_verdict="", survives="")
    if checks_df is not None and len(checks_df):
        df = pd.concat([df, checks_df.assign(family=CHECK_FAMILY)], ignore_index=True)
    ds = xr.Dataset(coords={"test": ("test", df["key"].to_numpy())})
    for col, (long, unit) in {
        "effect": ("effect (see measure)", "1"),
        "low": ("interval low", "1"),
        "high": ("interval high", "1"),
        "n": ("units of the test", "1"),
        "n_units": ("units of the test (seeds or architectures, see unit)", "1"),
        "p": ("two-sided p-value", "1"),
        "p_holm": ("Holm-adjusted p-value (bridge family)", "1"),
    }.items():
        ds[col] = ("test", df[col].to_numpy(dtype=float), cf_attrs(long, unit))
    for col in ("question", "hypothesis", "measure", "better", "test", "verdict", "unit", "family", "check",
                "sensitivity_of", "check_verdict", "survives"):  # fmt: skip
        ds[f"{col}_text" if col == "test" else col] = (
            "test",
            df[col].astype(str).to_numpy(),
            cf_attrs(col),
        )
    return ds


RELATIONS = ("between", "within")  # the questions of the relations table (the rest: paired rows)


def write_tests_tables(df: pd.DataFrame, paired_path, relations_path) -> None:
    """The family in two tables (one page each): the paired rows (laziness, control, ablations,
    width, correction path, kernel regression) and the rank correlations (between and within
    models); the Holm adjustment is over the whole family."""
    relations = df["question"].isin(RELATIONS)
    write_tests_table(df[~relations], paired_path)
    write_tests_table(df[relations], relations_path)


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
            "units": [
                f"{int(n)} {'arch.' if u == 'architecture' else 'seeds'}"
                for n, u in zip(df["n_units"], df["unit"])
            ],
            "$p_\\mathrm{Holm}$": [f"${fmt_in_style(p, p_style)}$" for p in df["p_holm"]],
            "verdict": df["verdict"],
        }
    )
    ragged = r">{\raggedright\arraybackslash}"  # the hypothesis wraps instead of widening the table
    write_table(table, path, column_format=f"{ragged}p{{6.0cm}}{ragged}p{{3.0cm}}lrll")


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


# How the text names a model, and what an ablation removes (the sentences of the verdict macros)
NAMES = {"mlp": "MLP", "snmlp": "SN-MLP", "structured": "structured net", "linear": "linear baseline"}
COMPONENTS = {
    "struct_alpha0": "the correction path ($\\alpha=0$)",
    "struct_noshape": "the spectral cap (no shaping)",
    "struct_orth": "the cap (orthogonal shaping instead)",
    "struct_fixedalpha": "the learned gate (gate fixed)",
    "linear": "every nonlinearity (the linear baseline)",
}


def _name(model: str) -> str:
    return NAMES.get(model, tex_escape(model))


def change_sentence(row, structured: str) -> str:
    """The sentence of a laziness, control or ablation row, by its Holm verdict."""
    label = row.measure.removeprefix("log10 ratio, ")
    if row.question == "ablation":
        abl = row.key.removeprefix("Ablation").removeprefix("Tn").removeprefix("Cka")
        what = COMPONENTS.get(abl, tex_escape(abl))
        return {
            "supported": f"without {what} the kernel changes more ({label})",
            "not supported": f"without {what} the kernel changes less ({label})",
        }.get(row.verdict, f"removing {what} leaves no resolved difference in the kernel's change ({label})")
    base = _name(_baseline(row))
    return {
        "supported": f"the {_name(structured)}'s kernel changes less than the {base}'s ({label})",
        "not supported": f"the {_name(structured)}'s kernel changes more than the {base}'s ({label})",
    }.get(row.verdict, f"the {_name(structured)}'s kernel change is not resolved from the {base}'s ({label})")


def relation_sentence(row) -> str:
    """The sentence of a between- or within-model rank correlation, by its Holm verdict."""
    effect = [w for k, w in EFFECTS.items() if k.replace("_", "").title() in row.key][0]
    label = "trace-normalised drift" if "Tn" in row.key else "Frobenius drift"
    where = "across architectures" if row.unit == "architecture" else "across the seeds of a model"
    if row.verdict == "supported":
        sign = "positively" if row.effect > 0 else "negatively"
        return f"the {label} is {sign} rank-correlated with the {effect} {where}"
    return f"no rank correlation of the {label} with the {effect} is resolved {where}"


def lazy_components(df: pd.DataFrame) -> str:
    """The ablated components whose removal makes the kernel change more in all three measures
    (every ablation row of the component supported), as a phrase."""
    rows = df[df["question"] == "ablation"]
    found = []
    for abl in dict.fromkeys(
        k.removeprefix("Ablation").removeprefix("Tn").removeprefix("Cka") for k in rows["key"]
    ):
        own = rows[rows["key"].isin([f"Ablation{abl}", f"AblationTn{abl}", f"AblationCka{abl}"])]
        if len(own) and (own["verdict"] == "supported").all():
            found.append(COMPONENTS.get(abl, tex_escape(abl)))
    if not found:
        return "no single ablated component raises the kernel's change in all three measures"
    return (
        " and ".join(found)
        + (" keeps" if len(found) == 1 else " keep")
        + " the kernel still in all three measures"
    )


def surviving(df: pd.DataFrame, question: str) -> int:
    """Rows of ``question`` that survive Holm (supported)."""
    return int(((df["question"] == question) & (df["verdict"] == "supported")).sum())


def sentence_macros(df: pd.DataFrame, settings: BridgeSettings) -> dict:
    """The verdict sentences the text quotes: one per laziness, control, ablation and relation row
    (``{Key}Sentence``), the components that keep the kernel still, and counts of surviving rows."""
    out, structured = {}, settings.claims.structured
    for r in df.itertuples():
        key = macro_name(r.key.lower())
        if r.question in ("lazier", "common", "ablation"):
            out[f"{key}Sentence"] = change_sentence(r, structured)
        elif r.question in ("between", "within"):
            out[f"{key}Sentence"] = relation_sentence(r)
    out["LazyComponents"] = lazy_components(df)
    for q in ("lazier", "common", "ablation", "between", "within"):
        out[f"{q.title()}Rows"] = int((df["question"] == q).sum())
        out[f"{q.title()}Survive"] = surviving(df, q)
    between = df[df["question"] == "between"]
    out["BetweenUnits"] = int(between["n_units"].min()) if len(between) else 0
    kept = between[between["verdict"] == "supported"]
    out["BetweenSurvivors"] = (
        "; ".join(relation_sentence(r) for r in kept.itertuples())
        if len(kept)
        else "no between-architecture rank correlation survives the Holm adjustment"
    )
    return out


def _interval(r) -> str:
    """``$\rho=a$ [$l$, $h$]`` of a relation row (math for the text)."""
    return f"$\\rho={fmt_num(r.effect, 2)}$ [${fmt_num(r.low, 2)}$, ${fmt_num(r.high, 2)}$]"


def _quantity(key: str) -> str:
    """``BetweenTnTestmetric`` -> ``the trace-normalised drift and the test accuracy``."""
    rest = key.removeprefix("Between").removeprefix("Within")
    label = CHANGES["drift_tn" if rest.startswith("Tn") else "drift"][1]
    rest = rest.removeprefix("Tn")
    effect = next(w for k, w in EFFECTS.items() if rest.startswith(k.replace("_", "").title()))
    return f"the {label} and the {effect}"


def sign_flip_macros(df: pd.DataFrame) -> dict:
    """The quantities whose between-architecture and within-model rank correlations have opposite
    signs, each with both correlations, intervals, Holm-adjusted p and verdicts (``SignFlips``),
    their count (``SignFlipCount``) and the pairs compared (``SignPairs``)."""
    flips = sign_flips(df)
    pairs = int(
        sum(
            ("Within" + k.removeprefix("Between")) in set(df["key"])
            for k in df.loc[df["question"] == "between", "key"]
        )
    )
    text = "; ".join(
        f"{_quantity(key)}: {_interval(b)} across architectures "
        f"($p_\\mathrm{{Holm}}={fmt_num(b.p_holm, 2)}$, {b.verdict}) but {_interval(w)} within models "
        f"($p_\\mathrm{{Holm}}={fmt_num(w.p_holm, 2)}$, {w.verdict})"
        for key, b, w in flips
    )
    resolved = [(b.verdict == "supported") + (w.verdict == "supported") for _, b, w in flips]
    return {
        "SignFlips": text or "no quantity has opposite signs between and within models",
        "SignFlipCount": len(flips),
        "SignFlipResolved": int(sum(r >= 1 for r in resolved)),  # one side or both survive Holm
        "SignFlipBoth": int(sum(r == 2 for r in resolved)),
        "SignPairs": pairs,
    }


def check_macros(df: pd.DataFrame, checks_df: pd.DataFrame, settings: BridgeSettings) -> dict:
    """What the text says of the checks: per check, the units, how many of the supported
    between-model rows survive it and which do not (a phrase), and the sentences of the
    sensitivity and of the kernel changes' rank correlation with the weight-norm change."""
    supported = int(((df["question"] == "between") & (df["verdict"] == "supported")).sum())
    out: dict = {"BetweenSupported": supported, "Continua": len(settings.bridge.continua)}
    out["ContinuaMembers"] = int(sum(len(v) for v in settings.bridge.continua.values()))
    for check in (*units.SENSITIVITY, "partial", "clean"):
        rows = checks_df[checks_df["check"] == check] if len(checks_df) else checks_df
        name = check.title()
        out[f"{name}Units"] = int(rows["n_units"].min()) if len(rows) else 0
        out[f"{name}Survive"] = int((rows["survives"] == "yes").sum()) if len(rows) else 0
        out[f"{name}Checked"] = int(rows["survives"].isin(["yes", "no"]).sum()) if len(rows) else 0
        lost = rows[rows["survives"] == "no"] if len(rows) else rows
        out[f"{name}Lost"] = (
            "; ".join(f"{_quantity(r.sensitivity_of)} ({_interval(r)})" for r in lost.itertuples())
            if len(lost)
            else "none"
        )
    collapsed = checks_df[checks_df["check"] == "collapsed"] if len(checks_df) else checks_df
    kept = set(collapsed[collapsed["survives"] == "yes"]["sensitivity_of"]) if len(collapsed) else set()
    out["CollapsedKept"] = "; ".join(relation_sentence(r) for r in df[df["key"].isin(kept)].itertuples())
    # supported between rows whose within-model row is supported with the opposite sign
    out["BetweenOpposedWithin"] = sum(b.verdict == w.verdict == "supported" for _, b, w in sign_flips(df))
    out["SensitivitySentence"] = sensitivity_sentence(out)
    out["SurvivorsCaveat"] = survivors_caveat(out)
    out["NormSentence"] = norm_sentence(checks_df)
    return out


def sensitivity_sentence(m: dict) -> str:
    """How many supported between-architecture rows keep their verdict under each check (from
    ``check_macros``' counts)."""
    n = m["BetweenSupported"]
    if n == 0:
        return "no between-architecture row is supported, so no verdict is at stake in the checks"
    parts = [f"{m['PartialSurvive']} with the weight-norm change held fixed"]
    if m.get("CleanChecked"):
        parts.append(
            f"{m['CleanSurvive']} of the {m['CleanChecked']} robustness "
            f"{'row' if m['CleanChecked'] == 1 else 'rows'} with the clean test accuracy held fixed"
        )
    if m["Continua"]:
        parts = [
            f"{m['CollapsedSurvive']} with each one-parameter family as one unit "
            f"({m['CollapsedUnits']} architectures)",
            f"{m['ExcludedSurvive']} with the families left out ({m['ExcludedUnits']})",
            *parts,
        ]
    parts = [f"for {p}" for p in parts]
    listed = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
    rows = "row" if n == 1 else "rows"
    return f"of the {n} supported between-architecture {rows}, the verdict survives {listed}"


def survivors_caveat(m: dict) -> str:
    """A parenthesis after the list of surviving between-architecture rows: how many survive the
    checks, and how many have a resolved within-model correlation of the opposite sign ("" when
    none is supported)."""
    n = m["BetweenSupported"]
    if n == 0:
        return ""
    parts = [f"{m['PartialSurvive']} of {n} given the weight-norm change"]
    if m["Continua"]:
        parts.insert(0, f"{m['CollapsedSurvive']} of {n} with each one-parameter family as one unit")
    parts.append(
        f"{m['BetweenOpposedWithin']} of {n} with a resolved within-model correlation of the opposite sign"
    )
    return " (" + ", ".join(parts) + ")"


def between_abstract(m: dict) -> str:
    """The between-architecture result for the abstract, led by its strictest check: where no
    supported row survives with each one-parameter family as one unit, that comes first and the
    pooled result second; otherwise the pooled result with its caveat."""
    pooled = (
        f"across {m['BetweenUnits']} architectures pooled (the members of each one-parameter family "
        f"counted as separate units), {m['BetweenSurvivors']}"
    )
    if m["BetweenSupported"] == 0 or not m["Continua"] or m["CollapsedSurvive"] >= m["BetweenSupported"]:
        return pooled + m["SurvivorsCaveat"]
    if m["CollapsedSurvive"] > 0:
        lost = m["BetweenSupported"] - m["CollapsedSurvive"]
        return (
            f"with each one-parameter family as one unit ({m['CollapsedUnits']} architectures), "
            f"{m['CollapsedKept']} ({m['BetweenOpposedWithin']} of {m['BetweenSupported']} "
            f"supported rows with a resolved within-model correlation of the opposite sign); "
            f"{lost} further {'row' if lost == 1 else 'rows'} supported only with the "
            f"{m['BetweenUnits']} members pooled as separate units do not survive that check "
            f"({m['CollapsedLost']})"
        )
    return (
        f"with each one-parameter family as one unit ({m['CollapsedUnits']} architectures) no "
        f"between-architecture rank correlation survives; only {pooled} "
        f"({m['BetweenOpposedWithin']} of {m['BetweenSupported']} with a resolved within-model "
        "correlation of the opposite sign)"
    )


def norm_sentence(checks_df: pd.DataFrame) -> str:
    """What the rank correlation of each kernel change with the weight-norm change says across
    architectures, by its verdict (Holm over the two)."""
    rows = checks_df[checks_df["check"] == "norm"] if len(checks_df) else checks_df
    out = []
    for r in rows.itertuples():
        label = CHANGES["drift_tn" if r.key.endswith("Tn") else "drift"][1]
        if r.check_verdict == "supported":
            sign = "rises" if r.effect > 0 else "falls"
            out.append(f"the {label} {sign} with the weight-norm change across architectures")
        else:
            out.append(f"no rank correlation of the {label} with the weight-norm change is resolved")
    return "; ".join(out) if out else "the weight-norm change was not measured"


def write_checks_table(df: pd.DataFrame, checks_df: pd.DataFrame, path) -> None:
    """The between-model rows and their checks, one line per (kernel change, effect): the
    family's between-architecture and within-model rank correlations (interval, Holm p, verdict)
    and the between-architecture one with each continuum one unit, with the continua left out
    and given the weight-norm change (interval and whether the row's verdict survives)."""
    rows = df.set_index("key")
    check = checks_df.set_index("key") if len(checks_df) else checks_df
    eff = ("fixed", 2)  # rank correlations: in [-1, 1]

    def cell(r, holm=True) -> str:
        if r is None:
            return NA_TEXT
        p = r.p_holm if holm else r.p
        return (
            f"${fmt_in_style(r.effect, eff)}$ [${fmt_in_style(r.low, eff)}$, ${fmt_in_style(r.high, eff)}$], "
            f"$p={fmt_num(p, 2)}$"
        )

    def get(table, key):
        return table.loc[key] if len(table) and key in table.index else None

    heads = {}
    for how in (*units.SENSITIVITY, "partial"):
        got = checks_df[checks_df["check"] == how] if len(checks_df) else checks_df
        heads[how] = CHECK_WORDS[how] + (f" ({int(got['n_units'].min())} arch.)" if len(got) else "")
    lines = []
    for key in df.loc[df["question"] == "between", "key"]:
        b, w = rows.loc[key], get(rows, "Within" + key.removeprefix("Between"))
        line = {
            "kernel change and effect": _quantity(key).removeprefix("the ").replace(" and the ", " / "),
            f"between ({int(b.n_units)} arch.)": cell(b) + f", {b.verdict}",
            "within (seeds)": cell(w) + (f", {w.verdict}" if w is not None else ""),
        }
        for how in (*units.SENSITIVITY, "partial"):
            c = get(check, f"{key}{how.title()}")
            line[heads[how]] = cell(c) + (f", survives: {c.survives}" if c is not None and c.survives else "")
        lines.append(line)
    table = pd.DataFrame(lines)
    ragged = r">{\raggedright\arraybackslash}"  # (array: loaded by siunitx)
    write_table(
        table, path, column_format=f"{ragged}p{{2.8cm}}" + f"{ragged}p{{3.5cm}}" * (table.shape[1] - 1)
    )


NA_TEXT = "n/a"


def claims_table(
    df: pd.DataFrame,
    settings: BridgeSettings,
    depth: int,
    width: int,
    steps: int,
    checks_df: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The family's rows in the claims ledger's columns (issue 28) plus ``test_unit`` and
    ``n_units``; every choice (rates, kept weights) made on the validation split. With
    ``checks_df``, the sensitivity rows follow (family ``CHECK_FAMILY``, verdict ``sensitivity``,
    their own columns ``check``, ``sensitivity_of``, ``check_verdict``, ``survives``)."""
    seeds_of = {"seed": lambda r: int(r.n_units), "architecture": lambda r: np.nan}
    if checks_df is not None and len(checks_df):
        # the sensitivity rows after the family's, outside its Holm adjustment (not verdict rows)
        df = pd.concat([df.assign(family="bridge"), checks_df.assign(family=CHECK_FAMILY)], ignore_index=True)
    else:
        df = df.assign(family="bridge")
    out = pd.DataFrame(
        {
            "family": df["family"],
            "claim": df["key"],
            "task": settings.bridge.task,
            "model": settings.claims.structured,
            "baseline": [_baseline(r) for r in df.itertuples()],
            "depth": depth,
            "width": [("sweep" if r.question == "width" else width) for r in df.itertuples()],
            "n_seeds": [seeds_of.get(r.unit, seeds_of["seed"])(r) for r in df.itertuples()],
            "selection_split": "validation",
            "effect": df["effect"],
            "unit": df["measure"],
            "low": df["low"],
            "high": df["high"],
            "p": df["p"],
            "p_holm": df["p_holm"],
            "verdict": df["verdict"],
            "by_construction": False,
            "budget": f"{steps} steps",
            "test_unit": df["unit"],
            "n_units": df["n_units"].astype(int),
        }
    )
    if checks_df is not None and len(checks_df):
        for col in ("check", "sensitivity_of", "check_verdict", "survives"):
            out[col] = df[col].fillna("") if col in df else ""
    return out


def _baseline(row) -> str:
    """The other model of a paired row ('' for a relation or a single-model row)."""
    for prefix in ("LazierTn", "LazierCka", "Lazier", "CommonTn", "CommonCka", "Common", "InitTn", "Init"):
        if row.key.startswith(prefix) and row.question in ("lazier", "common", "regression"):
            return row.key.removeprefix(prefix)
    if row.question == "ablation":
        return row.key.removeprefix("Ablation").removeprefix("Tn").removeprefix("Cka")
    return ""


def _not_run(out: dict, key: str) -> None:
    """The macros of a quoted row this profile does not run: n/a numbers, 'not run' words."""
    key = macro_name(key.lower())
    for suffix in ("Effect", "Low", "High", "P", "N"):
        out.setdefault(f"{key}{suffix}", r"\text{n/a}")
    for suffix in ("Verdict", "Sentence"):
        out.setdefault(f"{key}{suffix}", "not run")


def population_macros(population: xr.Dataset, settings: BridgeSettings) -> dict:
    """The population's size: architectures, the fewest and most seeds of one, the continuum's
    models, and the common rate (the structured model's tuned rate)."""
    pop = population.sel(model=population.model.values[population.in_population.values == 1])
    seeds = np.isfinite(pop.drift_kept).sum("seed")
    rate = float(population.lr.sel(model=settings.claims.structured))
    return {
        "PopUnits": int(pop.model.size),
        "PopSeedsMin": int(seeds.min()),
        "PopSeedsMax": int(seeds.max()),
        "CommonRate": fmt_value(rate),
        "LastStep": int(population.last_step.max()),
        "MinUnits": settings.bridge.min_units,
        "Permutations": settings.bridge.permutations,
    }


def macros(
    df: pd.DataFrame,
    combined: xr.Dataset,
    width: xr.Dataset,
    population: xr.Dataset,
    settings: BridgeSettings,
    checks_df: pd.DataFrame | None = None,
) -> dict:
    """Every number and verdict sentence the bridge section quotes (``checks_df``: the
    sensitivity rows, ``checks``)."""
    checks_df = checks(combined, width, population, settings, df) if checks_df is None else checks_df
    out: dict = sentence_macros(df, settings) | population_macros(population, settings)
    out |= sign_flip_macros(df) | check_macros(df, checks_df, settings)
    out["BetweenAbstract"] = between_abstract(out)
    for key in ("Norm", "NormTn"):  # quoted: n/a where the weight-norm change was not measured
        if key not in set(checks_df["key"]):
            _not_run(out, key)
    for r in checks_df.itertuples():
        key = macro_name(r.key.lower())
        out |= {f"{key}Effect": r.effect, f"{key}Low": r.low, f"{key}High": r.high}
        out |= {
            f"{key}P": fmt_num(r.p_holm, 2),
            f"{key}N": int(r.n_units),
            f"{key}Survives": r.survives or "n/a",
        }
    cfg, structured = settings.bridge, settings.claims.structured
    for r in df.itertuples():
        key = macro_name(r.key.lower())
        out[f"{key}Effect"] = r.effect
        out[f"{key}Low"] = r.low
        out[f"{key}High"] = r.high
        out[f"{key}P"] = fmt_num(r.p_holm, 2)
        out[f"{key}Verdict"] = r.verdict
        out[f"{key}N"] = int(r.n_units)
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
        paired = [f"{q}{part}{m}" for q in ("Lazier", "Common") for part, _ in CHANGES.values()]
        if m in COMPONENTS:  # an ablation: its rows against the structured model
            keys = [f"Ablation{part}{m}" for part, _ in CHANGES.values()]
        else:
            keys = (paired + [f"Init{m}"] if m != structured else []) + [f"Kernel{m}", f"WidthTn{m}"]
        for key in keys:
            _not_run(out, key)
        for key in ("DriftKept", "RInit", "RKept", "AgreeInit", "AgreeKept"):
            out.setdefault(f"{key}{name}", r"\text{n/a}")
    for key, words in COMPARE_WORDS.items():
        out[f"{key}Words"] = verdict_words(out.get(f"{key}Verdict", "not run"), words)
    for key in ("BetweenTnTestmetric", "WithinTnTestmetric"):  # quoted relation rows
        _not_run(out, key)
    out["WidthdiffmlpWords"] = WIDTH_DIFF_WORDS.get(str(out.get("WidthdiffmlpVerdict")), WIDTH_DIFF_WORDS[""])
    out["N"] = int(combined.attrs["n"]) if "n" in combined.attrs else cfg.n
    out["NTest"] = cfg.n_test
    out["Seeds"] = int(combined.seed.size)
    # the seeds the width study trained (the dataset's seed axis is the union of every study's)
    out["WidthSeeds"] = int(np.isfinite(width.drift).any([d for d in width.drift.dims if d != "seed"]).sum())
    # the seeds each width point has (finite drifts, fewest over the models), as the captions say
    per_width = np.isfinite(width.drift).sum("seed").min("model")
    out["WidthSeedsPerPoint"] = ", ".join(
        f"{int(w)}: {int(n)}" for w, n in zip(width.width.values, per_width.values)
    )
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


def write_claims(
    df: pd.DataFrame, checks_df: pd.DataFrame, settings: BridgeSettings, train: dict, path
) -> None:
    """The family's rows and the sensitivity rows in the claims ledger's columns
    (``claims_table``) as CSV."""
    size = (int(train["depth"]), int(train["width"]), int(train["optim"]["steps"]))
    table = claims_table(df, settings, *size, checks_df=checks_df)
    write_text(table.to_csv(index=False), path)


def write_macros_file(values: dict, path) -> None:
    write_macros(values, path, prefix="Bridge")
