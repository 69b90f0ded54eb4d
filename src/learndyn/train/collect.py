"""Aggregation of the training stage: every cell, LR sweep and the fixed-point study combined
into tidy datasets with dims (task, model, depth, width, seed, eval_step, layer, ...).

Each job writes its dataset with its (task, model, depth, width) as length-1 dimension
coordinates and the evaluation axis ``eval_step`` (``experiments.with_cell_dims``,
``experiments.eval_coords``), so combining is ``xr.combine_by_coords`` of the datasets as
written; the task's own variables (the coordinate ``kind`` and ``epoch_per_step``, dims
``task``) are merged separately (combining along the model and size dims would broadcast them)."""

from __future__ import annotations

import numpy as np
import xarray as xr

COMBINE = dict(join="outer", compat="no_conflicts", data_vars="all", combine_attrs="drop_conflicts")
TASK_VARS = ["kind", "epoch_per_step"]  # a cell's variables along task only (kind: a coordinate)
SIZE_DIMS = ["depth", "width"]  # constant in the tuning and LR-sweep jobs (the default size)
# what a cell keeps for itself: the spectra (``combine_spectra``), the minibatch losses and the
# epoch of each evaluation (per task; ``epoch_per_step`` gives it from ``eval_step``)
CELL_ONLY = ["A_sv", "J_sv", "sv", "step_loss", "step", "epoch"]


def task_kind(cells: xr.Dataset, task: str) -> str:
    """The kind of ``task`` ("classification" or "regression") in a combined dataset; "" for a
    task it does not hold."""
    return str(cells.kind.sel(task=task).item()) if task in cells.task.values else ""


# --- aggregation ---------------------------------------------------------------------------


def _float_ints(ds: xr.Dataset) -> xr.Dataset:
    """Integer variables as floats, so that cells missing from the grid are NaN (not a fill
    value)."""
    return ds.assign({k: v.astype(float) for k, v in ds.data_vars.items() if v.dtype.kind in "iu"})


def _bare(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` without its attributes (the combined dataset gets its own provenance) and without
    the stored encoding of its strings along the combined dims (a file's fixed string width,
    kept in the encoding, would truncate the longer task and model names of the others)."""
    out = ds.copy()
    out.attrs = {}
    for name in ("task", "model", *TASK_VARS):
        if name in out.variables:
            out.variables[name].encoding = {}
    return out


def combine_cells(datasets: list[xr.Dataset]) -> xr.Dataset:
    """One tidy dataset with dims (task, model, depth, width, seed, eval_step, layer, ...)."""
    L = max(ds.sizes["layer"] for ds in datasets)
    # one seed axis for all (a sweep's cells may train fewer seeds: NaN for the others), so the
    # cells are combined along the cell dims only
    seeds = sorted({int(s) for ds in datasets for s in ds.seed.values})
    parts = []
    for ds in datasets:
        part = _float_ints(_bare(ds.drop_vars([*CELL_ONLY, *TASK_VARS])))
        # shared layer axes (deeper cells have more layers) so only the cell dims are concatenated
        parts.append(part.reindex(layer=np.arange(1, L + 1), layer_h=np.arange(0, L + 1), seed=seeds))
    out = xr.combine_by_coords(parts, **COMBINE)
    tasks = xr.merge([_bare(ds[TASK_VARS]) for ds in datasets], join="outer", compat="no_conflicts")
    return label_coords(out.merge(tasks.reindex(task=out.task), join="exact"))


def combine_spectra(datasets: list[xr.Dataset], depth: int, width: int) -> xr.Dataset:
    """Singular-value spectra (task, model, seed, stage, layer, sv) of the default-size cells."""
    parts = [
        _bare(ds[["A_sv", "J_sv"]].squeeze(SIZE_DIMS, drop=True).drop_vars("kind"))
        for ds in datasets
        if ds.depth.item() == depth and ds.width.item() == width
    ]
    return label_coords(xr.combine_by_coords(parts, **COMBINE))


def combine_lr_sweeps(datasets: list[xr.Dataset]) -> xr.Dataset:
    """Largest-stable-rate sweeps (task, model, lr, seed)."""
    parts = [_bare(ds.squeeze(SIZE_DIMS, drop=True)) for ds in datasets]
    return label_coords(xr.combine_by_coords(parts, **COMBINE))


def combine_tunes(datasets: list[xr.Dataset]) -> xr.Dataset:
    """Tuning results (task, model, lr, seed, eval_index): validation curves, scores, chosen
    rates (the tuning budget may differ from the cells', so evaluations are numbered)."""
    parts = []
    # the rates tried differ between pairs (rates added beyond an edge): one common lr axis
    rates = np.unique(np.concatenate([ds.lr.values for ds in datasets])) if datasets else None
    for ds in datasets:
        sub = ds.squeeze(SIZE_DIMS, drop=True).drop_vars(["eval_step", "epoch"])
        sub = _float_ints(_bare(sub.rename(eval_step="eval_index")))
        parts.append(sub.reindex(lr=rates) if rates is not None and "lr" in sub.dims else sub)
    return label_coords(xr.combine_by_coords(parts, **COMBINE))


def label_coords(ds: xr.Dataset) -> xr.Dataset:
    """CF attributes for the string dimensions of a combined dataset."""
    for name, long in (
        ("task", "task"),
        ("model", "model"),
        ("stage", "stage"),
        ("direction", "perturbation direction"),
    ):
        if name in ds.coords:
            ds[name].attrs.update(long_name=long, units="1")
    return ds
