"""Reporting of the training stage: the claims table (computed in ``claims``) as a dataset,
LaTeX tables (claims, protocol, summary, ablation), the verdict list and the macros the paper
quotes (spec structured-layers.md §1, §7)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr

from ..latex import (
    DEGENERATE,
    DEGENERATE_NOTE,
    column_style,
    fmt_in_style,
    fmt_num,
    fmt_value,
    header,
    macro_name,
    mean_sd_column,
    number_word,
    plural,
    tex_escape,
)
from ..names import display
from ..stats import VERDICTS
from .claims import (
    BY_CONSTRUCTION,
    CLAIMS,
    DESCRIPTIVE,
    DROPPED,
    EQUIVALENT,
    EXCLUDED,
    FAMILIES,
    FLAT_TOL,
    NOT_EQUIVALENT,
    Context,
    at_kept,
)
from .collect import task_kind
from .constants import AMPLIFICATION_NORM, rank_rtol
from .spec import LIP, ModelSpec

# images in the shipped Fashion-MNIST subset (sources.FASHION_SUBSET_FILES: the first of the
# official test set); kept here, not in sources, whose edit would rerun every data job
FASHION_SHIPPED_COUNT = 2000


def claims_dataset(df: pd.DataFrame) -> xr.Dataset:
    """The claims ledger as a dataset (dim ``row``), the same rows and columns as
    results/paper/claims.csv, for results/analysis and the forest plot."""
    df = df.reset_index(drop=True).rename_axis("row").copy()
    df["by_construction"] = df["by_construction"].astype(np.int8)
    ds = xr.Dataset.from_dataframe(df)
    units = {
        "structured": "structured model value (mean over seeds)",
        "baseline_value": "baseline value (mean over seeds)",
        "effect": "paired effect structured - baseline (mean over seeds)",
        "low": "interval lower end",
        "high": "interval upper end",
        "low_holm": "interval lower end at the per-row level implied by Holm",
        "high_holm": "interval upper end at the per-row level implied by Holm",
        "n_seeds": "number of paired seeds",
        "n_dropped": "seeds without a match at equal validation accuracy",
        "p": "two-sided p-value (raw)",
        "p_holm": "Holm-adjusted p-value within the row's family",
        "family_size": "number of tested rows in the row's Holm family",
        "flattened": "share of the row's runs whose validation loss flattened",
        "by_construction": "implied by construction (1) or not (0)",
    }
    for name in ds.data_vars:
        ds[name].attrs.update(long_name=units.get(name, name), units="1")
    ds["row"].attrs.update(long_name="table row", units="1")
    return ds


def write_ledger(df: pd.DataFrame, path) -> None:
    """The claims ledger as CSV (atomic, with its checksum sidecar), one row per comparison."""
    from ..io import write_text

    write_text(df.to_csv(index=False, float_format="%.10g"), path)


def read_ledger(path) -> pd.DataFrame:
    """A ledger written by ``write_ledger`` (empty strings stay strings)."""
    text = {c: str for c in ("excluded_reason", "degenerate", "note", "depth", "width")}
    df = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=text)
    return df.fillna({c: "" for c in text})


def family_rows(df: pd.DataFrame, family: str) -> pd.DataFrame:
    """The ledger's rows of one Holm family (``claims.FAMILIES``), excluded rows included."""
    return df[df.family == family] if len(df) else df


SYMBOL = {
    "supported": r"$+$",
    "not supported": r"$-$",
    "inconclusive": r"$\cdot$",
    BY_CONSTRUCTION: r"$\circ$",
    EXCLUDED: r"$\times$",
    EQUIVALENT: r"$=$",
    NOT_EQUIVALENT: r"$\cdot$",
}


METRIC_ABBREV = {"classification": "acc.", "regression": "MSE"}


def task_metrics(cells: xr.Dataset) -> dict[str, str]:
    """Per task, the abbreviation of its metric (acc. or MSE) from the cells' ``kind``."""
    return {str(t): METRIC_ABBREV.get(task_kind(cells, t), "") for t in np.atleast_1d(cells.task.values)}


CLAIMS_NOTE = (
    "Each effect is in the units of its claim's measure (listed in the results); a column's "
    "metric-valued effects (the generalisation gap) are in the task's metric, in the header "
    "(acc.: accuracy, MSE: mean squared error). Gap: train minus test accuracy, test over train "
    "MSE minus one (positive: worse on test). A superscript gives the number of paired seeds "
    "where it is below the study's (seeds without a match at equal validation accuracy, or "
    "diverged); ${}^\\ddagger$: fixed-budget row (fewer than the converged share of its runs "
    "flattened); ${}^\\S$: the baseline is degenerate on this task (its clean fit at the linear "
    "network's level, or no convergence; the ledger's degenerate column gives the reason); "
    "$\\times$: excluded. One number format per column."
)


def claims_latex_frame(df: pd.DataFrame, metrics: dict | None = None) -> pd.DataFrame:
    """Compact claims table: one row per (claim, baseline), one column per task holding the
    effect and the verdict symbol (``SYMBOL``); the measured quantities are in the verdict list,
    the full rows in the dataset and the forest plot. ``metrics``: per task its metric (acc. or
    MSE, ``task_metrics``), shown in the header; each column has one number format."""
    if df.empty:
        return pd.DataFrame({"claim": []})
    metrics = metrics or {}
    tasks = list(dict.fromkeys(df.task))
    rows, effects = [], {t: [] for t in tasks}
    for (_, base), g in df.groupby(["key", "baseline"], sort=False):
        rows.append(
            {
                "claim": g.claim.iloc[0],
                "vs.": tex_escape(base),
                "": {"higher": r"$\uparrow$", "lower": r"$\downarrow$"}[g.better.iloc[0]],
            }
        )
        for t in tasks:
            hit = g[g.task == t]
            effects[t].append(None if hit.empty else hit.iloc[0])
    out = pd.DataFrame(rows)
    full = df.groupby("key").n_seeds.max().to_dict()  # a claim's seeds (its study's)
    for t in tasks:
        style = column_style([float(e.effect) for e in effects[t] if e is not None], 2)
        name = tex_escape(t) + (f" [{metrics[t]}]" if metrics.get(t) else "")
        out[name] = ["" if e is None else _cell(e, style, int(full[e.key])) for e in effects[t]]
    return out


def _cell(r, style, full: int) -> str:
    """A table cell of a ledger row: the effect, its seeds where fewer than ``full``, the
    fixed-budget mark and the verdict symbol."""
    marks = [str(int(r.n_seeds))] if int(r.n_seeds) < full else []
    if r.budget == "fixed" and r.family != "equivalence":
        marks.append(r"\ddagger")
    if str(getattr(r, "degenerate", "") or ""):
        marks.append(r"\S")
    sup = "^{" + ",".join(marks) + "}" if marks else ""
    value = fmt_in_style(float(r.effect), style) if np.isfinite(float(r.effect)) else r"\text{--}"
    return f"${{{value}}}{sup}$ {SYMBOL[r.verdict]}"  # braces: a value in x10^k takes a superscript


