"""Summary of every check (max error, tolerance, pass/fail computed), table and paper macros."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..latex import fmt_in_style, fmt_value, header, macro_name, plural
from ..stats import exponent_interval, fit_exponent, paired_ci
from .exponents import FLOOR_FACTOR, exponent_table, seed_slopes, shared_widths, trajectory_error
from .structured_report import comparison_rows, structured_macro_defaults, structured_macros

# --- the truncation hierarchy (truncation levels, drift diagnostics) -------------------------------

LEVEL_LABELS = {
    0: "kernel frozen (NTK)",
    1: r"operators frozen (frozen-$\Gamma$)",
    2: "operators moving, conjugate frozen",
}


def eta_slopes(descent) -> dict[int, float]:
    """Log-log slope of the one-step error vs η per depth, over steps without mask switches."""
    out = {}
    for L in descent.depth.values:
        sel = descent.sel(depth=L)
        ok = (sel.switched.max("seed") == 0).values
        out[int(L)] = fit_exponent(sel.eta.values[ok], sel.one_step_error.max("seed").values[ok])[0]
    return out


def integration_floor(truncation: xr.Dataset) -> float:
    """Largest trajectory error of the runs exact by construction (level k >= 1 at depth L <= k)."""
    vals = [
        float(trajectory_error(truncation.err.sel(level=k, depth=L)).max(skipna=True))
        for k in truncation.level.values
        for L in truncation.depth.values
        if 1 <= L <= k
    ]
    vals = [v for v in vals if np.isfinite(v)]
    return max(vals) if vals else 0.0


def hierarchy_rows_from(exponents: pd.DataFrame, truncation) -> pd.DataFrame:
    """The closure table's rows from ``exponents.exponent_table``: per (closure, depth, n) the error
    exponent over the range shared by every depth (``exponents.shared_widths``; the second data
    size over its own part of it), plus one row per level exact by construction."""
    fits = exponents[(exponents.quantity == "error") & (exponents.kind == "fit")]
    # the first fit of each closure is over the shared range (or the part of it where it ran)
    fits = fits.drop_duplicates(["level", "activation", "depth", "n"], keep="first")
    rows = []
    for k in truncation.level.values:
        for L in truncation.depth.values:
            if k >= 1 and k >= L:
                rows.append(
                    dict(closure=LEVEL_LABELS[int(k)], depth=int(L), n=int(fits.n.iloc[0]), exact=True)
                )
    for r in fits.itertuples():
        label = LEVEL_LABELS[int(r.level)] + ("" if r.activation == "relu" else f", {r.activation.upper()}")
        rows.append(
            dict(
                closure=label,
                depth=r.depth,
                n=r.n,
                mean=r.exponent,
                low=r.low,
                high=r.high,
                seeds=r.n_seeds,
                x_min=r.width_min,
                x_max=r.width_max,
                loss_drop=r.loss_drop if r.activation == "relu" else np.nan,
                p_half=r.p_minus_half_holm,
                p_one=r.p_minus_one_holm,
                exact=False,
            )
        )
    order = {v: i for i, v in enumerate(LEVEL_LABELS.values())}
    df = pd.DataFrame(rows)
    df["_k"] = [order.get(c, 10 + order.get(c.split(",")[0], 0)) for c in df.closure]
    return df.sort_values(["_k"], kind="stable").drop(columns="_k").reset_index(drop=True)


def smooth_vs_relu(truncation, smooth, confidence=0.95) -> dict:
    """Per depth: the level-0 exponent of the smooth net minus ReLU's, paired by seed (same seeds,
    same widths, same horizon rule); (mean, low, high, n)."""
    out = {}
    for L in smooth.depth.values:
        if L not in truncation.depth.values:
            continue
        widths = np.intersect1d(
            smooth.width.values, truncation.err.sel(depth=L).dropna("width", how="all").width.values
        )
        widths = np.intersect1d(widths, shared_widths(truncation))
        seeds = np.intersect1d(smooth.seed.values, truncation.seed.values)
        relu = trajectory_error(truncation.err.sel(level=0, depth=L, width=widths, seed=seeds)).values.T
        soft = trajectory_error(smooth.err.sel(depth=L, width=widths, seed=seeds)).values.T
        diff = exponent_interval(widths, soft).slopes
        diff = np.asarray(diff) - np.asarray(exponent_interval(widths, relu).slopes)
        out[int(L)] = paired_ci(diff, confidence)
    return out


def side_exponents(truncation, drift, confidence=0.95) -> dict:
    """Exponents over width (t-intervals over seeds) of the switch fraction at the horizon, of the
    Γ drift of each layer at the horizon: {name: Exponent}. (Wall times are machine-dependent:
    they are stored as ``wall_s`` for the cost model, not reported as results.)"""
    out, shared = {}, shared_widths(truncation)
    for L in truncation.depth.values:
        sw = truncation.switch_fraction.sel(depth=L).isel(tau=-1).dropna("width", how="all")
        sw = sw.sel(width=np.intersect1d(sw.width.values, shared))
        out[("switch", int(L))] = exponent_interval(sw.width.values, sw.values.T, 0.0, confidence)
        for layer in range(1, int(L) + 1):
            g = drift.gram_drift.sel(depth=L, layer=layer).isel(tau=-1).dropna("width", how="all")
            if g.sizes["width"] >= 3:
                out[("gram", int(L), layer)] = exponent_interval(g.width.values, g.values.T, 0.0, confidence)
    return out


NA = r"\text{n/a}"


def second_n_text(macros: dict, hier, main_n) -> dict:
    """The second data size as the text says it: a clause for the limitations and the supplement's
    paragraph, or that this profile ran one data size (no "n = n/a")."""
    second = hier[(hier.n != main_n) & ~hier.exact]
    if not len(second):
        return {
            "SecondNClause": "",
            "SecondNParagraph": f"This profile integrates one data size, $n={main_n}$; the second data size "
            "of config/paper.yaml was cut for the compute budget.",
        }
    n2, r = int(second.n.iloc[0]), second.iloc[0]
    k = f"ExpoSecondNLvlZero{macro_name(int(r.depth), spell_digits=True)}"
    main = f"ExpoLvlZero{macro_name(int(r.depth), spell_digits=True)}"
    return {
        "SecondNClause": f" (and $n={n2}$ at one depth)",
        "SecondNParagraph": (
            f"At $n={n2}$ ($L={int(r.depth)}$) level 0 decays as $m^{{{macros.get(k, NA)}}}$ "
            f"$[{macros.get(k + 'Lo', NA)}, {macros.get(k + 'Hi', NA)}]$, "
            f"against $m^{{{macros.get(main, NA)}}}$ "
            f"$[{macros.get(main + 'Lo', NA)}, {macros.get(main + 'Hi', NA)}]$ at $n={main_n}$: "
            f"{macros.get('SecondNWords', NA)}; the second size is fitted on fewer widths "
            f"(${macros.get(k + 'Min', NA)}$--${macros.get(k + 'Max', NA)}$)."
        ),
    }


def seeds_per_depth(truncation) -> dict:
    """{depth: seeds with a level-0 error} (``theory.truncation.depth_seeds``)."""
    ran = np.isfinite(truncation.err.sel(level=0)).any(["width", "tau"])
    return {int(L): int(ran.sel(depth=L).sum()) for L in truncation.depth.values}


def level_seed_count(truncation) -> int:
    """Seeds with a level >= 1 run (``theory.truncation.level_seeds``; 0 without such levels)."""
    higher = truncation.err.sel(level=[k for k in truncation.level.values if k >= 1])
    if not higher.sizes["level"]:
        return 0
    return int(np.isfinite(higher).any(["level", "width", "tau"]).any("depth").sum())


def seeds_words(truncation) -> str:
    """The seeds of the truncation runs as the text says them: per depth, and those of the levels
    >= 1 (``theory.truncation.level_seeds``) where fewer."""
    per = seeds_per_depth(truncation)
    counts = sorted(set(per.values()))
    if len(counts) == 1:
        words = f"{counts[0]} seeds"
    else:
        depths = ", ".join(str(L) for L in per)
        words = ", ".join(str(c) for c in per.values()) + f" seeds at $L={depths}$"
    ran = level_seed_count(truncation)
    if 0 < ran < max(per.values()):
        words += f" (the levels $\\ge1$ on the first {ran})"
    return words


def hierarchy_macro_defaults(max_depth: int = 3) -> dict:
    """Every macro the closure section quotes, as n/a: a profile without some depth, the second
    data size or the control still builds (the measured values replace these)."""
    out = {"SecondN": NA, "SecondNWords": "not measured in this profile", "SecondNClause": ""}
    out["SecondNParagraph"] = "This profile integrates one data size."
    for L in range(1, max_depth + 1):
        W = macro_name(L, spell_digits=True)
        keys = [f"ExpoLvl{macro_name(k, spell_digits=True)}{W}" for k in (0, 1, 2) if k == 0 or k < L]
        keys += [f"ExpoGeluLvlZero{W}", f"ExpoSecondNLvlZero{W}", f"GeluMinusRelu{W}", f"ExpoSwitch{W}"]
        keys += [f"Gain{macro_name(k, spell_digits=True)}{W}" for k in (1, 2) if k < L]
        keys += [f"ExpoGramThree{macro_name(l, spell_digits=True)}" for l in (1, 2, 3)]
        for key in keys:
            for suffix in ("", "Lo", "Hi", "Min", "Max", "Drop", "Ratio"):
                out[key + suffix] = NA
        for key in [f"Gain{macro_name(k, spell_digits=True)}{W}Words" for k in (1, 2) if k < L] + [
            f"GeluVsRelu{W}Words"
        ]:
            out[key] = "not measured in this profile (compared with)"
        out[f"SwitchMin{W}"] = out[f"SwitchMax{W}"] = NA
        for key in (f"HalfWidthLvlZero{W}", f"PHalfLvlZero{W}", f"POneLvlZero{W}", f"LocalLvlZero{W}"):
            out[key] = NA
        for key in (f"PSwitchHalf{W}", f"PGeluMinusRelu{W}", f"ErrVsSwitch{W}P"):
            out[key] = NA
        for suffix in ("", "Lo", "Hi", "Min", "Max", "PHalf", "POne"):
            out[f"ExpoLongLvlZero{W}{suffix}"] = NA
        for suffix in ("", "Lo", "Hi"):
            out[f"ErrVsSwitch{W}{suffix}"] = NA
        for key in (f"SwitchLong{W}", f"ErrVsSwitchLong{W}"):
            for suffix in ("", "Lo", "Hi", "Min", "Max"):
                out[key + suffix] = NA
            out[key + "Words"] = "not measured in this profile"
        for key in (
            f"VsHalfLvlZero{W}Words",
            f"VsOneLvlZero{W}Words",
            f"ExpoLongLvlZero{W}VsHalfWords",
            f"ExpoLongLvlZero{W}VsOneWords",
            f"SwitchVsHalf{W}Words",
            f"ErrVsSwitch{W}Words",
        ):
            out[key] = "not measured in this profile"
        out[f"HorizonMedian{W}"] = out[f"TruncSeeds{W}"] = NA
    out["ExpoAlpha"], out["HorizonRuleWords"] = NA, "not measured in this profile"
    return out


def hierarchy_macros(truncation, drift, hier, smooth, floor, confidence) -> dict:
    """Macros of the closure section: every exponent with its interval, floor, horizon, control."""
    fmt = lambda v: f"{v:.2f}" if np.isfinite(v) else r"\text{n/a}"
    macros = {
        "IntegrationFloor": floor,
        "FloorFactor": FLOOR_FACTOR,
        "FitFloor": FLOOR_FACTOR * floor,
        "TruncMaxWidth": int(truncation.width.values.max()),
        "TruncMinWidth": int(truncation.width.values.min()),
        "TruncSeeds": int(truncation.sizes["seed"]),
        "TruncSeedsWords": seeds_words(truncation),
        "TruncLevelSeeds": level_seed_count(truncation),
        "LossDrop": f"{100 * truncation.attrs['loss_drop']:.0f}",
        "HorizonCap": f"{truncation.attrs['horizon_t_max']:g}",
        "TruncRtol": fmt_value(truncation.attrs["integrator_rtol"])
        if "integrator_rtol" in truncation.attrs
        else NA,
        "Confidence": f"{100 * confidence:.0f}",
    }
    main_n = hier.n.iloc[0]
    for r in hier.itertuples():
        if r.exact:
            continue
        lvl = next(k for k, v in LEVEL_LABELS.items() if r.closure.startswith(v))
        tag = "Gelu" if "GELU" in r.closure else ("" if r.n == main_n else "SecondN")
        key = f"Expo{tag}Lvl{macro_name(lvl, spell_digits=True)}{macro_name(r.depth, spell_digits=True)}"
        macros[key], macros[key + "Lo"], macros[key + "Hi"] = fmt(r.mean), fmt(r.low), fmt(r.high)
        macros[key + "Min"], macros[key + "Max"] = fmt(r.x_min).split(".")[0], fmt(r.x_max).split(".")[0]
        if np.isfinite(r.loss_drop):
            macros[key + "Drop"] = f"{100 * r.loss_drop:.0f}"
    second = hier[(hier.n != main_n) & ~hier.exact]
    if len(second):
        macros["SecondN"] = int(second.n.iloc[0])
    for r in second.itertuples():
        same = hier[(hier.n == main_n) & (hier.closure == r.closure) & (hier.depth == r.depth)]
        if len(same):
            o = same.iloc[0]
            overlap = max(r.low, o.low) <= min(r.high, o.high)
            macros["SecondNWords"] = (
                "the intervals overlap, so on these sizes the exponent is not shown to depend on $n$"
                if overlap
                else "the intervals do not overlap: the exponent depends on $n$ on these sizes"
            )
    macros.update(second_n_text(macros, hier, main_n))
    for L, count in seeds_per_depth(truncation).items():
        macros[f"TruncSeeds{macro_name(L, spell_digits=True)}"] = count
    for L in truncation.depth.values:
        macros[f"HorizonMedian{macro_name(int(L), spell_digits=True)}"] = (
            f"{float(truncation.horizon.sel(depth=L).median()):.3g}"
        )
    if smooth is not None:
        for L, (m, lo, hi, _) in smooth_vs_relu(truncation, smooth, confidence).items():
            key = f"GeluMinusRelu{macro_name(L, spell_digits=True)}"
            macros[key], macros[key + "Lo"], macros[key + "Hi"] = fmt(m), fmt(lo), fmt(hi)
    if drift is not None:
        for key, ex in side_exponents(truncation, drift, confidence).items():
            name = "".join(macro_name(k, spell_digits=True) for k in key)
            macros[f"Expo{name}"], macros[f"Expo{name}Lo"], macros[f"Expo{name}Hi"] = (
                fmt(ex.mean),
                fmt(ex.low),
                fmt(ex.high),
            )
        sw = truncation.switch_fraction.isel(tau=-1)
        for L in truncation.depth.values:
            v = sw.sel(depth=L).mean("seed").dropna("width")
            macros[f"SwitchMin{macro_name(int(L), spell_digits=True)}"] = f"{100 * float(v.values[0]):.1f}"
            macros[f"SwitchMax{macro_name(int(L), spell_digits=True)}"] = f"{100 * float(v.values[-1]):.1f}"
    return macros


ALPHA = 0.05  # family-wise level of the exponent tests (Holm over the fit rows of exponents.csv)


def _verdict(p_holm: float, reference: str) -> str:
    """Words for one Holm-adjusted test of an exponent against ``reference`` (LaTeX)."""
    if not np.isfinite(p_holm):
        return f"not tested against ${reference}$"
    return f"{'' if p_holm < ALPHA else 'not '}distinguishable from ${reference}$"


def exponent_macros(exponents: pd.DataFrame) -> dict:
    """Macros of exponents.csv the closure section quotes: the level-0 tests against -1/2 and -1
    per depth (Holm-adjusted p, half-width, words), the L = 1 fit over its full width range, its
    local exponents, the switching argument (switched fraction against -1/2, error against
    switched fraction against 1) and the GELU - ReLU tests."""
    fmt = lambda v: f"{v:.2f}" if np.isfinite(v) else NA
    fmtp = lambda p: NA if not np.isfinite(p) else ("<0.001" if p < 0.001 else f"{p:.2g}")
    out = {"ExpoAlpha": f"{ALPHA:g}"}
    fits = exponents[exponents.kind == "fit"]
    main_n = int(exponents.n.iloc[0])
    for L in sorted(set(fits.depth)):
        W = macro_name(int(L), spell_digits=True)
        err = fits[(fits.quantity == "error") & (fits.level == 0) & (fits.activation == "relu")]
        err = err[(err.depth == L) & (err.n == main_n)].sort_values("width_max")
        if len(err):
            r = err.iloc[0]  # the shared range
            out[f"HalfWidthLvlZero{W}"] = fmt(r.half_width)
            out[f"PHalfLvlZero{W}"], out[f"POneLvlZero{W}"] = (
                fmtp(r.p_minus_half_holm),
                fmtp(r.p_minus_one_holm),
            )
            out[f"VsHalfLvlZero{W}Words"] = _verdict(r.p_minus_half_holm, "-1/2")
            out[f"VsOneLvlZero{W}Words"] = _verdict(r.p_minus_one_holm, "-1")
            if len(err) > 1:  # the depth's full range, wider than the shared one
                w = err.iloc[-1]
                key = f"ExpoLongLvlZero{W}"
                out[key], out[key + "Lo"], out[key + "Hi"] = fmt(w.exponent), fmt(w.low), fmt(w.high)
                out[key + "Min"], out[key + "Max"] = str(w.width_min), str(w.width_max)
                out[key + "PHalf"], out[key + "POne"] = fmtp(w.p_minus_half_holm), fmtp(w.p_minus_one_holm)
                out[key + "VsHalfWords"] = _verdict(w.p_minus_half_holm, "-1/2")
                out[key + "VsOneWords"] = _verdict(w.p_minus_one_holm, "-1")
        local = exponents[
            (exponents.kind == "local") & (exponents.depth == L) & (exponents.activation == "relu")
        ]
        local = local[local.n == main_n]
        out[f"LocalLvlZero{W}"] = (
            "; ".join(
                rf"${r.width_min}\to{r.width_max}$: ${fmt(r.exponent)}$ [${fmt(r.low)}$, ${fmt(r.high)}$]"
                for r in local.itertuples()
            )
            or NA
        )
        sw = fits[(fits.quantity == "switch_fraction") & (fits.depth == L)].sort_values("width_max")
        if len(sw):
            r = sw.iloc[0]
            out[f"PSwitchHalf{W}"] = fmtp(r.p_minus_half_holm)
            out[f"SwitchVsHalf{W}Words"] = _verdict(r.p_minus_half_holm, "-1/2")
        ev = fits[(fits.quantity == "error_vs_switch") & (fits.depth == L)].sort_values("width_max")
        if len(ev):
            r = ev.iloc[0]
            key = f"ErrVsSwitch{W}"
            out[key], out[key + "Lo"], out[key + "Hi"] = fmt(r.exponent), fmt(r.low), fmt(r.high)
            out[key + "P"], out[key + "Words"] = fmtp(r.p_reference_holm), _verdict(r.p_reference_holm, "1")
        # the depth's widest range beside the shared one (switching and error against it)
        for rows, key, ref in ((sw, f"SwitchLong{W}", "-1/2"), (ev, f"ErrVsSwitchLong{W}", "1")):
            if len(rows) > 1:
                w = rows.iloc[-1]
                p = w.p_minus_half_holm if ref == "-1/2" else w.p_reference_holm
                out[key], out[key + "Lo"], out[key + "Hi"] = fmt(w.exponent), fmt(w.low), fmt(w.high)
                out[key + "Min"], out[key + "Max"], out[key + "Words"] = (
                    str(w.width_min),
                    str(w.width_max),
                    _verdict(p, ref),
                )
        gm = fits[(fits.quantity == "gelu_minus_relu") & (fits.depth == L)]
        if len(gm):
            r = gm.iloc[0]
            out[f"PGeluMinusRelu{W}"] = fmtp(r.p_reference_holm)
            # the words follow the Holm-adjusted test (the quoted interval is unadjusted)
            out[f"GeluVsRelu{W}Words"] = (
                ("steeper than" if r.exponent < 0 else "shallower than")
                if np.isfinite(r.p_reference_holm) and r.p_reference_holm < ALPHA
                else "not distinguishable (after Holm's adjustment) from"
            )
    rule = str(exponents.horizon_rule.iloc[0])
    out["HorizonRuleWords"] = (
        "one ODE time per depth, shared by every width and seed"
        if rule == "shared"
        else "each run's own loss-drop time"
    )
    return out


def paired_exponent_difference(x, y_a, y_b, floor, confidence=0.95):
    """Exponent of ``y_a`` minus that of ``y_b`` over the same widths ``x``, paired by seed
    (rows), each fitted over errors >= FLOOR_FACTOR x ``floor``: (mean, low, high, n)."""
    a = seed_slopes(x, y_a, FLOOR_FACTOR * floor)
    b = seed_slopes(x, y_b, FLOOR_FACTOR * floor)
    return paired_ci(a - b, confidence)


def _compare(diff, steeper: str, shallower: str, same: str) -> str:
    """Words for a paired difference of exponents: its sign when the interval excludes 0."""
    mean, low, high, n = diff
    if n < 2 or not np.isfinite(low):
        return "not measurable"
    return steeper if high < 0 else (shallower if low > 0 else same)


def hierarchy_verdicts(truncation, floor, confidence=0.95) -> dict:
    """Paired-by-seed differences of exponents between consecutive levels (same depth, widths,
    seeds), as numbers and as the words the text uses."""
    fmt = lambda v: f"{v:.2f}" if np.isfinite(v) else r"\text{n/a}"
    macros = {}
    for L in truncation.depth.values:
        for k in truncation.level.values[1:]:
            if k >= L:
                continue
            hi = trajectory_error(truncation.err.sel(level=k, depth=L)).dropna("width", how="all")
            lo = trajectory_error(truncation.err.sel(level=k - 1, depth=L, width=hi.width))
            diff = paired_exponent_difference(hi.width.values, hi.values.T, lo.values.T, floor, confidence)
            key = f"Gain{macro_name(int(k), spell_digits=True)}{macro_name(int(L), spell_digits=True)}"
            macros[key], macros[key + "Lo"], macros[key + "Hi"] = fmt(diff[0]), fmt(diff[1]), fmt(diff[2])
            macros[key + "Words"] = _compare(diff, "steeper than", "shallower than", "indistinguishable from")
            ratio = (hi / lo).median("seed").values
            macros[key + "Ratio"] = f"{float(np.nanmax(ratio)):.2g}"
    return macros  # GELU vs ReLU: words from the Holm-adjusted test (``exponent_macros``)


def _interval(mean, low, high) -> str:
    if not np.isfinite(mean):
        return "n/a"
    return f"${mean:.2f}$ [${low:.2f}$, ${high:.2f}$]"


def hierarchy_table(rows: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """The LaTeX table of ``hierarchy_rows``."""
    pct = f"{100 * confidence:.0f}"
    return pd.DataFrame(
        {
            "Closure": rows.closure,
            "$L$": rows.depth,
            "$n$": rows.n,
            rf"exponent $p$ [{pct}\% CI]": [
                "exact (by construction)" if r.exact else _interval(r.mean, r.low, r.high)
                for r in rows.itertuples()
            ],
            "$m$ fitted": [
                "" if r.exact or not np.isfinite(r.x_min) else f"{r.x_min:.0f}--{r.x_max:.0f}"
                for r in rows.itertuples()
            ],
            "seeds": ["" if r.exact else f"{r.seeds:.0f}" for r in rows.itertuples()],
            "loss drop": [
                "" if r.exact or not np.isfinite(r.loss_drop) else f"{r.loss_drop:.2f}"
                for r in rows.itertuples()
            ],
            r"$p_{-1/2}$": ["" if r.exact else _pval(r.p_half) for r in rows.itertuples()],
            r"$p_{-1}$": ["" if r.exact else _pval(r.p_one) for r in rows.itertuples()],
        }
    )


def _pval(p: float) -> str:
    """A Holm-adjusted p-value for the table: two significant digits, small ones as a bound."""
    if not np.isfinite(p):
        return "n/a"
    return "$<0.001$" if p < 0.001 else f"{p:.2g}"


# --- the checks table: one registered family of checks per experiment ------------------------

CHECKS_NOTE = (
    "Per data set (one column each; --: not checked on it): the largest relative error over the "
    "check's samples, times or parameters (a pure number); Pass: on every data set. Slope rows "
    "give the fitted log-log slope of the one-step residual error against "
    r"$\eta$ instead, which passes within the tolerance of 2."
)

CHECK_LABELS = {
    "ntk_autodiff": r"$K=\sum_\ell Q^{(\ell-1)}\odot S^{(\ell)}$ vs autodiff eNTK",
    "ntk_gc": r"$K=G\odot C$ ($L=1$)",
    "rate_r_fd": r"$\dot r=-\tfrac1n Kr$ vs finite differences",
    "rate_h_fd": r"$\dot h^{(\ell)}$ (forward recursion) vs finite differences",
    "rate_h_operator": r"$\dot h^{(\ell)}$ via $M^{(\ell;k)}$ vs recursion",
    "rate_b_fd": r"$\dot b^{(\ell)}$ (backward recursion) vs finite differences",
    "rate_b_operator": r"$\dot b^{(\ell)}$ via $\mathcal G^{(\ell;j)}$ vs finite differences",
    "rate_q_fd": r"$\dot Q^{(\ell)}$ via $\mathcal G^{(k;\ell)}$ vs finite differences",
    "rate_gamma_fd": r"$\dot\Gamma^{(\ell)}$ vs finite differences",
    "forward_recursion": r"forward recursion $M^{(\ell;k)}$ vs $J J^\top$",
    "pullback_recursion": r"pullback recursion $\mathcal G^{(\ell;j)}$ vs $J^\top\Pi J$",
    "homogeneity": r"$f=b^{(\ell)}\cdot h^{(\ell)}$, $h^{(k)}=J h^{(\ell)}$",
    "symmetry": r"symmetry of $K,Q,S,C,\Gamma,\mathcal G,M$",
    "psd": r"PSD of $K,Q,S,C,\Gamma_{\nu\kappa},\mathcal G_{\nu\nu}$ ($-\lambda_{\min}$)",
    "balancedness_fd": r"balancedness invariant, $\mathrm{d}/\mathrm{d}t$ by finite differences",
    "gram_norm_matrix_free": r"matrix-free $\|\Gamma-\Gamma_0\|$ vs explicit",
    "gd_gram_step": r"GD: exact $W^\top W$ step",
    "gd_hidden_update": r"GD: exact hidden update (mixed-time overlap)",
    "gd_field_update_L1": r"GD: exact $L=1$ field update",
    "gd_flip_corrected_L1": r"GD: flip-corrected $L=1$ residual recursion",
    "gd_balancedness_drift": r"GD: exact $\eta^2$ balancedness drift",
}


@dataclass(frozen=True)
class Results:
    """The datasets the summary reads. Flows and identities: dicts task -> dataset (the first
    task is the one the text quotes); ``drift``, ``smooth`` (smooth-activation control) and
    ``second`` (the depth job at the second data size) may be None."""

    closed_flow: dict
    hybrid_flow: dict
    identities: dict
    gradient_descent: xr.Dataset
    truncation: xr.Dataset
    drift: xr.Dataset | None = None
    smooth: xr.Dataset | None = None
    second: xr.Dataset | None = None
    structured_closure: xr.Dataset | None = None


@dataclass(frozen=True)
class Check:
    """One row of the checks table: ``value`` is the largest relative error (``kind="max"``,
    passes at most ``tolerance``) or a fitted log-log slope (``kind="slope"``, passes within
    ``tolerance`` of 2)."""

    check: str
    data: str
    value: float
    tolerance: float
    kind: str = "max"

    @property
    def passed(self) -> bool:
        v, tol = self.value, self.tolerance
        return bool(np.isfinite(v) and (abs(v - 2.0) <= tol if self.kind == "slope" else v <= tol))


@dataclass(frozen=True)
class CheckFamily:
    """The checks of one experiment: ``checks(results, tol) -> [Check]`` and the part of the
    checks table they form, as the paper names it."""

    experiment: str
    part: str
    checks: Callable


CHECK_FAMILIES: list[CheckFamily] = []  # in table order


def check_family(experiment: str, part: str):
    """Register the decorated ``checks(results, tol) -> [Check]`` as the checks of ``experiment``.
    The table loops over the registry: a new family is a new function, not a branch."""

    def register(fn):
        CHECK_FAMILIES.append(CheckFamily(experiment, part, fn))
        return fn

    return register


FLOW_PARTS = ("closed, $L=1$", "hybrid closure")  # first table; the rest go to the second
SLIDING_CHECK = r"sliding modes: $\dot h=0$ on sliding entries (equivalent control)"


def _slides_note(slides: int) -> str:
    return f" ({plural(slides, 'sliding entry')})" if slides else ""


@check_family("closed_flow", "closed, $L=1$")
def closed_flow_checks(results: Results, tol: dict) -> list[Check]:
    """The L = 1 closed (h, r) system against weight-space flow, per flow task."""
    rows = []
    for task, ds in results.closed_flow.items():
        note = _slides_note(int(ds.attrs["field_steps_slides"]))
        slide = max(
            float(ds.attrs["weight_steps_slide_residual"]), float(ds.attrs["field_steps_slide_residual"])
        )
        rows += [
            Check(
                "closed (h,r) vs weight-space flow: residual" + note, task, float(ds.err_r.max()), tol["flow"]
            ),
            Check("closed h vs forward pass of W(t)", task, float(ds.err_h.max()), tol["flow"]),
            Check("evolved r vs readout of evolved h", task, float(ds.err_r_readout.max()), tol["flow"]),
            Check(SLIDING_CHECK, task, slide, tol["identity"]),
        ]
    return rows


@check_family("hybrid_flow", "hybrid closure")
def hybrid_flow_checks(results: Results, tol: dict) -> list[Check]:
    """The hybrid closure against weight-space flow, per flow task and depth."""
    rows = []
    for task, ds in results.hybrid_flow.items():
        for L in ds.depth.values:
            d = ds.sel(depth=L)
            note = f", $L={int(L)}$" + _slides_note(int(d.slides.sel(space="field")))
            forward = max(float(d.err_h_forward), float(d.err_b_forward))
            rows += [
                Check(
                    "hybrid closure vs weight-space flow: residual" + note,
                    task,
                    float(d.err_r.max()),
                    tol["flow"],
                ),
                Check(
                    "hybrid $h$, $b$ vs forward/backward pass of $W(t)$" + f", $L={int(L)}$",
                    task,
                    forward,
                    tol["flow"],
                ),
            ]
        rows.append(Check(SLIDING_CHECK, task, float(ds.slide_residual.max()), tol["identity"]))
    return rows


@check_family("identities", "identities")
def identities_checks(results: Results, tol: dict) -> list[Check]:
    """Every pointwise identity (largest error over depths and points), per task; NaN: not defined."""
    rows = []
    for task, ds in results.identities.items():
        for c in ds.check.values:
            err = float(ds.error.sel(check=c).max(skipna=True))
            if np.isfinite(err):
                rows.append(Check(CHECK_LABELS[str(c)], task, err, tol["identity"]))
    return rows


@check_family("gradient_descent", "gradient descent")
def gradient_descent_checks(results: Results, tol: dict) -> list[Check]:
    """The exact discrete forms, the exact L = 1 step without switches and the η² scaling of the
    one-step residual error at L >= 2."""
    ds = results.gradient_descent
    task = ds.attrs["data_task"]
    rows = []
    for c in ds.discrete_check.values:
        err = float(ds.discrete_error.sel(discrete_check=c).max(skipna=True))
        if np.isfinite(err):
            rows.append(Check(CHECK_LABELS[str(c)], task, err, tol["identity"]))
    l1 = ds.one_step_error.sel(depth=1).where(ds.switched.sel(depth=1) == 0)
    rows.append(
        Check(
            r"$L=1$ one-step residual without switches (exact)",
            task,
            float(l1.max(skipna=True)),
            tol["identity"],
        )
    )
    for L, s in eta_slopes(ds).items():
        if L >= 2:
            label = rf"one-step residual error $\propto\eta^2$, $L={L}$ (slope)"
            rows.append(Check(label, task, s, tol["slope"], kind="slope"))
    return rows


@check_family("structured_closure", "structured layer")
def structured_closure_checks(results: Results, tol: dict) -> list[Check]:
    """The structured network's kernel against its autodiff Jacobian product (largest over widths,
    seeds, t = 0 and the horizon; tolerance ``kernel_tol`` of the experiment) and its flow against
    a second integrator (rk4 vs dopri5 at the smallest width), per smooth model."""
    ds = results.structured_closure
    if ds is None:
        return []
    task, rows = ds.attrs["data_task"], []
    for model, name in (("structured", "structured"), ("linear", r"linear path ($\alpha=0$)")):
        rows += [
            Check(
                rf"{name}: $K$ (Hadamard form) vs autodiff $JJ^\top$",
                task,
                float(ds.kernel_jacobian_error.sel(model=model).max(skipna=True)),
                float(ds.attrs["kernel_tol"]),
            ),
            Check(
                f"{name}: weight-space flow, dopri5 vs rk4 (residual)",
                task,
                float(ds.integrator_error.sel(model=model).max(skipna=True)),
                tol["flow"],
            ),
        ]
    return rows


def check_rows(results: Results, tol: dict) -> pd.DataFrame:
    """Every registered family's checks: (experiment, part, check, data, value, tolerance, kind,
    passed), one row per check in table order."""
    rows = [
        dict(
            experiment=fam.experiment,
            part=fam.part,
            check=c.check,
            data=c.data,
            value=float(c.value),
            tolerance=float(c.tolerance),
            kind=c.kind,
            passed=c.passed,
        )
        for fam in CHECK_FAMILIES
        for c in fam.checks(results, tol)
    ]
    return pd.DataFrame(rows)


def gd_vs_gf_slopes(descent: xr.Dataset) -> dict[int, float]:
    """Log-log slope of the GD-vs-GF residual error against η per depth."""
    return {
        int(L): fit_exponent(descent.gd_eta.values, descent.gd_vs_gf_error.sel(depth=L).values)[0]
        for L in descent.depth.values
    }


def summary_dataset(df: pd.DataFrame, results: Results, hier: pd.DataFrame, floor: float) -> xr.Dataset:
    """The checks as a dataset (dim ``row``; coordinates experiment, check, data) with the slopes,
    the hierarchy's exponents and the integration floor as attrs."""
    row_coord = lambda values, name: ("row", values.astype(str), {"long_name": name, "units": "1"})
    summary = xr.Dataset(
        {
            "max_error": (
                ("row",),
                df.value.values,
                {"long_name": "max error (or fitted slope)", "units": "1"},
            ),
            "tolerance": (("row",), df.tolerance.values, {"long_name": "tolerance", "units": "1"}),
            "passed": (
                ("row",),
                df.passed.values.astype(np.int8),
                {"long_name": "check passed (1 = yes)", "units": "1"},
            ),
        },
        coords={
            "row": ("row", np.arange(len(df)), {"long_name": "check index", "units": "1"}),
            "experiment": row_coord(df.experiment.values, "experiment"),
            "check": row_coord(df.check.values, "check"),
            "data": row_coord(df.data.values, "data set"),
        },
    )
    for L, s in eta_slopes(results.gradient_descent).items():
        summary.attrs[f"eta_slope_L{L}"] = s
    for L, s in gd_vs_gf_slopes(results.gradient_descent).items():
        summary.attrs[f"gd_vs_gf_slope_L{L}"] = s
    for r in hier.itertuples():
        if not r.exact:
            summary.attrs[f"exponent_{r.closure}_L{r.depth}_n{r.n}"] = r.mean
    summary.attrs["integration_floor"] = floor
    return summary


