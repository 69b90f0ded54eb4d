"""The truncation depth jobs (``hierarchy.run_depth``, one per (n, depth)) merged into the
truncation dataset and the drift diagnostics. Light: no torch (the merge job only reads
datasets)."""

from __future__ import annotations

import xarray as xr

DRIFT_VARS = ("gram_drift", "coactivation_drift", "kernel_eigenvalue")


def merge(datasets) -> xr.Dataset:
    """Concatenate depth jobs along depth (layers and widths outer-joined)."""
    return xr.concat(
        sorted(datasets, key=lambda d: int(d.depth[0])), dim="depth", join="outer", combine_attrs="override"
    )


def split(merged: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset]:
    """(truncation, drift): the merged depth jobs without / with only the drift diagnostics."""
    present = [v for v in DRIFT_VARS if v in merged]  # coactivation_drift only with L = 1
    truncation = merged.drop_vars([*present, "mode", "layer"])
    drift = merged[present]
    return truncation, drift