FAMILY_NAMES = {
    "empirical": "empirical family",
    "favourable_task": "favourable task",
    "by_construction": "by construction",
    "equivalence": "equivalence",
}


def verdict_list(df: pd.DataFrame) -> str:
    """LaTeX itemize: per claim, how many (baseline, task) comparisons are supported, not
    supported, inconclusive (after Holm), and the dropped claims with their reason."""
    items = []
    for c in CLAIMS:
        g = df[df.key == c.key] if not df.empty else df
        if g.empty:
            continue
        parts = []
        for fam in FAMILIES:
            f = g[g.family == fam]
            counts = {v: int((f.verdict == v).sum()) for v in (*VERDICTS, BY_CONSTRUCTION, EXCLUDED)}
            got = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
            if got:
                parts.append(f"{FAMILY_NAMES[fam]}: {got} of {len(f)}")
        described = int((g.family == DESCRIPTIVE).sum())
        if described:
            parts.append(f"descriptive (a study outside every family; intervals, no verdict): {described}")
        items.append(rf"\item \emph{{{c.claim}}} ({c.measure}): " + "; ".join(parts) + ".")
    for key, why in DROPPED.items():
        items.append(rf"\item \emph{{{key.lower()}}}: not tested; {tex_escape(why)}.")
    return (
        "% generated by learndyn.train.report.verdict_list; do not edit\n\\begin{itemize}\n"
        + "\n".join(items)
        + "\n\\end{itemize}\n"
    )


def _default(cells: xr.Dataset, cfg: dict, task: str, model: str) -> xr.Dataset | None:
    if model not in cells.model.values or task not in cells.task.values:
        return None
    c = cells.sel(task=task, model=model, depth=cfg["depth"], width=cfg["width"])
    return c if np.isfinite(c.n_params.values) else None


SUMMARY_NOTE = (
    "Metric: accuracy (acc., fraction of test points, 1 = all correct) on classification tasks, "
    "mean squared error (MSE, squared target units) on regression tasks; columns marked [metric] "
    "are in the row's metric. Gap: train minus test accuracy, or test over train MSE minus one, so a "
    "positive gap means worse on the test split. Div.: number of diverged seeds (left out of the "
    "means). Mean $\\pm$ sd over seeds."
)


def summary_frame(cells: xr.Dataset, cfg: dict, study: str = "main") -> pd.DataFrame:
    """T-1 (``study="main"``) or the ablation table: per task and model at the default size,
    mean +- sd over seeds of the kept weights (lowest validation loss). The ablation table adds
    the structured model for reference. Units in the headers ([metric]: the row's metric
    column), one number format per column (``latex.mean_sd_column``), a seed-constant entry
    marked ``latex.DEGENERATE``; ``summary_note`` says what the marks mean."""
    sigma = cfg["claims"]["noise_sigma"]
    st = cfg["studies"].get(study)
    if st is None:
        return pd.DataFrame({"task": [], "model": []})
    models = list(st["models"])
    if study != "main" and cfg["claims"]["structured"] not in models:
        models = [cfg["claims"]["structured"], *models]
    rows, samples = [], []
    for task in st["tasks"]:
        kind = task_kind(cells, task)
        for model in models:
            c = _default(cells, cfg, task, model)
            if c is None:
                continue
            rows.append(
                {
                    "task": tex_escape(task),
                    "metric": "acc." if kind == "classification" else "MSE",
                    "model": tex_escape(model),
                }
            )
            samples.append(
                {
                    header("train", "metric"): c.final_train_metric,
                    header("test", "metric"): c.final_test_metric,
                    header("gap", "metric"): c.gen_gap,
                    header(r"$\log_{10}\kappa_+$", "1"): c.e2e_logcond.sel(stage="final"),
                    header(r"$\|g_0\|/\|g_L\|$", "1"): at_kept(c.grad_ratio, c),
                    header(rf"noise $\sigma={sigma:g}$", "metric"): c.noise_metric.sel(noise_sigma=sigma),
                }
            )
            rows[-1]["_div"] = int(np.nansum(c.diverged.values))
    df = pd.DataFrame(rows)
    if not rows:
        return df
    for col in samples[0]:
        df[col], _ = mean_sd_column([s[col] for s in samples])
    df[header("div.", "seeds")] = df.pop("_div")
    return df


def summary_note(frame: pd.DataFrame) -> str:
    """The note of T-1 and the ablation table: metric, gap sign, and the degenerate mark when a
    cell carries it."""
    marked = any(DEGENERATE in str(v) for v in frame.to_numpy().ravel())
    return SUMMARY_NOTE + (" " + DEGENERATE_NOTE if marked else "")


def stability_edge(tune: xr.Dataset, task: str, model: str) -> bool:
    """Whether the chosen rate of (task, model) sits just below divergence: the next larger rate
    tried diverged on some tuning seed (the best rate is then at the edge of stability, not of
    the grid, and a neighbouring seed may diverge at it)."""
    t = tune.sel(task=task, model=model)
    lrs, budget = t.lr.values, t.budget.values
    tried = np.isfinite(budget)
    above = np.flatnonzero(tried & (lrs > float(t.chosen_lr.values) * (1 + 1e-9)))
    if not np.isfinite(float(t.chosen_lr.values)) or not len(above):
        return False
    nxt = t.isel(lr=above[0])
    return bool(np.nansum(nxt.diverged.values) > 0 or np.isinf(float(nxt.score.values)))


def near_tie(tune: xr.Dataset, task: str, model: str) -> bool:
    """Whether the choice of (task, model) is a near-tie: the runner-up among the rates that ran
    every tuning step scores closer to the chosen rate than the chosen rate's tuning seeds lie
    apart (range of their lowest validation losses); False with one seed or one finished rate."""
    t = tune.sel(task=task, model=model)
    if t.sizes.get("seed", 1) < 2 or not np.isfinite(float(t.chosen_lr.values)):
        return False
    budget, score = t.budget.values, t.score.values
    done = np.isfinite(budget) & (budget >= np.nanmax(budget)) & np.isfinite(score)
    if done.sum() < 2:
        return False
    i = int(np.flatnonzero(np.isclose(t.lr.values, float(t.chosen_lr.values)))[0])
    gap = np.sort(score[done])[1] - score[i]
    spread = float(np.ptp(t.best_val_loss.values[i]))
    return bool(gap < spread)


