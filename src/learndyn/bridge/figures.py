"""Figures of the bridge (names, inputs and captions registered in ``learndyn.figures``).

Each function takes the datasets (``combined``: every trajectory cell with its training-half
effects; ``population``: the endpoint kernels of the population of architectures and of the
common-rate copies with their effects; ``width``: the width study; ``tests``: the family table)
and the ``bridge`` config and
returns a matplotlib figure. Bands are mean +- sd over seeds, computed in log space on log axes;
models and paths keep their registry colours (``learndyn.plotting.STYLES``).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from ..plotting import hue_order, legend_handles, markers, no_minor_labels, palette, style, wrap_label

YLABELS = {
    "alignment": "centred kernel-target alignment",
    "velocity": "kernel velocity [1/epoch]",
    "share_path": "trace share of the path",
    "align_path": "alignment of the path",
}


def _frame(da, name=None):
    name = name or da.name
    return da.rename(name).to_dataframe().reset_index().dropna(subset=[name])


def _models(df, marked=True):
    order = hue_order(df["model"].unique())
    kw = {"hue": "model", "hue_order": order, "palette": palette(order)}
    if marked:
        kw |= {"style": "model", "style_order": order, "markers": markers(order), "dashes": False}
    return kw


def drift_time(datasets, cfg):
    """Kernel drift and alignment against training epoch per model (mean +- sd over seeds; drift
    on a log axis, bands in log space)."""
    ds = datasets["combined"]
    fig, axes = plt.subplots(1, 3, figsize=(6.8, 2.8))
    d = _frame(np.log10(ds.drift.where(ds.step > 0)), "log_drift")
    d["epoch"] = ds.epoch.sel(step=d["step"].to_numpy()).to_numpy()
    sns.lineplot(d, x="epoch", y="log_drift", errorbar=("sd", 1), ax=axes[0], **_models(d))
    axes[0].set_ylabel(r"$\log_{10}\,\|K_t-K_0\|_F/\|K_0\|_F$")
    axes[2].set_yscale("log")  # before drawing: seaborn then averages the log velocity
    for ax, var in zip(axes[1:], ("alignment", "velocity")):
        v = _frame(ds[var])
        v["epoch"] = ds.epoch.sel(step=v["step"].to_numpy()).to_numpy()
        sns.lineplot(v, x="epoch", y=var, errorbar=("sd", 1), ax=ax, legend=False, **_models(v))
        ax.set_ylabel(
            {"alignment": "centred kernel-target alignment", "velocity": "kernel velocity [1/epoch]"}[var]
        )
    for ax in axes:
        ax.set_xlabel("epoch")
    return fig


def drift_width(datasets, cfg):
    """Drift from init to the kept weights against width (log-log), per model: seeds as points,
    the mean of log drift as a line, with the fitted exponent in the legend."""
    w = datasets["width"]
    df = _frame(np.log10(w.drift), "log_drift")
    df["log_width"] = np.log10(df["width"].astype(float))
    fig, ax = plt.subplots(figsize=(3.6, 2.8))
    order = hue_order(df["model"].unique())
    for m in order:
        sub = df[df["model"] == m]
        slope = np.polyfit(sub["log_width"], sub["log_drift"], 1)[0] if sub["width"].nunique() > 1 else np.nan
        color = palette([m])[m]
        ax.scatter(sub["log_width"], sub["log_drift"], color=color, marker=markers([m])[m], s=14, alpha=0.6)
        mean = sub.groupby("log_width")["log_drift"].mean()
        ax.plot(mean.index, mean.values, color=color, label=f"{m} (slope {slope:.2f})")
    ax.set_xlabel(r"$\log_{10}$ width $d$")
    ax.set_ylabel(r"$\log_{10}$ kernel drift (init to kept)")
    ax.legend(fontsize=7)
    return fig


def shares(datasets, cfg):
    """Per model (one row each): trace share of each path's kernel and its kernel-target
    alignment against epoch (mean +- sd over seeds), and the trace share of each block (embedding,
    layers 1..L, read-out) at init and at the last snapshot."""
    ds = datasets["combined"]
    models = hue_order(ds.model.values)
    fig, axes = plt.subplots(len(models), 3, figsize=(6.8, 1.8 * len(models) + 0.5), squeeze=False)
    paths = []
    for row, m in zip(axes, models):
        sub = ds.sel(model=m)
        row[0].set_yscale("log")  # before drawing: mean and band of the log share
        for ax, var in zip(row[:2], ("share_path", "align_path")):
            df = _frame(sub[var])
            df["epoch"] = sub.epoch.sel(step=df["step"].to_numpy()).to_numpy()
            order = hue_order(df["path"].unique())
            paths += order
            for path in order:  # one call per path: its registry colour and marker
                sns.lineplot(
                    df[df["path"] == path],
                    x="epoch",
                    y=var,
                    color=style(path).color,
                    marker=style(path).marker,
                    markersize=3,
                    errorbar=("sd", 1),
                    ax=ax,
                )
            ax.set_ylabel(wrap_label(YLABELS[var], 16))
            ax.set_title(m, fontsize=8)
        color = palette([m])[m]
        for t, ls in ((0, "--"), (-1, "-")):
            # geometric mean over seeds, bars x/÷ the geometric sd (log axis)
            log_share = np.log(sub.share_block.isel(step=t).where(lambda v: v > 0))
            mid, sd = np.exp(log_share.mean("seed")), np.exp(log_share.std("seed"))
            row[2].errorbar(
                sub.block,
                mid,
                yerr=[mid - mid / sd, mid * sd - mid],
                color=color,
                ls=ls,
                marker=markers([m])[m],
                ms=3,
                label="init" if t == 0 else "last snapshot",
            )
        row[2].set_yscale("log")
        no_minor_labels(row[2])
        row[2].set_xlabel("block (0: embedding,\n$L+1$: read-out)")
        row[2].set_ylabel("trace share\nof the block")
        if row is axes[0]:  # line style init/last: the same in every row, one key
            row[2].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.legend(*legend_handles(paths), title="path", loc="outside lower center", ncol=5, fontsize=7)
    return fig


# The training half's effects of the population figure (variable -> axis label), and how the
# architectures of the population are grouped (prefix of the model name -> group label)
EFFECT_AXES = {
    "test_metric": "test accuracy",
    "noise_metric": "accuracy under noise",
    "fgsm_metric": "accuracy under FGSM",
    "io_norm": r"$\|\partial F/\partial x\|_2$",
}
GROUPS = {"pop_alpha": r"fixed gate $\alpha$", "pop_rho": r"cap $\rho$", "struct": "structured and ablations"}


def _group(model: str) -> str:
    return next((g for prefix, g in GROUPS.items() if model.startswith(prefix)), "baselines")


def effects(datasets, cfg):
    """The trace-normalised kernel drift at the kept weights against the training half's effects,
    one point per architecture of the population (its seed means), with the between-architecture
    Spearman rho and Holm verdict of the family table in each title."""
    ds, tests = datasets["population"], datasets["tests"]
    pop = ds.sel(model=ds.model.values[ds.in_population.values == 1])
    means = pop.mean("seed")
    df = means[["drift_tn_kept", *EFFECT_AXES]].to_dataframe().reset_index()
    df["log_drift"] = np.log10(df["drift_tn_kept"])
    df["group"] = [_group(m) for m in df["model"]]
    fig, axes = plt.subplots(1, len(EFFECT_AXES), figsize=(6.8, 3.0), sharey=True, layout="constrained")
    for ax, (var, words) in zip(axes, EFFECT_AXES.items()):
        sns.scatterplot(
            df, x=var, y="log_drift", hue="group", style="group", ax=ax, legend=ax is axes[0], s=22
        )
        key = f"BetweenTn{var.replace('_', '').title()}"
        if key in tests.test.values:
            row = tests.sel(test=key)
            ax.set_title(rf"$\rho$ = {float(row.effect):.2f} ({str(row.verdict.values)})", fontsize=7)
        ax.set_xlabel(words, fontsize=7)
        ax.set_ylabel(r"$\log_{10}$ trace-normalised drift")
    if axes[0].get_legend() is not None:  # one legend under the panels, clear of their labels
        handles, labels = axes[0].get_legend_handles_labels()
        axes[0].get_legend().remove()
        fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=7)
    return fig


CHANGE_AXES = {
    "drift_last": "Frobenius drift",
    "drift_tn_last": "trace-normalised drift",
    "cka_dist_last": "1 - CKA",
}


# The simpler references of the laziness figure, shown whenever the population trained them: the
# linear network (no nonlinearity) and the structured net without its correction path (alpha = 0)
LAZINESS_REFERENCES = ("linear", "struct_alpha0")


def laziness_order(ds, cfg) -> list:
    """The models of the laziness figure, top to bottom: the followed models, their common-rate
    copies, the linear network and the alpha = 0 structured net, the other ablations."""
    followed = list(cfg.get("models", []))
    copies = list(cfg.get("common_rate", {}).values())
    ablations = list(cfg.get("ablations", []))
    names = dict.fromkeys(followed + copies + list(LAZINESS_REFERENCES) + ablations)
    return [m for m in names if m in ds.model.values]


def changes(datasets, cfg):
    """The three measures of the kernel's change at the last weights (the same step count), per
    model (one row each, in its registry colour and marker; seeds as points, the mean as a bar),
    on log axes: the followed models at their tuned rates and at the structured model's rate,
    the linear network, the alpha = 0 structured net and the other ablations."""
    ds = datasets["population"]
    order = laziness_order(ds, cfg)
    colours, marks = palette(order), markers(order)
    rows = {m: i for i, m in enumerate(order)}
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, size=ds.seed.size)
    fig, axes = plt.subplots(1, len(CHANGE_AXES), figsize=(6.8, 0.38 * len(order) + 1.4), sharey=True)
    for ax, (var, words) in zip(axes, CHANGE_AXES.items()):
        values = np.log10(ds[var].sel(model=order).transpose("model", "seed").values)
        for m, v in zip(order, values):
            ok = np.isfinite(v)
            ax.scatter(v[ok], rows[m] + jitter[ok], color=colours[m], marker=marks[m], s=10, alpha=0.8, lw=0)
            if ok.any():
                ax.plot([v[ok].mean()] * 2, [rows[m] - 0.35, rows[m] + 0.35], color=colours[m], lw=2)
        ax.set_xlabel(rf"$\log_{{10}}$ {words}", fontsize=8)
    axes[0].set_yticks(range(len(order)), order)
    axes[0].set_ylim(len(order) - 0.5, -0.5)
    return fig


def regression(datasets, cfg):
    """Kernel regression of the trained test outputs: R2 with K_0 and with the kernel of the kept
    weights, per model (seeds as points)."""
    ds = datasets["combined"]
    df = _frame(ds.r2_init, "K_0").merge(_frame(ds.r2_kept, "K_kept"), on=["model", "seed"])
    long = df.melt(
        id_vars=["model", "seed"], value_vars=["K_0", "K_kept"], var_name="kernel", value_name="R2"
    )
    long["kernel"] = long["kernel"].map({"K_0": "$K_0$ (initial)", "K_kept": "kept weights' $K$"})
    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    order = hue_order(long["model"].unique())
    sns.pointplot(
        long,
        x="kernel",
        y="R2",
        hue="model",
        hue_order=order,
        palette=palette(order),
        markers=[markers(order)[m] for m in order],
        errorbar=("sd", 1),
        dodge=0.3,
        linestyle="none",  # the two kernels are categories: no line joins them
        ax=ax,
    )
    ax.set_ylabel(r"$R^2$ of the predicted test outputs")
    if ax.get_legend() is not None:  # the lower right holds no point (trained kernels fit well)
        sns.move_legend(ax, "lower right")
    return fig


FIGURES = {fn.__name__: fn for fn in (drift_time, drift_width, shares, effects, changes, regression)}