def checks_table(df: pd.DataFrame) -> pd.DataFrame:
    """The LaTeX checks table of ``check_rows`` (``split_checks`` cuts it in two)."""
    return pd.DataFrame(
        {
            "Part": df.part,
            "Check": df.check,
            "Data": df.data.str.replace("_", r"\_"),
            header("Max error", "relative"): [
                (f"slope ${v:.3f}$" if k == "slope" else f"${fmt_in_style(v, ('sci', 1))}$")
                for v, k in zip(df.value, df.kind)
            ],
            "Tolerance": [
                (f"slope $2\\pm{fmt_value(t)}$" if k == "slope" else f"${fmt_value(t)}$")
                for t, k in zip(df.tolerance, df.kind)
            ],
            "Pass": np.where(df.passed, "yes", r"\textbf{no}"),
        }
    )


def split_checks(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The checks table in two page-sized parts: the flows (closed and hybrid systems against
    weight-space flow) and the identities with gradient descent."""
    flows = table["Part"].isin(FLOW_PARTS)
    return by_data(table[flows]), by_data(table[~flows])


def by_data(table: pd.DataFrame) -> pd.DataFrame:
    """The checks table with one row per check and one error column per data set (the same check
    on two data sets in one row: half the rows, so each part fits a page); passed when it passes
    on every data set."""
    err, keys = header("Max error", "relative"), ["Part", "Check", "Tolerance"]
    datas = list(dict.fromkeys(table["Data"]))
    heads = {d: header(d, "max error") for d in datas}
    rows = []
    for key, g in table.groupby(keys, sort=False):
        row = dict(zip(keys, key))
        for d in datas:
            row[heads[d]] = g.loc[g["Data"] == d, err].iloc[0] if (g["Data"] == d).any() else "--"
        row["Pass"] = "yes" if (g["Pass"] == "yes").all() else r"\textbf{no}"
        rows.append(row)
    return pd.DataFrame(rows, columns=["Part", "Check", *heads.values(), "Tolerance", "Pass"])


def checks_format(frame: pd.DataFrame) -> str:
    """Column format of a checks table: the check's wording in a paragraph column, each data
    set's errors in a narrow ragged one (its header wraps between name and unit)."""
    ragged = r">{\raggedright\arraybackslash}p{1.6cm}"
    return r"lp{0.3\linewidth}" + ragged * (frame.shape[1] - 4) + "ll"


def check_macros(df: pd.DataFrame, results: Results, tol: dict) -> dict:
    """Macros of the checks: counts, tolerances, the largest error per experiment, the flows of the
    first flow task per depth (errors, sliding entries, located switches), slopes."""
    words = {1: "One", 2: "Two", 3: "Three", 4: "Four"}
    macros = {
        "NumChecks": len(df),
        "NumPassed": int(df.passed.sum()),
        "NumFailed": int((~df.passed).sum()),
        "FlowTol": fmt_value(tol["flow"]),
        "IdentityTol": fmt_value(tol["identity"]),
        "SlopeTol": fmt_value(tol["slope"]),
    }
    for exp in ("closed_flow", "hybrid_flow", "identities"):
        # identities: those of the theory (the matrix-free norm is a tool of the drift diagnostics)
        sel = df[(df.experiment == exp) & (df.check != CHECK_LABELS["gram_norm_matrix_free"])]
        if len(sel):
            macros[f"MaxErr{macro_name(exp)}"] = sel.value.max()
    ds = next(iter(results.hybrid_flow.values()))
    for L in ds.depth.values:
        macros[f"ErrHybridFlow{words[int(L)]}"] = float(ds.err_r.sel(depth=L).max())
        macros[f"SlideHybridFlow{words[int(L)]}"] = int(ds.slides.sel(depth=L, space="field"))
    ds = next(iter(results.closed_flow.values()))
    macros["SlideClosedFlow"] = int(ds.attrs["field_steps_slides"])
    macros["EventsClosedFlow"] = int(ds.attrs["field_steps_events"])
    macros["SlideClosedFlowText"] = plural(macros["SlideClosedFlow"], "sliding entry")
    macros["EventsClosedFlowText"] = plural(macros["EventsClosedFlow"], "located switch")
    macros["WidthClosedFlow"] = int(ds.attrs["width"])
    slide_res = [
        float(ds.attrs[f"{sp}_steps_slide_residual"])
        for ds in results.closed_flow.values()
        for sp in ("weight", "field")
    ]
    slide_res += [float(ds.slide_residual.max()) for ds in results.hybrid_flow.values()]
    macros["SlideResidual"] = max(slide_res, default=0.0)
    descent = results.gradient_descent
    macros["SlideTol"] = fmt_value(float(descent.attrs["integrator_slide_tol"]))
    macros["NumSamples"] = int(descent.sizes["sample"])
    macros["FlowRtol"] = fmt_value(float(descent.attrs["integrator_rtol"]))
    disc = df[(df.experiment == "gradient_descent") & (df.kind == "max")]
    if len(disc):
        macros["MaxErrDiscrete"] = disc.value.max()
    for L, s in eta_slopes(descent).items():
        macros[f"EtaSlope{words.get(L, str(L))}"] = f"{s:.3f}"
    for L, s in gd_vs_gf_slopes(descent).items():
        macros[f"GdSlope{words.get(L, str(L))}"] = f"{s:.2f}"
    return macros


def build_summary(results: Results, tol: dict, confidence: float = 0.95):
    """Every registered check (experiment, check, data, max error, tolerance, pass) and the
    hierarchy's exponents; returns (Dataset, checks DataFrame, hierarchy DataFrame, macros,
    exponents DataFrame (``exponents.exponent_table``: results/theory/exponents.csv))."""
    df = check_rows(results, tol)
    trunc, smooth = results.truncation, results.smooth
    floor = integration_floor(trunc)
    exponents = exponent_table(trunc, floor, confidence, smooth, results.second)
    hier = hierarchy_rows_from(exponents, trunc)
    macros = {**check_macros(df, results, tol), "IntegrationFloor": floor}
    macros.update(hierarchy_macro_defaults())
    macros.update(hierarchy_macros(trunc, results.drift, hier, smooth, floor, confidence))
    macros.update(hierarchy_verdicts(trunc, floor, confidence))
    macros.update(structured_macro_defaults())
    if results.structured_closure is not None:
        sc = results.structured_closure
        macros.update(structured_macros(sc, comparison_rows(sc, confidence), confidence))
    macros.update(exponent_macros(exponents))
    return (
        summary_dataset(df, results, hier, floor),
        checks_table(df),
        hierarchy_table(hier, confidence),
        macros,
        exponents,
    )