def protocol_frame(cells: xr.Dataset, tune: xr.Dataset, cfg: dict) -> pd.DataFrame:
    """The fair protocol per model of the main study: parameters and width at the default size,
    and per task the tuned learning rate (``*``: at the edge of the grid), the share of seeds
    whose validation loss had flattened (improved < ``FLAT_TOL`` in the last quarter of the
    budget) and the epoch of the kept weights (median)."""
    st = cfg["studies"]["main"]
    rows, parts = [], []
    for model in st["models"]:
        r = {"model": tex_escape(model)}
        first = _default(cells, cfg, st["tasks"][0], model)
        if first is None:
            continue
        r[header("params", "count")] = int(first.n_params.values)
        r[header("width", "units")] = int(first.width_effective.values)
        for task in st["tasks"]:
            c = _default(cells, cfg, task, model)
            if c is None:
                continue
            edge = bool(tune.at_edge.sel(task=task, model=model).values) if tune is not None else False
            stable = stability_edge(tune, task, model) if tune is not None else False
            flat = np.asarray(c.late_improvement.values, float)
            share = np.mean(flat[np.isfinite(flat)] < FLAT_TOL) if np.isfinite(flat).any() else np.nan
            epoch = np.nanmedian(c.selected_epoch.values)
            parts.append((model, task, float(c.lr.values), edge, stable, share, epoch))
        rows.append(r)
    df = pd.DataFrame(rows)
    # one format for every rate of the table (the grid's values, compared across columns)
    style = column_style([p[2] for p in parts], 2)
    for task in st["tasks"]:
        col = tex_escape(task) + r" [rate; \%; epoch]"
        cells_ = {}
        for model, t, lr, edge, stable, share, epoch in parts:
            if t == task:
                pct = "--" if not np.isfinite(share) else f"{100 * share:.0f}"
                rate = (
                    f"${fmt_in_style(lr, style)}$"
                    + ("*" if edge else "")
                    + (r"$^\diamond$" if stable else "")
                )
                cells_[tex_escape(model)] = f"{rate}, {pct}, {epoch:.0f}"
        if len(df):
            df[col] = df.model.map(cells_).fillna("--")
    return df


PROTOCOL_NOTE = (
    "Per task: the tuned peak learning rate (${}^*$: at the edge of the rates tried; ${}^\\diamond$: the "
    "next larger rate tried diverged on a tuning seed), the share of seeds "
    "whose validation loss had flattened [\\%], and the median epoch (evaluation index) of the "
    "kept weights. Width: hidden units per layer."
)


def fraction_of(ratio: float, symbol: str) -> str:
    r"""``0.25, "d"`` -> ``d/4`` when the ratio is one over an integer, else ``0.3\,d``."""
    inv = 1 / ratio if ratio else math.inf
    if math.isfinite(inv) and abs(inv - round(inv)) < 1e-9:
        return symbol if round(inv) == 1 else f"{symbol}/{round(inv)}"
    return rf"{fmt_value(ratio)}\,{symbol}"


def halving_words(cfg: dict) -> str:
    """Successive halving in plain words: ``after 400 of the 1000 steps the best 2 of the 5
    rates run on`` (one clause per rung, each at its evaluation point); ``every rate runs every
    step`` without rungs."""
    tune, optim = cfg["tune"], cfg["optim"]
    steps, every = int(tune.get("steps") or optim["steps"]), int(optim["eval_every"])
    n_eval, rates, keep = steps // every, len(tune["lrs"]), float(tune.get("keep", 0.5))
    rungs = sorted({min(n_eval - 1, max(1, round(float(r) * n_eval))) for r in tune.get("rungs") or []})
    parts = []
    for r in rungs:
        kept = max(1, math.ceil(keep * rates - 1e-9))
        parts.append(f"after {r * every} of the {steps} steps the best {kept} of the {rates} rates run on")
        rates = kept
    return "; ".join(parts) if parts else "every rate runs every step"


