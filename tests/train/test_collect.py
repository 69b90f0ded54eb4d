"""Aggregation: the jobs' datasets carry their (task, model, depth, width) coordinates, the
evaluation axis and the task's kind, so the combined datasets come from them as written."""

import numpy as np
import pytest
from conftest import TINY_MEASURE as MEASURE
from conftest import TINY_OPTIM as OPTIM

from learndyn.data import Task
from learndyn.io import open_dataset, write_netcdf
from learndyn.train.collect import combine_cells, combine_lr_sweeps, combine_spectra, combine_tunes, task_kind
from learndyn.train.experiments import (
    CELL_DIMS,
    CellSettings,
    LRSweepConfig,
    SweepSettings,
    TuneConfig,
    TuneSettings,
    run_cell,
    run_lr_sweep,
    run_tune,
)
from learndyn.train.loop import Validation


def _task(name: str, kind: str, n_train: int = 32, d: int = 4) -> Task:
    rng = np.random.default_rng(len(name))
    x, xt = rng.standard_normal((n_train, d)), rng.standard_normal((16, d))
    if kind == "classification":
        return Task(name, kind, x, (x[:, 0] > 0).astype(int), xt, (xt[:, 0] > 0).astype(int), 2)
    return Task(name, kind, x, x[:, :1], xt, xt[:, :1], 0)


def _written(ds, path):
    write_netcdf(ds, path, config={}, seeds=[0, 1])
    return open_dataset(path)


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    """Three cells as written: two tasks of either kind, two depths, one seed fewer in one."""
    tmp = tmp_path_factory.mktemp("cells")
    tasks = {"a": _task("a", "classification"), "bb": _task("bb", "regression", n_train=24)}
    grid = [("a", 1, (0, 1)), ("a", 2, (0,)), ("bb", 1, (0, 1))]
    return [
        _written(
            run_cell(
                tasks[t], CellSettings("mlp", {"kind": "mlp"}, depth, 8, seeds, OPTIM, MEASURE, level="sweep")
            )[0],
            tmp / f"{t}_{depth}.nc",
        )
        for t, depth, seeds in grid
    ]


def test_a_cell_carries_its_coordinates(cells):
    cell = cells[0]
    assert cell.test_metric.dims == (*CELL_DIMS, "seed", "eval_step")
    assert {k: cell[k].values.tolist() for k in CELL_DIMS} == {
        "task": ["a"],
        "model": ["mlp"],
        "depth": [1],
        "width": [8],
    }
    assert cell.eval_step.values.tolist() == [0, 2, 4] and cell.epoch.dims == ("eval_step",)
    np.testing.assert_allclose(cell.epoch.values, cell.eval_step.values * OPTIM.batch_size / 32)
    assert cell.kind.values.tolist() == ["classification"] and "kind" in cell.coords
    np.testing.assert_allclose(cell.epoch_per_step.values, [OPTIM.batch_size / 32])
    assert not {"task", "model", "depth", "width", "kind"} & set(cell.attrs)


def test_combined_cells_are_the_cells_as_written(cells, tmp_path):
    # written and read back: the names of every length survive (no fixed string width)
    out = _written(combine_cells(cells), tmp_path / "cells.nc")
    assert out.task.values.tolist() == ["a", "bb"]
    assert set(out.dims) >= {*CELL_DIMS, "seed", "eval_step", "layer"}
    assert out.kind.dims == ("task",) and out.epoch_per_step.dims == ("task",) and "kind" in out.coords
    # a task's kind stays through a selection and a reduction (fk_matched: mean over seeds)
    assert out.sel(task="a", depth=1, width=8).mean("seed").kind.item() == "classification"
    assert [task_kind(out, t) for t in ("a", "bb", "c")] == ["classification", "regression", ""]
    np.testing.assert_allclose(out.epoch_per_step.values, [8 / 32, 8 / 24])
    assert out.diverged.dtype == float and "epoch" not in out.coords
    for cell in cells:
        at = {k: cell[k].item() for k in CELL_DIMS}
        got = out.test_metric.sel(at).sel(seed=cell.seed)
        np.testing.assert_array_equal(got.values, cell.test_metric.squeeze(list(CELL_DIMS)).values)
    # cells missing from the grid and seeds a cell did not train are NaN
    assert np.isnan(out.test_metric.sel(task="bb", depth=2).values).all()
    assert np.isnan(out.test_metric.sel(task="a", depth=2, seed=1).values).all()
    spectra = combine_spectra(cells, depth=1, width=8)
    assert spectra.A_sv.dims == ("task", "model", "seed", "stage", "layer", "sv")
    assert set(spectra.variables) == {"A_sv", "J_sv", "task", "model", "seed", "stage", "layer", "sv"}


def test_combined_tunes_and_sweeps(tmp_path):
    task = _task("a", "classification")
    tune = TuneSettings(
        "mlp", {"kind": "mlp"}, 1, 8, TuneConfig((1e-3, 1e-2), (5,)), OPTIM, Validation(0.25, 0)
    )
    tuned = combine_tunes([_written(run_tune(task, tune), tmp_path / "tune.nc")])
    assert tuned.val_loss.dims == ("task", "model", "lr", "seed", "eval_index")
    assert tuned.at_edge.dims == ("task", "model") and tuned.at_edge.dtype == float
    sweep = LRSweepConfig(("a",), ("mlp",), "sgd", (1e-3, 1e-2), 4, (0, 1))
    ds = run_lr_sweep(task, SweepSettings("mlp", {"kind": "mlp"}, 1, 8, sweep, OPTIM))
    swept = combine_lr_sweeps([_written(ds, tmp_path / "sweep.nc")])
    assert swept.stable_lr.dims == ("task", "model", "seed")
