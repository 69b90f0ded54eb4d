"""Width exponents of the truncation hierarchy as data (``results/theory/exponents.csv``, gram
hierarchy spec §5.4-§5.5): one row per fit, read by the closure section's table and macros.

Every exponent is per seed first (seeds are the units): the least-squares slope of log y on
log m over the fit's widths, then the mean over seeds with its Student-t interval and t-tests of
the per-seed slopes against the two candidate rates -1/2 (switching: Lee et al. 2019's O(m^-1/2))
and -1 (smooth nets: Dyer & Gur-Ari 2019). Quantities (column ``quantity``):

    error            trajectory error of level k (max over the stored times) ~ m^p
    switch_fraction  fraction of (unit, sample) masks differing from t = 0 at the horizon ~ m^p
    error_vs_switch  d log(level-0 error) / d log(switch fraction) across widths, per seed: 1 when
                     the error is proportional to the switched fraction (tested against 1)
    gelu_minus_relu  level-0 exponent of GELU minus ReLU's, paired by seed (same widths, seeds and
                     horizon; tested against 0)

``kind`` "fit": over the range shared by every depth (``shared_widths``), or a depth's full
range where it is wider (L = 1 to its largest width); "local": between consecutive widths (two
points per seed), descriptive. Holm's adjustment runs over every test of the "fit" rows (one
family); local rows are reported unadjusted. Torch-free (the summary job reads datasets only).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..stats import exponent_interval, fit_exponent, holm, paired_ci, paired_test

FLOOR_FACTOR = 10  # errors are fitted only where at least this many times the integration floor
REFERENCES = {"p_minus_half": -0.5, "p_minus_one": -1.0}  # the two candidate width exponents
COLUMNS = (
    "quantity",
    "kind",
    "depth",
    "level",
    "activation",
    "n",
    "width_min",
    "width_max",
    "n_widths",
    "n_seeds",
    "horizon_rule",
    "horizon",
    "loss_drop",
    "exponent",
    "low",
    "high",
    "half_width",
    "p_minus_half",
    "p_minus_one",
    "reference",
    "p_reference",
    "p_minus_half_holm",
    "p_minus_one_holm",
    "p_reference_holm",
)


def trajectory_error(err: xr.DataArray) -> xr.DataArray:
    """Largest error over the stored fractions of the horizon (the whole trajectory)."""
    return err.max("tau", skipna=True)


def shared_widths(truncation: xr.Dataset) -> np.ndarray:
    """Widths at which level 0 was measured at every depth: the one range all depths are fitted on."""
    common = None
    for L in truncation.depth.values:
        e = trajectory_error(truncation.err.sel(level=0, depth=L)).dropna("width", how="all")
        common = set(e.width.values.tolist()) if common is None else common & set(e.width.values.tolist())
    return np.array(sorted(common or []))


def _tests(slopes, confidence: float) -> dict:
    """Mean, t-interval and the t-tests against -1/2 and -1 of per-seed slopes."""
    s = np.asarray(slopes, float)
    s = s[np.isfinite(s)]
    mean, low, high, n = paired_ci(s, confidence)
    out = dict(exponent=mean, low=low, high=high, half_width=(high - low) / 2, n_seeds=n)
    for key, ref in REFERENCES.items():
        out[key] = paired_test(s - ref, "t", confidence).p if n >= 2 else np.nan
    return out


def seed_slopes(x, Y, min_value: float = 0.0) -> np.ndarray:
    """Per-seed log-log slope of ``Y`` (S, k) on ``x`` (k,): least squares over the points above
    ``min_value`` (at least 3, ``stats.exponent_interval``), or, for k = 2, the two-point slope."""
    x, Y = np.asarray(x, float), np.atleast_2d(np.asarray(Y, float))
    if len(x) == 2:
        ok = np.all(np.isfinite(Y) & (Y > max(min_value, 0.0)), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.log(Y[:, 1] / Y[:, 0]) / np.log(x[1] / x[0])
        return np.where(ok, slope, np.nan)
    return np.asarray(exponent_interval(x, Y, min_value).slopes, float)


def _row(quantity, kind, depth, level, activation, n, x, slopes, meta, confidence, **extra) -> dict:
    return (
        dict(
            quantity=quantity,
            kind=kind,
            depth=int(depth),
            level=level,
            activation=activation,
            n=int(n),
            width_min=int(min(x)),
            width_max=int(max(x)),
            n_widths=len(x),
            **meta,
            **_tests(slopes, confidence),
            reference=np.nan,
            p_reference=np.nan,
        )
        | extra
    )


def _meta(ds: xr.Dataset, depth) -> dict:
    """Horizon rule, median horizon and mean loss drop of the true flow at one depth."""
    loss = ds.loss.sel(depth=depth) if "loss" in ds else None
    drop = float((1 - loss.isel(tau=-1) / loss.isel(tau=0)).mean(skipna=True)) if loss is not None else np.nan
    return dict(
        horizon_rule=str(ds.attrs.get("horizon_rule", "per_run")),
        horizon=float(ds.horizon.sel(depth=depth).median(skipna=True)),
        loss_drop=drop,
    )


def error_rows(ds, n, floor, confidence, shared, activation="relu") -> list[dict]:
    """Level-k error exponents of one truncation dataset: over the shared range, over a depth's
    full range where it is wider, and between consecutive widths (level 0)."""
    rows = []
    levels = ds.level.values if "level" in ds.err.dims else [0]
    for L in ds.depth.values:
        meta = _meta(ds, L)
        for k in levels:
            if k >= 1 and k >= L:
                continue  # exact by construction
            err = ds.err.sel(depth=L, level=k) if "level" in ds.err.dims else ds.err.sel(depth=L)
            sup = trajectory_error(err).dropna("width", how="all")
            ranges = [w for w in (np.intersect1d(sup.width.values, shared), sup.width.values) if len(w) >= 2]
            done = set()
            for x in ranges:
                if tuple(x) in done:
                    continue
                done.add(tuple(x))
                Y = sup.sel(width=x).transpose("seed", "width").values
                slopes = seed_slopes(x, Y, FLOOR_FACTOR * floor)
                rows.append(_row("error", "fit", L, int(k), activation, n, x, slopes, meta, confidence))
            if k == 0:
                x = sup.width.values
                for a, b in zip(x[:-1], x[1:]):
                    Y = sup.sel(width=[a, b]).transpose("seed", "width").values
                    slopes = seed_slopes([a, b], Y, FLOOR_FACTOR * floor)
                    rows.append(_row("error", "local", L, 0, activation, n, [a, b], slopes, meta, confidence))
    return rows


def switching_rows(ds, n, floor, confidence, shared) -> list[dict]:
    """The switching argument: the switched fraction at the horizon ~ m^p (against -1/2), and the
    level-0 error against the switched fraction across widths, per seed (against 1)."""
    rows = []
    for L in ds.depth.values:
        meta = _meta(ds, L)
        sw = ds.switch_fraction.sel(depth=L).isel(tau=-1).dropna("width", how="all")
        err = trajectory_error(ds.err.sel(depth=L, level=0)).dropna("width", how="all")
        for x in {tuple(np.intersect1d(sw.width.values, shared)), tuple(sw.width.values)}:
            x = np.array(x)
            if len(x) < 3:
                continue
            S = sw.sel(width=x).transpose("seed", "width").values
            rows.append(
                _row("switch_fraction", "fit", L, "", "relu", n, x, seed_slopes(x, S), meta, confidence)
            )
            E = err.sel(width=x).transpose("seed", "width").values
            ratio = np.array(
                [
                    fit_exponent(s[e > FLOOR_FACTOR * floor], e[e > FLOOR_FACTOR * floor])[0]
                    for s, e in zip(S, E)
                ]
            )
            row = _row("error_vs_switch", "fit", L, 0, "relu", n, x, ratio, meta, confidence)
            row["p_minus_half"] = row["p_minus_one"] = np.nan
            row["reference"], row["p_reference"] = 1.0, paired_test(ratio - 1.0, "t", confidence).p
            rows.append(row)
    return rows


def gelu_minus_relu_rows(relu, smooth, n, floor, confidence, shared) -> list[dict]:
    """Level-0 exponent of the smooth activation minus ReLU's, paired by seed, on the widths and
    seeds both ran (same horizon under the shared rule), tested against 0."""
    rows = []
    for L in smooth.depth.values:
        if L not in relu.depth.values:
            continue
        r = trajectory_error(relu.err.sel(depth=L, level=0)).dropna("width", how="all")
        s = trajectory_error(smooth.err.sel(depth=L)).dropna("width", how="all")
        x = np.intersect1d(np.intersect1d(r.width.values, s.width.values), shared)
        seeds = np.intersect1d(r.seed.values, s.seed.values)
        if len(x) < 3 or len(seeds) < 2:
            continue
        pick = dict(width=x, seed=seeds)
        d = seed_slopes(x, s.sel(**pick).transpose("seed", "width").values, FLOOR_FACTOR * floor)
        d = d - seed_slopes(x, r.sel(**pick).transpose("seed", "width").values, FLOOR_FACTOR * floor)
        row = _row(
            "gelu_minus_relu",
            "fit",
            L,
            0,
            str(smooth.attrs.get("activation", "gelu")),
            n,
            x,
            d,
            _meta(smooth, L),
            confidence,
        )
        row["p_minus_half"] = row["p_minus_one"] = np.nan
        row["reference"], row["p_reference"] = 0.0, paired_test(d, "t", confidence).p
        rows.append(row)
    return rows


def exponent_table(truncation, floor, confidence=0.95, smooth=None, second=None) -> pd.DataFrame:
    """Every fit of the hierarchy (``COLUMNS``): ReLU level errors at the main n (and ``second``'s
    n), the switching argument, the smooth control's level-0 exponents and its paired contrast
    with ReLU. Holm over every test of the "fit" rows."""
    n = int(truncation.attrs.get("data_n", 0))
    shared = shared_widths(truncation)
    rows = error_rows(truncation, n, floor, confidence, shared)
    rows += switching_rows(truncation, n, floor, confidence, shared)
    if smooth is not None:
        rows += error_rows(smooth, n, floor, confidence, shared, str(smooth.attrs.get("activation", "gelu")))
        rows += gelu_minus_relu_rows(truncation, smooth, n, floor, confidence, shared)
    if second is not None:
        rows += error_rows(second, int(second.attrs.get("data_n", 0)), floor, confidence, shared)
    df = pd.DataFrame(rows)
    fit = (df.kind == "fit").values
    pcols = ["p_minus_half", "p_minus_one", "p_reference"]
    family = holm(df.loc[fit, pcols].values.ravel()).reshape(-1, len(pcols))
    for j, c in enumerate(pcols):
        df[c + "_holm"] = np.nan
        df.loc[fit, c + "_holm"] = family[:, j]
    return df[list(COLUMNS)]