def config_macros(cfg: dict) -> dict:
    """The numbers of the protocol the section quotes, from the training config alone (no
    result): seeds, sizes, budget, optimiser, the structured model's settings, the claims'
    levels. ``claims_macros`` adds them; a test builds them from an edited config."""
    out = {}
    out["HolmAlpha"] = fmt_value(cfg["claims"]["alpha"])
    out["MatchTolerance"] = fmt_value(cfg["claims"]["match_tolerance"])
    out["LooseExcludeShare"] = int(round(100 * float(cfg["claims"].get("loose_exclude_share", 0.5))))
    out["FixedPointRho"] = fmt_value(cfg["claims"]["fixed_point_rho"])
    out["NumSeeds"] = len(cfg["seeds"])
    out["NumTuneSeeds"] = len(cfg["tune"]["seeds"])
    out["NumSweepSeeds"] = len(cfg["lr_sweep"].get("seeds") or cfg["seeds"])
    out["NumFixedPointSeeds"] = len(cfg["fixed_point"].get("seeds") or cfg["seeds"])
    out["RankRtol"] = fmt_value(float(f"{rank_rtol(cfg['width']):.2g}"))
    out["AmplificationNorm"] = fmt_value(AMPLIFICATION_NORM)
    out["TuneSteps"] = int(cfg["tune"].get("steps") or cfg["optim"]["steps"])
    n_tune = len(cfg["tune"]["seeds"])
    out["TuneScoreWords"] = (
        "the lowest validation loss on one tuning seed"
        if n_tune == 1
        else f"the lowest median validation loss over {number_word(n_tune)} tuning seeds"
    )
    out["TuneSeedsWords"] = f"{number_word(n_tune)} tuning seed{'s' if n_tune != 1 else ''}"
    out["TuneHalvingWords"] = halving_words(cfg)
    full_schedule = out["TuneSteps"] == int(cfg["optim"]["steps"])
    out["TuneScheduleWords"] = (
        f"tuning runs follow the cells' own schedule of {out['TuneSteps']} steps"
        if full_schedule
        else f"tuning runs take {out['TuneSteps']} steps (with their own warm-up and cosine decay)"
    )
    out["TuneLrs"] = ", ".join(f"${fmt_value(float(v))}$" for v in sorted(cfg["tune"]["lrs"]))
    rungs = cfg["tune"].get("rungs") or []
    out["TuneRungs"] = ", ".join(f"${fmt_value(float(r))}$" for r in sorted(rungs)) or "none"
    out["TuneKeep"] = fmt_value(float(cfg["tune"].get("keep", 0.5)))
    out["TuneExtend"] = int(cfg["tune"].get("extend", 0))
    out["ValFraction"] = int(round(100 * cfg["validation"]["fraction"]))
    out["Depth"] = cfg["depth"]
    out["Width"] = cfg["width"]
    out["Steps"] = cfg["optim"]["steps"]
    out["EvalEvery"] = cfg["optim"]["eval_every"]
    out["BatchSize"] = cfg["optim"]["batch_size"]
    out["WeightDecay"] = fmt_value(float(cfg["optim"]["weight_decay"]))
    out["FlatTol"] = int(round(100 * FLAT_TOL))
    out["ConvergedShare"] = int(round(100 * cfg["claims"].get("converged_share", 0.9)))
    out["MinSeeds"] = int(cfg["claims"].get("min_seeds", 10))
    eq = cfg["claims"].get("equivalence") or {}
    out["EquivMargin"] = fmt_value(float(eq.get("margin", 0.01)))
    out["EquivBaselines"] = ", ".join(tex_escape(b) for b in eq.get("baselines", [])) or "none"
    out["EquivConfidence"] = int(round(100 * (1 - 2 * cfg["claims"]["alpha"])))
    out["Confidence"] = int(round(100 * cfg["claims"]["confidence"]))
    out["MaxDepth"] = int(max(cfg["studies"].get("depth", {}).get("depths", [cfg["depth"]])))
    out["ParamsTask"] = tex_escape(cfg["studies"]["main"]["tasks"][0])
    # the structured model's own settings (the defaults of ModelSpec where the config is silent)
    spec = ModelSpec.from_config(cfg["models"][cfg["claims"]["structured"]])
    out["AlphaInit"] = fmt_value(spec.alpha)
    out["RegPhi"] = fmt_value(spec.reg)
    out["CapRho"] = fmt_value(spec.rho)
    out["UInitVar"] = fmt_value(float(f"{spec.u_init_std**2:.12g}"))
    out["RankRatio"] = fraction_of(spec.rank_ratio, "d")
    out["PowerIters"] = plural(spec.power_iters, "power iteration", words=True)
    masked = [m for m in cfg["models"].values() if m.get("shaping") == "mask"]
    band = ModelSpec.from_config(masked[0]).mask_band if masked else ModelSpec().mask_band
    out["MaskBand"] = fraction_of(band, "d")
    out["GeluLip"] = fmt_value(LIP["gelu"])
    from ..sources import FASHION_MLP_REFERENCE

    out["FashionMlpReference"] = f"{FASHION_MLP_REFERENCE:.4f}"
    out["FashionShipped"] = f"{FASHION_SHIPPED_COUNT:,}".replace(",", "{,}")
    st = cfg["studies"].get("depth", {})
    out["NumDepthSeeds"] = len(st.get("seeds") or cfg["seeds"])
    out["DepthList"] = ", ".join(str(d) for d in sorted(st.get("depths", [cfg["depth"]])))
    out["DepthTasks"] = ", ".join(tex_escape(t) for t in st.get("tasks", []))
    out["DepthModels"] = ", ".join(tex_escape(m) for m in st.get("models", []))
    st = cfg["studies"].get("width", {})
    out["NumWidthSeeds"] = len(st.get("seeds") or cfg["seeds"])
    out["WidthList"] = ", ".join(str(d) for d in sorted(st.get("widths", [cfg["width"]])))
    out["WidthTasks"] = ", ".join(tex_escape(t) for t in st.get("tasks", []))
    out["MaxSweepWidth"] = int(max(st.get("widths", [cfg["width"]])))
    return out


def ledger_macros(df: pd.DataFrame, cfg: dict) -> dict:
    """Counts of the claims ledger the section quotes: per verdict in the empirical family
    (``Num<Verdict>``, ``NumClaimRows``, ``FamilySize``) and in every family
    (``<Family>Num<Verdict>``, ``<Family>NumRows``, ``<Family>FamilySize``), per claim in the
    empirical and favourable-task families, the seeds dropped by the matching, the fixed-budget
    and excluded rows, and the equivalence rows' effect, interval and verdict."""
    out = {}
    verdicts = (*VERDICTS, BY_CONSTRUCTION, EXCLUDED, EQUIVALENT, NOT_EQUIVALENT)
    emp = family_rows(df, "empirical")
    for v in verdicts:
        out["Num" + macro_name(v)] = int((emp.verdict == v).sum()) if len(emp) else 0
    out["NumClaimRows"] = len(emp)
    out["FamilySize"] = int(emp.family_size.iloc[0]) if len(emp) else 0
    for fam in FAMILIES:
        g = family_rows(df, fam)
        name = macro_name(fam)
        out[f"{name}NumRows"] = len(g)
        out[f"{name}FamilySize"] = int(g.family_size.iloc[0]) if len(g) else 0
        for v in verdicts:
            out[f"{name}Num{macro_name(v)}"] = int((g.verdict == v).sum()) if len(g) else 0
    fav = family_rows(df, "favourable_task")
    for c in CLAIMS:
        for prefix, rows in (("", emp), ("Favourable", fav)):
            g = rows[rows.key == c.key] if len(rows) else rows
            for v in VERDICTS:
                out[f"{c.key}{prefix}Num{macro_name(v)}"] = int((g.verdict == v).sum()) if len(g) else 0
            out[f"{c.key}{prefix}NumRows"] = len(g)
    out["NumLedgerRows"] = len(df)
    out["NumDroppedSeeds"] = int(df.n_dropped.sum()) if len(df) else 0
    out["NumFixedBudgetRows"] = (
        int(((df.budget == "fixed") & (df.family != "equivalence")).sum()) if len(df) else 0
    )
    out["NumExcludedRows"] = int((df.excluded_reason != "").sum()) if len(df) else 0
    out["NumUnderpoweredRows"] = int(df.note.str.contains("underpowered").sum()) if len(df) else 0
    out["NumZeroVarianceRows"] = int(df.note.str.contains("zero variance").sum()) if len(df) else 0
    out["NumLooseRows"] = int(df.note.str.contains("loose match").sum()) if len(df) else 0
    out["NumNotMatchedRows"] = int(df.excluded_reason.str.startswith("not matched").sum()) if len(df) else 0
    out["FavourableTasks"] = (
        ", ".join(tex_escape(t) for t in cfg["claims"].get("favourable_tasks", [])) or "none"
    )
    eq, eq_cfg = family_rows(df, "equivalence"), cfg["claims"].get("equivalence", {})
    parts = []
    for r in eq.itertuples():
        key = "Equiv" + macro_name(r.task, r.baseline)
        out[key + "Effect"] = fmt_num(float(r.effect), 3)
        out[key + "Low"] = fmt_num(float(r.low), 3)
        out[key + "High"] = fmt_num(float(r.high), 3)
        out[key + "Verdict"] = equivalence_words(r, float(eq_cfg.get("margin", 0.01)))
        parts.append(
            rf"{display(r.task)} vs {display(r.baseline)}: ${fmt_num(float(r.effect), 3)}$ "
            rf"$[{fmt_num(float(r.low), 3)}, {fmt_num(float(r.high), 3)}]$, {out[key + 'Verdict']}"
        )
    out["EquivText"] = "; ".join(parts) if parts else "no equivalence baseline was trained"
    out |= degenerate_macros(df)
    return out


