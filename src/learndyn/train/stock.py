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
import pandas as pd
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

    @classmethod
    def from_train(cls, train: dict) -> StockConfig:
        out = from_mapping(cls, train["stock"], "train.stock")
        return cls(
            tuple(out.tasks),
            tuple(float(c) for c in out.Cs),
            tuple(float(a) for a in out.alphas),
            tuple(int(h) for h in out.hidden),
            int(out.max_iter),
        )


@dataclass(frozen=True)
class StockSettings:
    """One ``train_stock`` job: the grids, the tuning and evaluation seeds, the validation split."""

    stock: StockConfig
    seeds: tuple  # evaluation seeds (train.seeds)
    tune_seeds: tuple  # seeds of the hyper-parameter choice (train.tune.seeds)
    fraction: float  # validation share (train.validation)
    split_seed: int

    @classmethod
    def from_job(cls, params) -> StockSettings:
        train = params.train
        val = train.get("validation", {})
        values = {
            "stock": StockConfig.from_train(train),
            "seeds": tuple(int(s) for s in train["seeds"]),
            "tune_seeds": tuple(int(s) for s in train["tune"]["seeds"]),
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


def mean_difference(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, float, float, int, int]:
    """Mean of ``a`` minus mean of ``b`` (independent samples over seeds) with a percentile
    bootstrap interval at ``CONFIDENCE`` (``scipy.stats.bootstrap``); (effect, low, high, n_a, n_b)."""
    from scipy import stats

    a, b = (np.asarray(v, float) for v in (a, b))
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    effect = float(a.mean() - b.mean()) if len(a) and len(b) else np.nan
    if len(a) < 2 or len(b) < 2:
        return effect, np.nan, np.nan, len(a), len(b)
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return effect, effect, effect, len(a), len(b)
    res = stats.bootstrap(
        (a, b),
        lambda u, v, axis=-1: u.mean(axis) - v.mean(axis),
        confidence_level=CONFIDENCE,
        n_resamples=N_BOOT,
        method="percentile",
        random_state=np.random.default_rng(seed),
        vectorized=True,
    )
    return effect, float(res.confidence_interval.low), float(res.confidence_interval.high), len(a), len(b)


def compare(cells: xr.Dataset, stock: xr.Dataset, train: dict, baseline: str = "mlp") -> pd.DataFrame:
    """Per stock task: the project's ``baseline`` (kept weights, the main study's size) against
    each stock model in test accuracy; ``trails`` when the interval of (project - stock) lies
    below 0. Columns task, reference, project, stock, effect, low, high, n_project, n_stock, trails."""
    rows = []
    for task in stock.task.values:
        sel = dict(task=task, model=baseline, depth=train["depth"], width=train["width"])
        mine = cells.final_test_metric.sel(**sel).values
        for model in stock.model.values:
            theirs = stock.test_accuracy.sel(task=task, model=model).values
            effect, low, high, n_a, n_b = mean_difference(mine, theirs)
            rows.append(
                {
                    "task": str(task),
                    "reference": str(model),
                    "project": float(np.nanmean(mine)),
                    "stock": float(np.nanmean(theirs)),
                    "effect": effect,
                    "low": low,
                    "high": high,
                    "n_project": n_a,
                    "n_stock": n_b,
                    "trails": bool(np.isfinite(high) and high < 0),
                }
            )
    return pd.DataFrame(rows)


def excluded(df: pd.DataFrame, baseline: str = "mlp") -> list[dict]:
    """``train.claims.exclude`` entries for the tasks where ``baseline`` trails the stock MLP."""
    hit = df[(df.reference == "stock_mlp") & df.trails]
    reason = "trails the stock scikit-learn MLP beyond its interval"
    return [{"task": t, "baseline": baseline, "reason": reason} for t in hit.task]


def exclude_trailing(train: dict, comparison: xr.Dataset | None, baseline: str = "mlp") -> dict:
    """``train`` with ``claims.exclude`` extended by the (task, ``baseline``) pairs the stock
    ``comparison`` (:func:`comparison_dataset`) marks as trailing the stock MLP; unchanged
    without a comparison. The config's own entries come first (their reasons win)."""
    if comparison is None:
        return train
    df = comparison.to_dataframe().reset_index()
    df["trails"] = df.trails.astype(bool)
    claims = dict(train["claims"])
    claims["exclude"] = [*claims.get("exclude", []), *excluded(df, baseline)]
    return {**train, "claims": claims}


def table(df: pd.DataFrame) -> pd.DataFrame:
    """The paper's table: per task and stock model, mean test accuracies and the difference
    project - stock with its interval."""
    out = pd.DataFrame(
        {
            "task": df.task.str.replace("_", " "),
            "stock model": df.reference.map(
                {"logistic": "logistic regression", "stock_mlp": "MLP (sklearn)"}
            ),
            "stock acc.": df.stock,
            "project MLP acc.": df.project,
            "difference": df.effect,
            "interval": [f"[{lo:+.3f}, {hi:+.3f}]" for lo, hi in zip(df.low, df.high)],
            "seeds": [f"{a}/{b}" for a, b in zip(df.n_project, df.n_stock)],
        }
    )
    return out


def macros(df: pd.DataFrame, stock: xr.Dataset, cfg: StockConfig) -> dict:
    """Macros of the stock reference: per task the accuracies, the difference and its interval,
    the chosen hyper-parameters, and one generated sentence on whether the project's MLP trails
    the stock MLP; the tasks whose MLP baseline leaves the verdict families."""
    from ..latex import fmt_num, macro_name

    out = {"NumTasks": len(df.task.unique()), "NumSeeds": int(stock.sizes["seed"])}
    out["Hidden"] = ", ".join(str(h) for h in cfg.hidden)
    out["Cs"] = ", ".join(f"${fmt_num(c)}$" for c in cfg.Cs)
    out["Alphas"] = ", ".join(f"${fmt_num(a)}$" for a in cfg.alphas)
    sentences = []
    for r in df.itertuples():
        key = macro_name(r.task, r.reference)
        out[f"{key}Acc"] = fmt_num(r.stock)
        out[f"{key}Diff"] = fmt_num(r.effect)
        out[f"{key}Low"] = fmt_num(r.low)
        out[f"{key}High"] = fmt_num(r.high)
        out[macro_name(r.task, "ProjectMlpAcc")] = fmt_num(r.project)
        if r.reference == "stock_mlp":
            verdict = "trails" if r.trails else "does not trail"
            sentences.append(
                f"On {r.task.replace('_', ' ')} the project's MLP baseline "
                f"(${fmt_num(r.project)}$) {verdict} the stock MLP (${fmt_num(r.stock)}$): "
                f"difference ${fmt_num(r.effect)}$, "
                f"{int(CONFIDENCE * 100)}\\% interval $[{fmt_num(r.low)}, {fmt_num(r.high)}]$."
            )
    for task in stock.task.values:
        for model, name in (("logistic", "C"), ("stock_mlp", "Alpha")):
            out[macro_name(task, model, "Chosen", name)] = fmt_num(
                float(stock.chosen.sel(task=task, model=model))
            )
    out["Sentences"] = " ".join(sentences)
    gone = [e["task"].replace("_", " ") for e in excluded(df)]
    out["Excluded"] = ", ".join(gone) if gone else "none"
    return out


def comparison_dataset(df: pd.DataFrame) -> xr.Dataset:
    """The comparison as a dataset along (task, reference), with ``trails`` (the list of
    (task, mlp) pairs for ``train.claims.exclude``)."""
    a = cf_attrs
    idx = df.set_index(["task", "reference"])
    ds = xr.Dataset.from_dataframe(idx[["project", "stock", "effect", "low", "high", "trails"]])
    ds["trails"] = ds.trails.astype(np.int8)
    names = {
        "project": "test accuracy of the project's MLP baseline (mean over seeds)",
        "stock": "test accuracy of the stock model (mean over seeds)",
        "effect": "project minus stock test accuracy",
        "low": f"lower end of the {CONFIDENCE:.0%} bootstrap interval",
        "high": f"upper end of the {CONFIDENCE:.0%} bootstrap interval",
        "trails": "the project's MLP trails beyond the interval (1) or not (0)",
    }
    for k, v in names.items():
        ds[k].attrs.update(a(v))
    ds["task"].attrs.update(a("task"))
    ds["reference"].attrs.update(a("stock model"))
    return ds


def gate_check(cells: xr.Dataset, stock: xr.Dataset, train: dict, model: str = "rezero") -> pd.DataFrame:
    """Why a gated residual net can fail on a task: its test accuracy against the stock logistic
    regression (a linear classifier) and its mean final gate |alpha_l| over layers and seeds (a
    gate near 0 leaves the embedding and read-out, a linear map). Empty when ``model`` was not
    trained. Columns task, accuracy, logistic, effect, low, high, gate."""
    if "model" not in cells.dims or model not in cells.model.values:
        return pd.DataFrame(columns=["task", "accuracy", "logistic", "effect", "low", "high", "gate"])
    rows = []
    for task in stock.task.values:
        sel = dict(task=task, model=model, depth=train["depth"], width=train["width"])
        acc = cells.final_test_metric.sel(**sel).values
        lin = stock.test_accuracy.sel(task=task, model="logistic").values
        effect, low, high, *_ = mean_difference(acc, lin)
        gate = cells.alpha.sel(**sel, stage="final") if "alpha" in cells else None
        mean_gate = float(np.abs(gate).mean()) if gate is not None else np.nan
        rows.append(
            {
                "task": str(task),
                "accuracy": float(np.nanmean(acc)),
                "logistic": float(np.nanmean(lin)),
                "effect": effect,
                "low": low,
                "high": high,
                "gate": mean_gate,
            }
        )
    return pd.DataFrame(rows)


def gate_sentences(df: pd.DataFrame, model: str = "ReZero") -> str:
    """One generated sentence per task: the gated net's accuracy next to the linear classifier's,
    their difference with its interval, and the mean final gate."""
    from ..latex import fmt_num

    out = []
    for r in df.itertuples():
        near = "within" if r.low <= 0 <= r.high else "outside"
        out.append(
            f"On {r.task.replace('_', ' ')} {model} reaches ${fmt_num(r.accuracy)}$ against the logistic "
            f"regression's ${fmt_num(r.logistic)}$ (difference ${fmt_num(r.effect)}$, interval "
            f"$[{fmt_num(r.low)}, {fmt_num(r.high)}]$, 0 {near} it), with mean final gate "
            f"$|\\alpha_\\ell|={fmt_num(r.gate)}$."
        )
    if not out:
        return ""
    lead = (
        f"{model} next to the logistic regression (a linear classifier), with its mean final gate "
        "over layers and seeds (a gate near zero leaves the linear embedding and read-out): "
    )
    return lead + " ".join(out)
