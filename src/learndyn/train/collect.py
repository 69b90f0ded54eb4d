"""Aggregation of the training stage: every cell, LR sweep and the fixed-point study combined
into tidy datasets with dims (task, model, depth, width, seed, eval_step, layer, ...)."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from ..io import cf_attrs


def expand_cell(ds: xr.Dataset) -> xr.Dataset:
    """Add the cell's (task, model, depth, width) as length-1 dimensions for combining."""
    out = ds.drop_vars(["A_sv", "J_sv", "step_loss", "step"], errors="ignore")
    out = out.expand_dims(
        task=[ds.attrs["task"]],
        model=[ds.attrs["model"]],
        depth=[int(ds.attrs["depth"])],
        width=[int(ds.attrs["width"])],
    )
    out["depth"].attrs.update(cf_attrs("depth L"))
    out["width"].attrs.update(cf_attrs("width d"))
    out.attrs = {}
    return out


COMBINE = dict(join="outer", compat="no_conflicts", data_vars="all", combine_attrs="drop_conflicts")


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
    # one seed axis for all (a sweep's cells may train fewer seeds: NaN for the others), so the
    # cells are combined along the cell dims only
    seeds = sorted({int(s) for ds in datasets for s in ds.seed.values})
    parts = []
    for ds in datasets:
        part = expand_cell(_eval_axis(ds)).drop_vars("sv", errors="ignore")
        # integers become floats, so cells missing from the grid are NaN (not a fill value)
        part = part.assign({k: v.astype(float) for k, v in part.data_vars.items() if v.dtype.kind in "iu"})
        # shared layer axes (deeper cells have more layers) so only the cell dims are concatenated
        parts.append(part.reindex(layer=np.arange(1, L + 1), layer_h=np.arange(0, L + 1), seed=seeds))
    out = xr.combine_by_coords(parts, **COMBINE)
    out.attrs.update({f"kind_{ds.attrs['task']}": ds.attrs["kind"] for ds in datasets})
    # epochs per optimisation step of each task (its fit-split size), for epoch axes
    for ds in datasets:
        every = json.loads(ds.attrs["train_config"])["eval_every"]
        out.attrs[f"epoch_per_step_{ds.attrs['task']}"] = (
            float(ds.epoch.values[1]) / every if ds.sizes["epoch"] > 1 else 0.0
        )
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


def combine_tunes(datasets: list[xr.Dataset]) -> xr.Dataset:
    """Tuning results (task, model, lr, seed, epoch): validation curves, scores, chosen rates."""
    parts = []
    for ds in datasets:
        sub = ds.drop_vars("epoch").rename(epoch="eval_index")
        edge = ((), int(ds.attrs["at_edge"]), cf_attrs("chosen rate at the edge of the grid (1) or not (0)"))
        sub = sub.assign(at_edge=edge).expand_dims(task=[ds.attrs["task"]], model=[ds.attrs["model"]])
        sub = sub.assign({k: v.astype(float) for k, v in sub.data_vars.items() if v.dtype.kind in "iu"})
        sub.attrs = {}
        parts.append(sub)
    return label_coords(xr.combine_by_coords(parts, **COMBINE))


def label_coords(ds: xr.Dataset) -> xr.Dataset:
    """CF attributes for the string dimensions added by the aggregation."""
    for name, long in (
        ("task", "task"),
        ("model", "model"),
        ("stage", "stage"),
        ("direction", "perturbation direction"),
    ):
        if name in ds.coords:
            ds[name].attrs.update(long_name=long, units="1")
    return ds
