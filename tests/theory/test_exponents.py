"""exponents.csv: per-seed log-log fits, tests against -1/2 and -1, the shared width range,
local exponents, the switching rows and the paired GELU - ReLU contrast (synthetic data with
known exponents)."""

import numpy as np
import pytest
import xarray as xr

from learndyn.theory.exponents import COLUMNS, exponent_table, seed_slopes, shared_widths

SEEDS = 12
NOISE = 0.05  # log-normal scatter of the synthetic errors


def synthetic(p_err=(-0.5, -1.0), p_switch=-0.5, widths=(32, 64, 128, 256, 512), seed=0):
    """A truncation-like dataset: level-0 error ~ m^p_err[L-1] (x seed noise) at depths 1, 2, the
    switched fraction ~ m^p_switch, depth 2 measured to 256 only; level 1 at depth 2."""
    rng = np.random.default_rng(seed)
    depths, levels, tau = [1, 2], [0, 1], np.linspace(0, 1, 3)
    w = np.array(widths, float)
    err = np.full((2, 2, len(w), SEEDS, 3), np.nan)
    sw = np.full((2, len(w), SEEDS, 3), np.nan)
    for i, p in enumerate(p_err):
        keep = w <= (512 if i == 0 else 256)
        noise = np.exp(NOISE * rng.standard_normal((len(w), SEEDS)))
        base = 0.3 * w[:, None] ** p * noise
        err[i, 0, keep] = (base[keep, :, None] * tau)[...]
        sw[i, keep] = (
            0.5
            * w[keep, None, None] ** p_switch
            * np.exp(NOISE * rng.standard_normal((keep.sum(), SEEDS, 1)))
        ) * tau
        if i == 1:
            err[i, 1, keep] = 0.1 * err[i, 0, keep] / w[keep, None, None]
    loss = np.broadcast_to(np.array([1.0, 0.85, 0.7]), (2, len(w), SEEDS, 3)).copy()
    return xr.Dataset(
        {
            "err": (("depth", "level", "width", "seed", "tau"), err),
            "switch_fraction": (("depth", "width", "seed", "tau"), sw),
            "loss": (("depth", "width", "seed", "tau"), loss),
            "horizon": (("depth", "width", "seed"), np.full((2, len(w), SEEDS), 2.5)),
        },
        coords={"depth": depths, "level": levels, "width": list(widths), "seed": range(SEEDS), "tau": tau},
        attrs={"data_n": 32, "horizon_rule": "shared"},
    )


def test_columns_ranges_and_known_exponents():
    ds = synthetic()
    df = exponent_table(ds, floor=0.0)
    assert tuple(df.columns) == COLUMNS
    assert list(shared_widths(ds)) == [32, 64, 128, 256]
    err = df[(df.quantity == "error") & (df.kind == "fit") & (df.level == 0)]
    shared = err[err.width_max == 256].set_index("depth")
    assert shared.loc[1, "exponent"] == pytest.approx(-0.5, abs=0.05)
    assert shared.loc[2, "exponent"] == pytest.approx(-1.0, abs=0.05)
    assert (shared.n_widths == 4).all() and (shared.n_seeds == SEEDS).all()
    assert (shared.half_width < 0.15).all()
    # -1/2 at depth 1: not rejected against -1/2, rejected against -1; the reverse at depth 2
    assert shared.loc[1, "p_minus_half_holm"] > 0.05 and shared.loc[1, "p_minus_one_holm"] < 1e-6
    assert shared.loc[2, "p_minus_one_holm"] > 0.05 and shared.loc[2, "p_minus_half_holm"] < 1e-6
    # depth 1 also over its full range, 32-512
    assert set(err[err.depth == 1].width_max) == {256, 512}
    # level 1 at depth 2 (error / m): one more power
    lvl1 = df[(df.quantity == "error") & (df.level == 1)].iloc[0]
    assert lvl1.exponent == pytest.approx(-2.0, abs=0.05)
    # local exponents: consecutive widths, two points, unadjusted
    local = df[(df.kind == "local") & (df.depth == 1)]
    assert list(zip(local.width_min, local.width_max)) == [(32, 64), (64, 128), (128, 256), (256, 512)]
    assert local.p_minus_half_holm.isna().all() and (local.n_widths == 2).all()


def test_switching_rows_and_error_against_switch_fraction():
    df = exponent_table(synthetic(p_err=(-0.5, -0.5), p_switch=-0.5), floor=0.0)
    sw = df[(df.quantity == "switch_fraction") & (df.width_max == 256)]
    assert np.allclose(sw.exponent, -0.5, atol=0.05)
    ratio = df[(df.quantity == "error_vs_switch") & (df.width_max == 256)]
    assert np.allclose(ratio.exponent, 1.0, atol=0.2)  # error ∝ switched fraction
    assert (ratio.reference == 1.0).all() and ratio.p_minus_half.isna().all()


def test_gelu_minus_relu_is_paired_by_seed_on_shared_widths():
    relu = synthetic(p_err=(-0.5, -0.5))
    gelu = synthetic(p_err=(-1.0, -1.0), seed=1).drop_vars(["switch_fraction", "loss"])
    gelu = gelu.assign(err=gelu.err.sel(level=0, drop=True)).assign_attrs(activation="gelu")
    df = exponent_table(relu, 0.0, 0.95, smooth=gelu)
    diff = df[df.quantity == "gelu_minus_relu"]
    assert len(diff) == 2 and (diff.width_max == 256).all()
    assert np.allclose(diff.exponent, -0.5, atol=0.1)
    assert (diff.p_reference_holm < 1e-4).all()


def test_two_point_slopes_and_floor():
    Y = np.array([[1.0, 0.5], [1.0, 0.25], [1e-9, 1e-10]])
    assert seed_slopes([10, 20], Y, 1e-6)[:2] == pytest.approx([-1.0, -2.0])
    assert np.isnan(seed_slopes([10, 20], Y, 1e-6)[2])  # under the floor: no slope


def test_closure_table_takes_the_shared_range_and_levels_on_part_of_it():
    """The table's rows: one per closure and depth, over the shared range; a level run on fewer
    widths (levels_max_width) keeps its two-point fit; exact levels are rows without a fit."""
    from learndyn.theory.report import hierarchy_rows_from

    ds = synthetic()
    ds["err"].loc[dict(depth=2, level=1, width=[128, 256])] = np.nan
    rows = hierarchy_rows_from(exponent_table(ds, floor=0.0), ds)
    fitted = rows[~rows.exact.astype(bool)]
    assert len(fitted) == 3 and set(fitted.x_max) == {256, 64}
    lvl1 = fitted[fitted.closure.str.startswith("operators frozen")].iloc[0]
    assert (lvl1.x_min, lvl1.x_max) == (32, 64) and lvl1["mean"] == pytest.approx(-2.0, abs=0.1)
    assert rows.exact.astype(bool).sum() == 1  # level 1 at depth 1
