"""The stock scikit-learn reference: choices on validation only, the comparison's interval and
the exclusion list."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from learndyn.data import Task
from learndyn.train.stock import StockSettings, run_stock
from learndyn.train.stock_report import (
    compare,
    comparison_dataset,
    exclude_trailing,
    excluded,
    mean_difference,
)

TRAIN = {
    "seeds": [0, 1, 2],
    "tune": {"seeds": [100, 101]},
    "validation": {"fraction": 0.25, "seed": 0},
    "stock": {"tasks": ["toy"], "Cs": [1e-4, 1.0], "alphas": [1e-4], "hidden": [8], "max_iter": 30},
}


def _task(flip_test: bool = False) -> Task:
    rng = np.random.default_rng(0)
    x, xt = rng.standard_normal((200, 5)), rng.standard_normal((60, 5))
    y, yt = (x[:, 0] > 0).astype(int), (xt[:, 0] > 0).astype(int)
    return Task("toy", "classification", x, y, xt, 1 - yt if flip_test else yt, 2)


@pytest.fixture(scope="module")
def runs():
    job = StockSettings.from_job(SimpleNamespace(train=TRAIN))
    return run_stock(_task(), job), run_stock(_task(flip_test=True), job)


def test_choices_never_see_the_test_split(runs):
    """Flipping every test label changes the test accuracy and nothing that was chosen."""
    ds, flipped = runs
    np.testing.assert_array_equal(ds.chosen.values, flipped.chosen.values)
    np.testing.assert_array_equal(ds.grid_val_logistic.values, flipped.grid_val_logistic.values)
    np.testing.assert_allclose(ds.test_accuracy.values, 1 - flipped.test_accuracy.values)
    # a separable problem: the weak penalty (C = 1) wins on validation, far above chance on test
    assert float(ds.chosen.sel(task="toy", model="logistic")) == 1.0
    assert (ds.test_accuracy.sel(model="logistic").values > 0.9).all()
    assert ds.test_accuracy.dims == ("task", "model", "seed") and ds.sizes["seed"] == 3


def test_regression_tasks_are_refused():
    task = Task(
        "reg", "regression", np.zeros((4, 2)), np.zeros((4, 1)), np.zeros((2, 2)), np.zeros((2, 1)), 0
    )
    with pytest.raises(ValueError, match="not a classification task"):
        run_stock(task, StockSettings.from_job(SimpleNamespace(train=TRAIN)))


def test_mean_difference_interval_and_trailing_list():
    rng = np.random.default_rng(1)
    low_arm, high_arm = 0.70 + 0.01 * rng.standard_normal(10), 0.80 + 0.01 * rng.standard_normal(10)
    effect, lo, hi, na, nb = mean_difference(low_arm, high_arm)
    assert lo < effect < hi < 0 and na == nb == 10
    assert abs(effect - (low_arm.mean() - high_arm.mean())) < 1e-12
    _, lo, hi, *_ = mean_difference(high_arm, high_arm + 0.001 * rng.standard_normal(10))
    assert lo < 0 < hi
    cells = xr.Dataset(
        {"final_test_metric": (("task", "model", "depth", "width", "seed"), low_arm.reshape(1, 1, 1, 1, 10))},
        coords={"task": ["toy"], "model": ["mlp"], "depth": [8], "width": [64], "seed": np.arange(10)},
    )
    stock = xr.Dataset(
        {"test_accuracy": (("task", "model", "seed"), np.stack([low_arm, high_arm])[None])},
        coords={"task": ["toy"], "model": ["logistic", "stock_mlp"], "seed": np.arange(10)},
    )
    df = compare(cells, stock, {"depth": 8, "width": 64})
    assert isinstance(df, pd.DataFrame) and df.set_index("reference").trails.to_dict() == {
        "logistic": False,
        "stock_mlp": True,
    }
    assert excluded(df) == [{"task": "toy", "baseline": "mlp", "reason": excluded(df)[0]["reason"]}]
    # the claims job reads the comparison dataset: the trailing pair joins the config's exclusions
    train = {"claims": {"exclude": [{"task": "other", "baseline": "rezero", "reason": "config"}]}}
    out = exclude_trailing(train, comparison_dataset(df))
    assert [e["baseline"] for e in out["claims"]["exclude"]] == ["rezero", "mlp"]
    assert train["claims"]["exclude"][0]["reason"] == "config" and len(train["claims"]["exclude"]) == 1
    assert exclude_trailing(train, None) is train


def test_structured_headline_against_the_stock_models():
    """The structured network's test accuracy next to each stock model's, each with its
    Student-t interval, and the difference with its bootstrap interval and where it lies."""
    from scipy import stats

    from learndyn.train.stock_report import headline, headline_macros

    rng = np.random.default_rng(2)
    mine = 0.80 + 0.01 * rng.standard_normal(10)
    logistic, stock_mlp = 0.70 + 0.01 * rng.standard_normal(10), 0.80 + 0.01 * rng.standard_normal(10)
    cells = xr.Dataset(
        {"final_test_metric": (("task", "model", "depth", "width", "seed"), mine.reshape(1, 1, 1, 1, 10))},
        coords={"task": ["toy"], "model": ["structured"], "depth": [8], "width": [64], "seed": np.arange(10)},
    )
    stock = xr.Dataset(
        {"test_accuracy": (("task", "model", "seed"), np.stack([logistic, stock_mlp])[None])},
        coords={"task": ["toy"], "model": ["logistic", "stock_mlp"], "seed": np.arange(10)},
    )
    df = headline(cells, stock, {"depth": 8, "width": 64, "structured": "structured"}).set_index("reference")
    half = stats.t.ppf(0.975, 9) * mine.std(ddof=1) / np.sqrt(10)
    assert df.loc["logistic", "model"] == pytest.approx(mine.mean(), abs=1e-12)
    assert df.loc["logistic", "model_high"] - df.loc["logistic", "model"] == pytest.approx(half, rel=1e-9)
    assert df.loc["stock_mlp", "stock"] == pytest.approx(stock_mlp.mean(), abs=1e-12)
    assert df.loc["logistic", "effect"] == pytest.approx(mine.mean() - logistic.mean(), abs=1e-12)
    assert df.loc["logistic", "low"] > 0  # far above the logistic regression
    assert df.loc["stock_mlp", "low"] < 0 < df.loc["stock_mlp", "high"]
    text = headline_macros(df.reset_index())["HeadlineToy"]
    assert "structured network reaches test accuracy" in text
    assert "logistic regression" in text and "scikit-learn MLP" in text
    assert ": above)" in text and ": no difference beyond the interval)" in text
    # no structured model trained: no rows
    assert headline(cells.assign_coords(model=["mlp"]), stock, {"depth": 8, "width": 64}).empty


def test_stock_choice_seeds_default_to_the_tuning_seeds_and_can_be_set():
    assert StockSettings.from_job(SimpleNamespace(train=TRAIN)).tune_seeds == (100, 101)
    own = {**TRAIN, "tune": {"seeds": [100]}, "stock": {**TRAIN["stock"], "seeds": [100, 101, 102]}}
    assert StockSettings.from_job(SimpleNamespace(train=own)).tune_seeds == (100, 101, 102)


def test_linear_reach_counts_the_models_below_the_logistic_regression():
    import xarray as xr

    from learndyn.train.stock_report import linear_reach_macros

    acc = np.array([[[[0.70, 0.72]]], [[[0.90, 0.92]]]])  # (model, task, depth, width... seed)
    cells = xr.Dataset(
        {"final_test_metric": (("model", "task", "depth", "width", "seed"), acc[:, :, :, None, :])},
        coords={"model": ["mlp", "rezero"], "task": ["toy"], "depth": [2], "width": [8], "seed": [0, 1]},
    )
    stock = xr.Dataset(
        {"test_accuracy": (("task", "model", "seed"), np.array([[[0.8, 0.8]]]))},
        coords={"task": ["toy"], "model": ["logistic"], "seed": [0, 1]},
    )
    train = {"depth": 2, "width": 8, "main_models": ["mlp", "rezero"]}
    text = linear_reach_macros(cells, stock, train)["LinearReachToy"]
    assert "is above that of 1 of the 2 models" in text and "0.910" in text and "little room" not in text
    cells["final_test_metric"] = cells.final_test_metric - 0.2
    assert "little room" in linear_reach_macros(cells, stock, train)["LinearReachToy"]