def degenerate_macros(df: pd.DataFrame) -> dict:
    """The degenerate baselines of the ledger (``claims.degenerate_reason``): how many rows and
    (baseline, task) pairs are flagged, and one generated phrase listing each pair with its
    reason (``DegenerateText``)."""
    col = df.degenerate.fillna("").astype(str) if len(df) and "degenerate" in df else pd.Series([], dtype=str)
    flagged = df[col != ""] if len(col) else df.iloc[0:0]
    pairs = flagged.drop_duplicates(["baseline", "task"]) if len(flagged) else flagged
    # a fixed-point row's "task" is its gate: the baseline "at" alpha, "on" a task otherwise
    where = lambda t: ("at " if str(t).startswith("alpha=") else "on ") + display(t)
    items = [
        f"{display(r.baseline)} {where(r.task)} ({tex_escape(r.degenerate)})" for r in pairs.itertuples()
    ]
    supported = flagged[flagged.verdict == VERDICTS[0]] if len(flagged) else flagged
    return {
        "NumDegenerateRows": len(flagged),
        "NumDegeneratePairs": len(pairs),
        "NumDegenerateSupported": len(supported),
        "DegenerateText": "; ".join(items) if items else "none",
    }


def claims_macros(df: pd.DataFrame, cells: xr.Dataset, cfg: dict, fp: xr.Dataset | None, tune=None) -> dict:
    """Numbers the section quotes: the protocol (``config_macros``), verdict counts, parameter
    counts, the bounds."""
    out = config_macros(cfg)
    out |= ledger_macros(df, cfg)
    out["NumCells"] = int(np.isfinite(cells.n_params.values).sum())
    out["NumDiverged"] = int(np.nansum(cells.diverged.values))
    flat = cells.late_improvement.values
    flat = flat[np.isfinite(flat)]
    out["NumRuns"] = int(flat.size)
    out["NumFlattened"] = int((flat < FLAT_TOL).sum())
    if tune is not None:
        out["NumTuned"] = int(np.isfinite(tune.chosen_lr.values).sum())
        out["NumTunedAtEdge"] = int(np.nansum(tune.at_edge.values))
        out["NumTunedExtended"] = int(np.nansum(tune.n_extended.values > 0))
        pairs = [(str(t), str(m)) for t in tune.task.values for m in tune.model.values]
        out["NumTunedNearTie"] = sum(
            near_tie(tune, t, m) for t, m in pairs if np.isfinite(tune.chosen_lr.sel(task=t, model=m))
        )
        out["NumTunedStabilityEdge"] = sum(
            stability_edge(tune, t, m) for t, m in pairs if np.isfinite(tune.chosen_lr.sel(task=t, model=m))
        )
    task0 = cfg["studies"]["main"]["tasks"][0]
    for model in cells.model.values:
        c = _default(cells, cfg, task0, str(model))
        if c is not None:
            out["Params" + macro_name(str(model))] = int(c.n_params.values)
    # the correction path is alive: epsilon at the end over epsilon at init, per main task
    s = cfg["claims"]["structured"]
    growth = []
    for task in cfg["studies"]["main"]["tasks"]:
        c = _default(cells, cfg, task, s)
        if c is not None:
            eps = c.eps.mean("layer")
            g = float(np.nanmedian(eps.sel(stage="final") / eps.sel(stage="init")))
            out["EpsGrowth" + macro_name(task)] = g
            growth.append(f"${fmt_num(g, 3)}$ on {tex_escape(task)}")
    out["EpsGrowthText"] = ", ".join(growth) if growth else "n/a"
    # clean test metric (mean +- sd over seeds, kept weights) of the MLP and the structured
    # model on every main task, and the number of training points the task fits on
    for task in cfg["studies"]["main"]["tasks"]:
        for model in ("mlp", s):
            c = _default(cells, cfg, task, model)
            if c is not None:
                v = c.final_test_metric.values
                out[f"Test{macro_name(task)}{macro_name(model)}"] = (
                    f"{np.nanmean(v):.3f} \\pm {np.nanstd(v, ddof=1):.3f}"
                )
    # P1: measured layer Lipschitz estimates never exceed the bound
    ratio = (cells.J_sigma_sup / cells.bound_upper).values
    ratio = ratio[np.isfinite(ratio)]
    out["POneMaxRatio"] = f"{ratio.max():.6f}" if ratio.size else r"\text{n/a}"
    out["POneNumChecked"] = int(ratio.size)
    low = (cells.J_sigma_min - cells.bound_lower).values
    low = low[np.isfinite(low)]
    out["PTwoMinSlack"] = float(low.min()) if low.size else float("nan")
    out["PTwoNumChecked"] = int(low.size)
    if fp is not None:
        q, qh = fp.q_bound.values, fp.q_hat.values
        ok = np.isfinite(q) & np.isfinite(qh) & (q < 1)
        out["PThreeNumContracting"] = int(ok.sum())
        out["PThreeNumWithinBound"] = int((qh[ok] <= q[ok] + 1e-6).sum())
        out["PThreeMaxRatio"] = float((qh[ok] / q[ok]).max()) if ok.any() else float("nan")
        rho = cfg["claims"]["fixed_point_rho"]
        parts = []
        for a in fp.alpha.values:
            sub = fp.sel(rho=rho, alpha=a)
            q, qh = np.nanmedian(sub.q_bound.values), np.nanmedian(sub.q_hat.values)
            conv = np.nanmean(sub.converged.values)
            parts.append(
                rf"$\alpha={float(a):g}$: median $q={fmt_num(float(q), 3)}$, median "
                rf"$\hat q={fmt_num(float(qh), 3)}$, converged fraction ${fmt_num(float(conv), 3)}$"
            )
        out["FixedPointText"] = "; ".join(parts)
    out["VerdictCounts"] = verdict_counts(family_rows(df, "empirical"))
    out["VerdictCountsAll"] = _counted(family_rows(df, "empirical"))
    out |= depth_end_macros(cells, cfg)
    out["TestSplitUse"] = split_use_words(df)
    ablation = summary_frame(cells, cfg, "ablation")
    models = [m for m in dict.fromkeys(ablation.get("model", [])) if m != tex_escape(s)]
    out["AblationModels"] = ", ".join(models) if models else "none trained"
    return out


def _counted(df: pd.DataFrame) -> str:
    """``14 are supported, 3 are not supported and 10 are inconclusive`` (``and 2 are
    excluded`` where rows left the family: the counts add up to the rows)."""
    counts = [(int((df.verdict == v).sum()) if not df.empty else 0, v) for v in VERDICTS]
    n_excluded = int((df.verdict == EXCLUDED).sum()) if not df.empty else 0
    if n_excluded:
        counts.append((n_excluded, EXCLUDED))
    parts = [f"{n} {'is' if n == 1 else 'are'} {v}" for n, v in counts]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


