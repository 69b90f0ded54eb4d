"""A stock library reference on the classification tasks of the main study (issue 28 item 4):
scikit-learn's ``LogisticRegression`` and ``MLPClassifier`` on the same fit / validation / test
split as the project's models, every hyper-parameter chosen on the validation split.

``run_stock``: one task -> a dataset along (model, seed) with the test accuracy of the chosen
hyper-parameter, the validation accuracies of the grid and the chosen values. The logistic
regression's ``C`` and the MLP's ``alpha`` are chosen by the median validation accuracy over the
tuning seeds (``train.tune.seeds``, disjoint from the evaluation seeds); the chosen values then
fit once per evaluation seed (``train.seeds``). The selection code receives the fit and
validation parts only (``choose``): the test split reaches nothing but ``test_accuracy``.

``compare``: the project's MLP baseline (kept weights of the main study's ``mlp`` cell) against
the stock MLP per task: difference of mean test accuracy with a bootstrap interval over seeds
(the two arms' seeds are independent draws, not pairs); ``trails`` when the whole interval is
below 0. A trailing (task, baseline) belongs in ``train.claims.exclude``.

No torch (the jobs here are scikit-learn fits and reports).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..data import validation_split
from ..io import cf_attrs
from ..settings import from_mapping

MODELS = ("logistic", "stock_mlp")
NAMES = {"logistic": "logistic regression", "stock_mlp": "MLP (sklearn)"}
CONFIDENCE = 0.95
N_BOOT = 9999


@dataclass(frozen=True)
class StockConfig:
    """``train.stock``: the tasks and the hyper-parameter grids of the library reference."""

    tasks: tuple  # classification tasks of the main study
    Cs: tuple = (0.01, 0.1, 1.0, 10.0)  # inverse regularisation strengths of the logistic regression
    alphas: tuple = (1e-4, 1e-2)  # L2 penalties of the MLP
    hidden: tuple = (256, 128, 100)  # hidden layer sizes of the MLP (the published benchmark row's)
    max_iter: int = 200  # epochs at most (the MLP stops early on its own 10 % split of the fit part)
    seeds: tuple = ()  # seeds of the hyper-parameter choice (empty: train.tune.seeds)

    @classmethod
    def from_train(cls, train: dict) -> StockConfig:
        out = from_mapping(cls, train["stock"], "train.stock")
        return cls(
            tuple(out.tasks),
            tuple(float(c) for c in out.Cs),
            tuple(float(a) for a in out.alphas),
            tuple(int(h) for h in out.hidden),
            int(out.max_iter),
            tuple(int(s) for s in out.seeds),
        )


@dataclass(frozen=True)
class StockSettings:
    """One ``train_stock`` job: the grids, the tuning and evaluation seeds, the validation split."""

    stock: StockConfig
    seeds: tuple  # evaluation seeds (train.seeds)
    tune_seeds: tuple  # seeds of the hyper-parameter choice (train.stock.seeds, else train.tune.seeds)
    fraction: float  # validation share (train.validation)
    split_seed: int

    @classmethod
    def from_job(cls, params) -> StockSettings:
        train = params.train
        val = train.get("validation", {})
        stock = StockConfig.from_train(train)
        values = {
            "stock": stock,
            "seeds": tuple(int(s) for s in train["seeds"]),
            "tune_seeds": stock.seeds or tuple(int(s) for s in train["tune"]["seeds"]),
            "fraction": float(val.get("fraction", 0.2)),
            "split_seed": int(val.get("seed", 0)),
        }
        return from_mapping(cls, values, "train stock")


def make_model(name: str, value: float, seed: int, cfg: StockConfig):
    """The scikit-learn estimator ``name`` at hyper-parameter ``value`` (C or alpha), seeded."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    if name == "logistic":
        return LogisticRegression(C=value, max_iter=2000, random_state=seed)
    return MLPClassifier(
        hidden_layer_sizes=cfg.hidden,
        alpha=value,
        early_stopping=True,
        max_iter=cfg.max_iter,
        random_state=seed,
    )


def fit_score(name, value, seed, cfg, x_fit, y_fit, parts) -> list[float]:
    """Fit on ``x_fit`` and return the accuracy on each ``(x, y)`` of ``parts``."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = make_model(name, value, seed, cfg).fit(x_fit, y_fit)
    return [float(model.score(x, y)) for x, y in parts]


def choose(name: str, grid, seeds, cfg: StockConfig, fit, val) -> tuple[float, np.ndarray]:
    """The grid value of best median validation accuracy over ``seeds`` (ties: the first, i.e.
    the stronger regularisation), from the fit part ``fit = (x, y)`` and the validation part
    ``val`` only; returns it and the validation accuracies ``(grid, seed)``."""
    acc = np.array([[fit_score(name, v, s, cfg, *fit, [val])[0] for s in seeds] for v in grid])
    return float(grid[int(np.argmax(np.median(acc, axis=1)))]), acc


def run_stock(task, job: StockSettings) -> xr.Dataset:
    """The library reference on one classification task (module docstring)."""
    if task.kind != "classification":
        raise ValueError(f"train.stock: task {task.name!r} is not a classification task")
    cfg = job.stock
    x, y = np.asarray(task.x_train, float), np.asarray(task.y_train)
    fit_idx, val_idx = validation_split(y, job.fraction, job.split_seed)
    fit, val = (x[fit_idx], y[fit_idx]), (x[val_idx], y[val_idx])
    test = (np.asarray(task.x_test, float), np.asarray(task.y_test))
    grids = {"logistic": cfg.Cs, "stock_mlp": cfg.alphas}
    seeds = list(job.seeds)
    test_acc = np.full((len(MODELS), len(seeds)), np.nan)
    val_acc = np.full_like(test_acc, np.nan)
    chosen, grid_val = [], {}
    for i, name in enumerate(MODELS):
        value, grid_val[name] = choose(name, grids[name], job.tune_seeds, cfg, fit, val)
        chosen.append(value)
        for j, s in enumerate(seeds):
            val_acc[i, j], test_acc[i, j] = fit_score(name, value, s, cfg, *fit, [val, test])
    a = cf_attrs
    ds = xr.Dataset(
        {
            "test_accuracy": (("model", "seed"), test_acc, a("test accuracy at the chosen hyper-parameter")),
            "val_accuracy": (
                ("model", "seed"),
                val_acc,
                a("validation accuracy at the chosen hyper-parameter"),
            ),
            "chosen": (
                ("model",),
                np.asarray(chosen),
                a("hyper-parameter chosen on validation (C or alpha)"),
            ),
            "grid_val_logistic": (
                ("C", "tune_seed"),
                grid_val["logistic"],
                a("validation accuracy of the logistic regression"),
            ),
            "grid_val_stock_mlp": (
                ("alpha", "tune_seed"),
                grid_val["stock_mlp"],
                a("validation accuracy of the MLP"),
            ),
        },
        coords={
            "model": ("model", list(MODELS), a("stock model")),
            "seed": ("seed", np.asarray(seeds, int), a("seed")),
            "tune_seed": ("tune_seed", np.asarray(job.tune_seeds, int), a("tuning seed")),
            "C": ("C", np.asarray(cfg.Cs), a("inverse L2 strength of the logistic regression")),
            "alpha": ("alpha", np.asarray(cfg.alphas), a("L2 penalty of the MLP")),
        },
    )
    return ds.expand_dims(task=[task.name]).assign_coords(task=("task", [task.name], a("task")))
