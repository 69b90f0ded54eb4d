"""The stock library reference, reported: the project's MLP baseline against the stock models
(difference of means with a bootstrap interval), the pairs that trail it (``train.claims``
excludes them), the paper's table, macros and sentences. Torch- and sklearn-free; the fitting
is ``learndyn.train.stock``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..io import cf_attrs
from ..names import display
from .stock import CONFIDENCE, N_BOOT, StockConfig


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
            "task": df.task.map(display),
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
                f"On {display(r.task)} the project's MLP baseline "
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
    gone = [display(e["task"]) for e in excluded(df)]
    out["Excluded"] = ", ".join(gone) if gone else "none"
    return out


def _word(low: float, high: float) -> str:
    """Where a difference's interval lies: above 0, below 0, or across it."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "no interval"
    return "above" if low > 0 else ("below" if high < 0 else "no difference beyond the interval")


def headline(cells: xr.Dataset, stock: xr.Dataset, train: dict) -> pd.DataFrame:
    """The structured model (``train["structured"]``; kept weights, the main study's size)
    against each stock model per task: both mean test accuracies with their Student-t
    intervals over seeds at ``CONFIDENCE`` (``stats.paired_ci`` of one sample), and the
    difference structured - stock with a bootstrap interval (``mean_difference``: independent
    seeds). Columns task, reference, model, model_low, model_high, stock, stock_low,
    stock_high, effect, low, high. Empty when the structured model was not trained."""
    from ..stats import paired_ci

    model = train.get("structured", "structured")
    cols = ["task", "reference", "model", "model_low", "model_high", "stock", "stock_low", "stock_high"]
    if "model" not in cells.dims or model not in cells.model.values:
        return pd.DataFrame(columns=[*cols, "effect", "low", "high"])
    df = compare(cells, stock, train, baseline=model)
    rows = []
    for r in df.itertuples():
        sel = dict(task=r.task, model=model, depth=train["depth"], width=train["width"])
        mine = cells.final_test_metric.sel(**sel).values
        theirs = stock.test_accuracy.sel(task=r.task, model=r.reference).values
        m, m_lo, m_hi, _ = paired_ci(mine, CONFIDENCE)
        s, s_lo, s_hi, _ = paired_ci(theirs, CONFIDENCE)
        rows.append(
            {
                "task": r.task,
                "reference": r.reference,
                "model": m,
                "model_low": m_lo,
                "model_high": m_hi,
                "stock": s,
                "stock_low": s_lo,
                "stock_high": s_hi,
                "effect": r.effect,
                "low": r.low,
                "high": r.high,
            }
        )
    return pd.DataFrame(rows, columns=[*cols, "effect", "low", "high"])


STOCK_WORDS = {"stock_mlp": "the stock scikit-learn MLP's", "logistic": "the logistic regression's"}


def headline_macros(df: pd.DataFrame) -> dict:
    """Per task (``Headline<Task>``): one generated sentence, the structured network's test
    accuracy with its interval, each stock model's with its interval, and the difference
    structured - stock with its interval and where it lies; the numbers also one macro each
    (``<Task>Structured{Acc,Low,High}``, ``<Task><Reference>{AccLow,AccHigh}``,
    ``<Task>StructuredVs<Reference>{Diff,Low,High}``)."""
    from ..latex import fmt_num, macro_name

    acc = lambda v: f"{v:.3f}" if np.isfinite(v) else r"\text{n/a}"  # accuracies: three decimals

    out = {}
    ci = f"{int(round(CONFIDENCE * 100))}\\%"
    for task, g in df.groupby("task", sort=False):
        key = macro_name(task)
        first = g.iloc[0]
        out[f"{key}StructuredAcc"] = acc(first.model)
        out[f"{key}StructuredLow"] = acc(first.model_low)
        out[f"{key}StructuredHigh"] = acc(first.model_high)
        parts = []
        for r in g.itertuples():
            ref = macro_name(r.reference)
            out[f"{key}{ref}AccLow"] = acc(r.stock_low)
            out[f"{key}{ref}AccHigh"] = acc(r.stock_high)
            out[f"{key}StructuredVs{ref}Diff"] = fmt_num(r.effect)
            out[f"{key}StructuredVs{ref}Low"] = fmt_num(r.low)
            out[f"{key}StructuredVs{ref}High"] = fmt_num(r.high)
            parts.append(
                f"{STOCK_WORDS.get(r.reference, display(r.reference))} ${acc(r.stock)}$ "
                f"$[{acc(r.stock_low)}, {acc(r.stock_high)}]$ (structured minus stock "
                f"${fmt_num(r.effect)}$ $[{fmt_num(r.low)}, {fmt_num(r.high)}]$: "
                f"{_word(r.low, r.high)})"
            )
        out[f"Headline{key}"] = (
            f"on {display(task)} the structured network reaches test accuracy "
            f"${acc(first.model)}$ ({ci} interval $[{acc(first.model_low)}, "
            f"{acc(first.model_high)}]$), against " + " and ".join(parts)
        )
    return out


def linear_reach_macros(cells: xr.Dataset, stock: xr.Dataset, train: dict) -> dict:
    """Per stock task (``LinearReach<Task>``): how many of the main study's models trained on it
    have a mean test accuracy (kept weights, default size) below the logistic regression's mean,
    and the best of them: the simpler explanation that a near-linear task leaves little for a
    nonlinear path to add."""
    from ..latex import macro_name

    out = {}
    models = [str(m) for m in train.get("main_models", cells.model.values) if m in cells.model.values]
    for task in stock.task.values:
        if task not in cells.task.values or "logistic" not in stock.model.values:
            continue
        logistic = float(np.nanmean(stock.test_accuracy.sel(task=task, model="logistic").values))
        sel = dict(task=task, depth=train["depth"], width=train["width"])
        means = {m: float(np.nanmean(cells.final_test_metric.sel(model=m, **sel).values)) for m in models}
        means = {m: v for m, v in means.items() if np.isfinite(v)}
        if not means:
            continue
        best = max(means, key=means.get)
        below = sum(v < logistic for v in means.values())
        text = (
            f"the logistic regression's mean test accuracy ${logistic:.3f}$ is above that of "
            f"{below} of the {len(means)} models of the main study trained on {display(str(task))} "
            f"(the best, {display(best)}, ${means[best]:.3f}$)"
        )
        if below == len(means):
            text += (
                ", so on this task a linear read-out of the inputs does at least as well as every "
                "network here and the effects measured on it have little room"
            )
        out[f"LinearReach{macro_name(str(task))}"] = text
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
            f"On {display(r.task)} {model} reaches ${fmt_num(r.accuracy)}$ against the logistic "
            f"regression's ${fmt_num(r.logistic)}$ (difference ${fmt_num(r.effect)}$, interval "
            f"$[{fmt_num(r.low)}, {fmt_num(r.high)}]$, 0 {near} it), with mean final gate "
            f"$|\\alpha_\\ell|={fmt_num(r.gate)}$."
        )
    if not out:
        return ""
    lead = (
        f"{model} next to the logistic regression (a linear classifier), with its mean final gate "
        "over layers and seeds (the gate starts at zero; how far it grows measures how far the "
        "network leaves its linear embedding and read-out): "
    )
    return lead + " ".join(out)