# the ledger's budget labels (``claims.budget_label``) as the sentence names them
# (the group, the empty group)
BUDGET_WORDS = {
    "converged": ("converged ones", "none converged"),
    "fixed": ("run at a fixed step budget", "none run at a fixed step budget"),
}


def verdict_counts(df: pd.DataFrame) -> str:
    """The claims' verdicts counted in words, the converged and the fixed-budget comparisons
    apart (the ledger's ``budget``): ``among the 12 converged ones, 5 are supported, ...; among
    the 15 at a fixed step budget, ...``, and how many supported verdicts are against a
    degenerate baseline (``claims.degenerate_reason``). The verdict names are the data's, never
    typed in the paper."""
    parts = []
    for budget, (words, empty) in BUDGET_WORDS.items():
        g = df[df.budget == budget] if len(df) else df
        parts.append(f"among the {len(g)} {words}, {_counted(g)}" if len(g) else empty)
    text = "; ".join(parts)
    if len(df) and "degenerate" in df:
        supported = df[df.verdict == VERDICTS[0]]
        n = int((supported.degenerate.fillna("") != "").sum())
        if n:
            text += (
                f"; {n} of the {len(supported)} {VERDICTS[0]} verdicts "
                f"{'is' if n == 1 else 'are'} against a degenerate baseline"
            )
    return text


def split_use_words(df: pd.DataFrame) -> str:
    """What the test split is used for, read off the claims ledger: the split on which each
    comparison's weights (kept weights, matched evaluations) were chosen."""
    if len(df) and (df.selection_split == "test").any():
        return "chooses the weights of some comparisons (the ledger's selection split names them)"
    return "is used for no choice: it only reports"


# --- trends across depth and width -------------------------------------------------------------

TREND_LABELS = {
    "GradFlow": r"$|\log_{10}\|g_0\|/\|g_L\||$ vs $L$",
    "DepthScaling": r"test accuracy vs $\log_2 L$",
    "WidthScaling": r"test accuracy vs $\log_2 d$",
}


def trend_frame(cells: xr.Dataset, cfg: dict) -> pd.DataFrame:
    """Each model's own trend across the depth or width sweep: the learning rate (tuned at the
    default size, reused by every cell of the sweep), the per-seed least-squares slope, its mean
    and Student-t interval over seeds (``stats.paired_ci``), the fit range."""
    from ..stats import paired_ci
    from .claims import TRENDS, slope_over, trend_values

    rows = []
    for key, (name, dim, log2) in TRENDS.items():
        st = cfg["studies"].get("depth" if dim == "depth" else "width")
        if not st:
            continue
        values = sorted(st[f"{dim}s"])
        other = {"width": cfg["width"]} if dim == "depth" else {"depth": cfg["depth"]}
        for task in st["tasks"]:
            if name == "final_test_metric" and task_kind(cells, task) != "classification":
                continue
            for model in st["models"]:
                sub = cells.sel(task=task, model=model, **other).sel({dim: values})
                slope = slope_over(trend_values(sub, name), dim, log2).values
                mean, low, high, n = paired_ci(slope, cfg["claims"]["confidence"])
                lr = (
                    float(np.nanmax(np.asarray(sub.lr.values, float)))
                    if np.isfinite(sub.lr.values).any()
                    else np.nan
                )
                rows.append(
                    {
                        "trend": TREND_LABELS[key],
                        "task": tex_escape(task),
                        "model": tex_escape(model),
                        "_rate": lr,
                        "_slope": (mean, low, high),
                        "seeds": n,
                        "fit range": f"${'L' if dim == 'depth' else 'd'} = {values[0]}$--${values[-1]}$",
                    }
                )
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    # one number format per column: the rates, and the slopes with their interval ends
    rates = df.pop("_rate").to_numpy(float)
    slopes = df.pop("_slope").tolist()
    rate_style = column_style(rates, 2)
    slope_style = column_style([v for t in slopes for v in t], 2)
    ci = f"{int(round(100 * cfg['claims']['confidence']))}\\% interval"
    df.insert(3, "rate", [f"${fmt_in_style(v, rate_style)}$" if np.isfinite(v) else "--" for v in rates])
    df.insert(
        4, "slope", [f"${fmt_in_style(m, slope_style)}$" if np.isfinite(m) else "--" for m, _, _ in slopes]
    )
    df.insert(
        5,
        ci,
        [
            f"$[{fmt_in_style(lo, slope_style)}, {fmt_in_style(hi, slope_style)}]$"
            if np.isfinite(lo)
            else "--"
            for _, lo, hi in slopes
        ],
    )
    return df


def depth_end_macros(cells: xr.Dataset, cfg: dict) -> dict:
    """The depth sweep's deepest point against the default depth (descriptive: the rate tuned at
    the default depth is reused at every depth, and the sweep is outside every family): per
    classification task of the depth study, the structured model's test accuracy (kept weights)
    at the largest depth and at the default depth, their paired difference over the sweep's
    seeds with its Student-t interval at ``claims.confidence``, and one generated sentence per
    task (``DepthEndText``): the accuracy falls or rises where the interval excludes 0."""
    from ..stats import paired_ci

    st = cfg["studies"].get("depth")
    model = cfg["claims"]["structured"]
    out, parts = {}, []
    if not st or model not in st["models"] or model not in cells.model.values:
        return {
            "DepthEndText": "the depth sweep did not train the structured model",
            "DepthMax": cfg["depth"],
        }
    deepest = int(max(st["depths"]))
    out["DepthMax"] = deepest
    conf = cfg["claims"]["confidence"]
    for task in st["tasks"]:
        if task not in cells.task.values or task_kind(cells, task) != "classification":
            continue
        at = lambda depth: cells.final_test_metric.sel(
            task=task, model=model, depth=depth, width=cfg["width"]
        )
        deep, base = at(deepest), at(cfg["depth"])
        deep, base = xr.align(deep, base, join="inner")
        diff = (deep - base).values
        mean, low, high, n = paired_ci(diff, conf)
        if n < 2:
            continue
        ok = np.isfinite(diff)
        d_mean, b_mean = float(np.nanmean(deep.values[ok])), float(np.nanmean(base.values[ok]))
        key = macro_name(task)
        out[f"DepthEnd{key}Deep"] = fmt_num(d_mean, 3)
        out[f"DepthEnd{key}Default"] = fmt_num(b_mean, 3)
        out[f"DepthEnd{key}Diff"] = fmt_num(mean, 3)
        out[f"DepthEnd{key}Low"] = fmt_num(low, 3)
        out[f"DepthEnd{key}High"] = fmt_num(high, 3)
        out[f"DepthEnd{key}Seeds"] = n
        ends = (f"${fmt_num(b_mean, 3)}$ at $L={cfg['depth']}$", f"${fmt_num(d_mean, 3)}$ at $L={deepest}$")
        if high < 0 or low > 0:
            move = f"{'falls' if high < 0 else 'rises'} from {ends[0]} to {ends[1]}"
        else:
            move = f"is {ends[0]} and {ends[1]}, no change beyond the interval"
        parts.append(
            f"on {display(task)} the structured network's test accuracy {move} (paired difference "
            f"${fmt_num(mean, 3)}$, {int(round(100 * conf))}\\% interval "
            f"$[{fmt_num(low, 3)}, {fmt_num(high, 3)}]$, {plural(n, 'seed')})"
        )
    out["DepthEndText"] = "; ".join(parts) if parts else "no classification task in the depth sweep"
    return out


# --- cross-model alignment ----------------------------------------------------------------------

ALIGN_LABELS = {
    "cka": "linear CKA",
    "probe_ratio": "cross-probe ratio",
    "procrustes": "Procrustes residual",
    "knn_jaccard": r"$k$-NN Jaccard",
}


def family_pairs(families: dict) -> dict[str, list[tuple[str, str]]]:
    """All pairs of cells within each family, in list order (parallel across families)."""
    out = {}
    for fam, members in families.items():
        out[fam] = [(a, b) for i, a in enumerate(members) for b in members[i + 1 :]]
    return out


def alignment_tests(align: xr.Dataset, confidence: float, alpha: float) -> pd.DataFrame:
    """The sequel's hypothesis, one row per measure: per seed, the mean over the first
    family's pairs minus the mean over the second's (same seeds), paired t-test and interval,
    Holm over the measures, verdict (``stats.verdict_from_test``, "higher"/"lower" = more
    aligned per measure). Columns ``<family>, other seed``: the control, each family's cells
    compared with themselves at two different seeds (no shared initialisation). Each pair's own
    effect is in ``pair_effects``."""
    import json

    from ..stats import holm, paired_test, verdict_from_test

    families = json.loads(align.attrs["families"])
    better = json.loads(align.attrs["better"])
    pairs = family_pairs(families)
    (fa, pa), (fb, pb) = list(pairs.items())
    rows = []
    for measure in ALIGN_LABELS:
        da = align[measure]

        def fam_mean(ps):
            return np.nanmean(np.stack([da.sel(cell_a=a, cell_b=b).values for a, b in ps]), 0)

        va, vb = fam_mean(pa), fam_mean(pb)
        res = paired_test(va - vb, "t", confidence)
        control = align[f"{measure}_seeds"]
        rows.append(
            {
                "measure": measure,
                "better": better[measure],
                fa: float(np.nanmean(va)),
                fb: float(np.nanmean(vb)),
                f"{fa}, other seed": float(np.nanmean(control.sel(cell=families[fa]).values)),
                f"{fb}, other seed": float(np.nanmean(control.sel(cell=families[fb]).values)),
                "effect": res.mean,
                "ci_low": res.low,
                "ci_high": res.high,
                "n": res.n,
                "p": res.p,
            }
        )
    df = pd.DataFrame(rows)
    df["p_holm"] = holm(df.p.to_numpy(float))
    df["verdict"] = [verdict_from_test(r.effect, r.p_holm, r.better, alpha) for r in df.itertuples()]
    return df


def pair_effects(align: xr.Dataset) -> pd.DataFrame:
    """Per parallel pair (i-th pair of each family) and measure: the mean over seeds of the first
    family's pair minus the second's."""
    import json

    pairs = list(family_pairs(json.loads(align.attrs["families"])).values())
    rows = []
    for (a1, b1), (a2, b2) in zip(*pairs):
        r = {"pair": f"{a1} ~ {b1} vs {a2} ~ {b2}"}
        for measure in ALIGN_LABELS:
            da = align[measure]
            r[measure] = float(
                np.nanmean(da.sel(cell_a=a1, cell_b=b1).values - da.sel(cell_a=a2, cell_b=b2).values)
            )
        rows.append(r)
    return pd.DataFrame(rows)


def alignment_latex_frame(df: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """The hypothesis test as a LaTeX table: family means, effect, interval, Holm p, verdict;
    one number format per column (the interval ends share the effect's)."""
    fixed = {"measure", "better", "effect", "ci_low", "ci_high", "n", "p", "p_holm", "verdict"}
    fams = [c for c in df.columns if c not in fixed]
    ci = f"{int(round(100 * confidence))}\\% interval"
    styles = {f: column_style(df[f].to_numpy(float), 3) for f in fams}
    eff = column_style(df[["effect", "ci_low", "ci_high"]].to_numpy(float).ravel(), 2)
    p_style = column_style(df["p_holm"].to_numpy(float), 2)
    out = []
    for _, r in df.iterrows():
        out.append(
            {
                "measure": ALIGN_LABELS[r.measure]
                + (r" ($\uparrow$)" if r.better == "higher" else r" ($\downarrow$)"),
                **{tex_escape(f): f"${fmt_in_style(r[f], styles[f])}$" for f in fams},
                "effect": f"${fmt_in_style(r.effect, eff)}$",
                ci: f"$[{fmt_in_style(r.ci_low, eff)}, {fmt_in_style(r.ci_high, eff)}]$",
                r"$p_\mathrm{Holm}$": f"${fmt_in_style(r.p_holm, p_style)}$",
                "verdict": r.verdict,
            }
        )
    return pd.DataFrame(out)


def alignment_macros(df: pd.DataFrame, align: xr.Dataset) -> dict:
    """Verdict counts and the numbers the alignment paragraph quotes."""
    import json

    fams = list(json.loads(align.attrs["families"]))
    out = {f"AlignNum{macro_name(v)}": int((df.verdict == v).sum()) for v in VERDICTS}
    out["AlignNumMeasures"] = len(df)
    out["AlignTask"] = tex_escape(align.attrs["task"])
    out["AlignK"] = int(align.attrs["k"])
    out["AlignNumFit"] = int(align.attrs["n_fit"])
    out["AlignNumEval"] = int(align.attrs["n_eval"])
    out["AlignFamilyA"] = tex_escape(fams[0])
    out["AlignFamilyB"] = tex_escape(fams[1])
    for _, r in df.iterrows():
        d = r
        key = macro_name(r.measure)
        out[f"Align{key}A"] = fmt_num(d[fams[0]], 3)
        out[f"Align{key}B"] = fmt_num(d[fams[1]], 3)
        out[f"Align{key}Verdict"] = r.verdict
        out[f"Align{key}ControlA"] = fmt_num(d[f"{fams[0]}, other seed"], 3)
        out[f"Align{key}ControlB"] = fmt_num(d[f"{fams[1]}, other seed"], 3)
    return out


# --- checkpoint rules ---------------------------------------------------------------------------

CHECKPOINT_LABELS = {"kept": "kept", "last": "last evaluation", "best_val_loss": "lowest val. loss"}


def checkpoint_frame(ctx: Context) -> pd.DataFrame:
    """How the main effects move with the checkpoint rule: per main task and baseline, the
    paired effect structured - baseline of the test accuracy (classification) or log10 test MSE
    (regression) under each rule of ``experiments.CHECKPOINTS`` (the kept weights: best
    validation accuracy or lowest validation loss by the task's kind; the last evaluation; the
    lowest validation loss), mean and Student-t interval over seeds (``stats.paired_ci``); one
    number format for the table (three decimals)."""
    from ..stats import paired_ci

    cl = ctx.claims_cfg
    s_cells = ctx.main(cl["structured"])
    if s_cells is None or "checkpoint_test_metric" not in ctx.cells:
        return pd.DataFrame({"task": []})
    rows, values = [], []
    for task in ctx.main_tasks:
        cls = task_kind(ctx.cells, task) == "classification"
        for base in cl["baselines"]:
            b_cells = ctx.main(base)
            if b_cells is None:
                continue
            r = {"task": tex_escape(task), "measure": "test acc." if cls else r"$\log_{10}$ test MSE"}
            r["vs."] = tex_escape(base)
            got = []
            for cp in CHECKPOINT_LABELS:
                sv = s_cells.checkpoint_test_metric.sel(task=task, checkpoint=cp).values
                bv = b_cells.checkpoint_test_metric.sel(task=task, checkpoint=cp).values
                with np.errstate(divide="ignore", invalid="ignore"):
                    d = sv - bv if cls else np.log10(sv) - np.log10(bv)
                got.append(paired_ci(d, cl["confidence"])[:3])
            rows.append(r)
            values.append(got)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    style = ("fixed", 3)  # accuracies and decades side by side: three decimals for all
    f = lambda v: fmt_in_style(v, style) if np.isfinite(v) else "--"
    for j, cp in enumerate(CHECKPOINT_LABELS.values()):
        df[cp] = [f"${f(got[j][0])}$ $[{f(got[j][1])}, {f(got[j][2])}]$" for got in values]
    return df


CHECKPOINT_NOTE = (
    "Paired effect structured minus baseline, mean and interval over seeds, of the test accuracy "
    "(classification) or $\\log_{10}$ test MSE (regression) under three checkpoint rules: the kept "
    "weights (best validation accuracy for classification, lowest validation loss for "
    "regression), the last evaluation, and the lowest validation loss. Every other table and "
    "figure reads the kept weights."
)


RAGGED = r">{\raggedright\arraybackslash}"  # a ragged-right paragraph column (array: loaded by siunitx)


def protocol_format(frame: pd.DataFrame) -> str:
    """Column format of the protocol table: ragged paragraph columns narrow enough for the text
    width with the main study's nine models and four tasks (a task's cell breaks after its rate,
    a header between its name and unit)."""
    n = frame.shape[1]
    first, counts, tasks = f"{RAGGED}p{{2.5cm}}", f"{RAGGED}p{{1.2cm}}", f"{RAGGED}p{{2.0cm}}"
    return first + counts * min(2, n - 1) + tasks * max(0, n - 3)


def equivalence_format(frame: pd.DataFrame) -> str:
    """Column format of the equivalence table: task and verdict in ragged paragraph columns
    (a long task name or verdict wraps instead of widening the table)."""
    n = frame.shape[1]
    if n < 3:
        return "l" * n
    return f"{RAGGED}p{{2.2cm}}" + "ll" + "r" * (n - 4) + f"{RAGGED}p{{2.0cm}}"


def column_format(frame: pd.DataFrame, left: int = 3, text_last: bool = False) -> str:
    """Booktabs column format of a frame: ``left`` text columns, numbers after them, the last
    column text with ``text_last``."""
    n = frame.shape[1]
    left = min(left, n)
    tail = 1 if text_last and n > left else 0
    return "l" * left + "r" * (n - left - tail) + "l" * tail


def family_latex_frame(df: pd.DataFrame, family: str, metrics: dict | None = None) -> pd.DataFrame:
    """The compact table (``claims_latex_frame``) of one Holm family of the ledger."""
    return claims_latex_frame(family_rows(df, family), metrics)


def split_at_claim(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A claims table in two of about equal length, cut where a claim starts (column ``claim``),
    so that each half fits a page; the second is empty for a table of one claim."""
    if frame.empty or "claim" not in frame:
        return frame, frame.iloc[:0]
    starts = [i for i in range(1, len(frame)) if frame["claim"].iloc[i] != frame["claim"].iloc[i - 1]]
    if not starts:
        return frame, frame.iloc[:0]
    cut = min(starts, key=lambda i: abs(i - len(frame) / 2))
    return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)


def equivalence_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The linear-equivalence rows of the ledger: per task and baseline, the mean difference
    (accuracy, or relative MSE), its interval at 1 - 2 alpha, the Holm-adjusted TOST p and the
    verdict; one number format per column."""
    eq = family_rows(df, "equivalence")
    if eq.empty:
        return pd.DataFrame({"task": []})
    style = column_style(eq[["effect", "low", "high"]].to_numpy(float).ravel(), 2)
    p_style = column_style(eq.p_holm.to_numpy(float), 2)
    f = lambda v, st: fmt_in_style(v, st) if np.isfinite(v) else "--"
    return pd.DataFrame(
        {
            "task": [tex_escape(t) for t in eq.task],
            "vs.": [tex_escape(b) for b in eq.baseline],
            "unit": list(eq.unit),
            "difference": [f"${f(v, style)}$" for v in eq.effect],
            "interval": [f"$[{f(lo, style)}, {f(hi, style)}]$" for lo, hi in zip(eq.low, eq.high)],
            r"$p_\mathrm{Holm}$": [f"${f(v, p_style)}$" for v in eq.p_holm.to_numpy(float)],
            "verdict": list(eq.verdict),
        }
    )


def equivalence_words(row, margin: float) -> str:
    """The verdict of an equivalence row (TOST at +-margin) in words that keep a clear difference
    apart from an undecided one: an interval wholly outside the margin is a difference beyond it,
    one that excludes 0 but reaches inside the margin a difference smaller than shown equivalent."""
    if row.verdict != NOT_EQUIVALENT or not (np.isfinite(row.low) and np.isfinite(row.high)):
        return row.verdict
    if row.low > margin or row.high < -margin:
        return "different beyond the margin"
    if row.low > 0 or row.high < 0:
        return "not shown equivalent (different from 0)"
    return "not shown equivalent (undecided)"
