"""Figures F-A ... F-H of the training stage (spec structured-layers.md §7); names, inputs and
captions are registered in ``learndyn.figures``.

Each function takes the aggregated datasets (``Inputs``) and the ``train`` config and returns
a matplotlib figure. Seeds are shown as bands (mean +- sd), axes are logarithmic where the
quantity spans decades, and axis labels come from the variables' ``long_name``/``units``.
Models keep their registry colour and marker (``learndyn.plotting.STYLES``) in every figure.
A log axis is set before seaborn draws on it, so its mean and sd band are computed on the log
values (a geometric mean with a band of x/÷ the geometric sd, never a linear band clipped at 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import xarray as xr

from ..names import display
from ..plotting import (
    VERDICTS,
    hue_order,
    label,
    markers,
    model_legends,
    no_minor_labels,
    palette,
    style,
    typeset,
    wrap_label,
)
from .claims import at_kept
from .collect import task_kind

BAND = ("sd", 1)
WRAP = 30  # characters per line of a long axis label (it must fit beside its panel)
LINESTYLES, LINESTYLE_NAMES = ("-", "--", ":", "-."), ("solid", "dashed", "dotted", "dash-dot")
STAGE_LINES = {"init": "--", "final": "-"}  # line style of the training stage (colour: the model)


@dataclass
class Inputs:
    cells: xr.Dataset
    spectra: xr.Dataset
    lr: xr.Dataset
    fp: xr.Dataset
    cfg: dict
    tune: xr.Dataset | None = None
    claims: xr.Dataset | None = None
    align: xr.Dataset | None = None

    def main_models(self):
        return list(self.cfg["studies"]["main"]["models"])

    def classification_tasks(self, tasks):
        return [t for t in tasks if task_kind(self.cells, t) == "classification"]

    def key_models(self):
        """The structured model and its baselines (claims comparison), in that order."""
        cl = self.cfg["claims"]
        return [cl["structured"], *cl["baselines"]]


def frame(da: xr.DataArray, name: str | None = None) -> pd.DataFrame:
    name = name or da.name
    return da.rename(name).to_dataframe().reset_index().dropna(subset=[name])


def by_model(df: pd.DataFrame, marked: bool = False) -> dict:
    """Seaborn keywords colouring ``df`` by ``model`` from the palette registry: fixed colours and
    legend order for the models present; ``marked`` adds each model's registry marker (as
    ``style="model"``, solid lines)."""
    order = hue_order(df["model"].unique()) if "model" in df else []
    kw = {"hue_order": order, "palette": palette(order)}
    if marked:
        kw |= {"style": "model", "style_order": order, "markers": markers(order), "dashes": False}
    return kw


def model_lines(df: pd.DataFrame, x: str, y: str, ax, marked: bool = True, **kw):
    """``y`` against ``x``, one line per model in its registry colour and marker, band mean +- sd
    over seeds (in log space on a log axis: set the scale first). On a log axis, values a log scale
    cannot show (zero, negative, non-finite: gradients that vanished or overflowed) are dropped."""
    for var, scale in ((x, ax.get_xscale()), (y, ax.get_yscale())):
        if scale == "log":
            df = df[np.isfinite(df[var]) & (df[var] > 0)]
    if df.empty:
        return ax
    return sns.lineplot(df, x=x, y=y, hue="model", **by_model(df, marked), errorbar=BAND, ax=ax, **kw)


def model_lines_by(df: pd.DataFrame, x: str, y: str, ax, by: str, linestyles: dict):
    """``model_lines`` once per value of ``by`` (``{value: line style}``), so the model keeps its
    marker while ``by`` (stage, direction) is told by the line style; one legend entry per model."""
    for i, (value, ls) in enumerate(linestyles.items()):
        sub = df[df[by] == value]
        if len(sub):
            model_lines(sub, x, y, ax, linestyle=ls, legend=i == 0, markersize=3)


def model_scatter(df: pd.DataFrame, x: str, y: str, ax, by: str | None = None):
    """One point per row in its model's registry colour and marker; with ``by`` (two values:
    init, final) the first value is drawn hollow."""
    values = list(dict.fromkeys(df[by])) if by else [None]
    for m in hue_order(df["model"].unique()):
        st = style(m)
        for k, value in enumerate(values):
            sub = df[(df["model"] == m) & ((df[by] == value) if by else True)]
            face = "none" if by and k == 0 and len(values) > 1 else st.color
            ax.scatter(sub[x], sub[y], s=10, marker=st.marker, facecolors=face, edgecolors=st.color, lw=0.6)
        ax.plot([], [], ls="none", marker=st.marker, color=st.color, label=m)  # the legend entry


def _legend_once(axes):
    for ax in axes[1:]:
        if ax.get_legend():
            ax.get_legend().remove()


def _kind(cfg: dict, model: str) -> str:
    """The model's layer family (``train.models.<model>.kind``)."""
    return (
        cfg.get("models", {}).get(model, {}).get("kind", "structured" if model.startswith("struct") else "")
    )


def structured_variants(inp: Inputs, task: str) -> list[str]:
    """The MLP, the linear network, the structured model and its structured variants of the
    main study on ``task`` (the ablations have their table; a legend a reader can use), in
    registry order."""
    st = inp.cfg["studies"]["main"]
    keep = ("mlp", "linear")
    out = (
        [m for m in st["models"] if m in keep or _kind(inp.cfg, m) == "structured"]
        if task in st["tasks"]
        else []
    )
    return hue_order(dict.fromkeys(out))


def fa_accuracy(inp: Inputs):
    """F-A: train and test accuracy against epoch, the MLP vs the structured model and its
    variants, per classification task of the main study (bands: mean +- sd over seeds). The y
    axis is zoomed to the trained curves (the initial evaluation, at chance, is left out), each
    row has the legend of its models, and a Fashion-MNIST test panel has the published MLP
    reference on the full data set as a dashed line (``sources.FASHION_MLP_REFERENCE``)."""
    from ..sources import FASHION_MLP_REFERENCE

    c, cfg = inp.cells, inp.cfg
    tasks = inp.classification_tasks(cfg["studies"]["main"]["tasks"])
    fig, axes = plt.subplots(len(tasks), 2, figsize=(6.6, 2.5 * len(tasks)), squeeze=False)
    for i, task in enumerate(tasks):
        models = structured_variants(inp, task)
        sub = c.sel(task=task, depth=cfg["depth"], width=cfg["width"], model=models)
        per_step = float(c.epoch_per_step.sel(task=task))  # epochs per step (its fit-split size)
        for j, var in enumerate(("train_metric", "test_metric")):
            df = frame(sub[var])
            df = df[df["eval_step"] > df["eval_step"].min()]  # trained curves only: zoomed to them
            df["epoch"] = df["eval_step"] * per_step
            model_lines(df, "epoch", var, axes[i, j], legend=j == 1)
            axes[i, j].set(xlabel="epoch", ylabel=label(c[var]), title=f"{task}")
            if j == 1 and str(task).startswith("fashion_mnist"):
                axes[i, j].axhline(
                    FASHION_MLP_REFERENCE, color="k", ls="--", lw=0.8, label="published MLP, full data"
                )
        axes[i, 1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7)  # the row's models
    return fig


def fb_gradflow(inp: Inputs):
    """F-B: per-layer gradient norm ||dL/dh_l|| against layer, at init and at the end."""
    c, cfg = inp.cells, inp.cfg
    st = cfg["studies"].get("depth", cfg["studies"]["main"])
    depths = sorted({cfg["depth"], max(st.get("depths", [cfg["depth"]]))})
    task = st["tasks"][0]
    fig, axes = plt.subplots(len(depths), 2, figsize=(7, 2.5 * len(depths)), squeeze=False)
    for i, depth in enumerate(depths):
        sub = c.sel(task=task, depth=depth, width=cfg["width"], model=st["models"])
        for j, (pos, name) in enumerate(((0, "initialisation"), (-1, "end of training"))):
            df = frame(sub.grad_h.isel(eval_step=pos))
            axes[i, j].set_yscale("log")
            model_lines(df, "layer_h", "grad_h", axes[i, j])
            axes[i, j].set(
                xlabel=label(c.layer_h, wrap=18),  # the right panel: a short line stays in the figure
                ylabel=label(c.grad_h, wrap=20),
                title=f"{task}, $L={depth}$,\n{name}",
            )
    _legend_once(axes.ravel())
    return fig


def fc_spectra(inp: Inputs):
    """F-C: singular values of S(W_l) and J_l (init/final), log kappa vs depth, and the bounds
    P1/P2 against the measured Jacobian singular values."""
    c, s, cfg = inp.cells, inp.spectra, inp.cfg
    task = cfg["studies"]["main"]["tasks"][0]
    models = [m for m in inp.key_models() if m in s.model.values][:2]
    fig, axes = plt.subplots(2, 3, figsize=(9, 5.6))
    for j, var in enumerate(("A_sv", "J_sv")):
        # the spectrum as singular value against rank (band: sd over seeds and layers)
        df = frame(s[var].sel(task=task, model=models))
        df = df[df[var] > 0]  # a zero singular value has no place on the log axis
        axes[0, j].set_yscale("log")
        model_lines_by(df, "sv", var, axes[0, j], "stage", STAGE_LINES)
        axes[0, j].set(xlabel=label(s.sv), ylabel=label(s[var], wrap=WRAP), title=f"{task} (dashed: init)")
    st = cfg["studies"].get("depth", cfg["studies"]["main"])
    sub = c.sel(task=st["tasks"][0], width=cfg["width"], model=st["models"], stage="final")
    df = frame(sub.e2e_logcond)
    model_lines(df, "depth", "e2e_logcond", axes[0, 2], marked=True)
    axes[0, 2].set_xscale("log", base=2)
    axes[0, 2].set(
        xlabel=label(c.depth),
        ylabel=label(c.e2e_logcond, wrap=24),
        title=f"{st['tasks'][0]}, end of training",
    )
    for j, (meas, bound, title) in enumerate(
        (("J_sigma_sup", "bound_upper", "P1 upper bound"), ("J_sigma_min", "bound_lower", "P2 lower bound"))
    ):
        df = pd.merge(frame(c[meas]), frame(c[bound]))
        df = df[df[bound] > 0]
        model_scatter(df, bound, meas, axes[1, j], by="stage")
        lim = [df[[bound, meas]].min().min(), df[[bound, meas]].max().max()] if len(df) else [0.1, 1]
        axes[1, j].plot(lim, lim, "k--", lw=0.8)
        axes[1, j].set(
            xscale="log",
            yscale="log",
            xlabel=label(c[bound]),
            ylabel=label(c[meas], wrap=WRAP),
            title=title + " vs measured\n(hollow: init)",
        )
        for axis in ("x", "y"):  # a short log range labels its minor ticks: only the decades
            no_minor_labels(axes[1, j], axis)
    df = pd.merge(frame(c.io_norm), frame(c.io_bound))
    model_scatter(df, "io_bound", "io_norm", axes[1, 2], by="stage" if "stage" in df else None)
    lim = [df[["io_bound", "io_norm"]].min().min(), df[["io_bound", "io_norm"]].max().max()]
    axes[1, 2].plot(lim, lim, "k--", lw=0.8)
    axes[1, 2].set(
        xscale="log",
        yscale="log",
        xlabel=label(c.io_bound),
        ylabel=label(c.io_norm, wrap=WRAP),
        title="P4 bound vs measured",
    )
    for ax in axes.ravel()[3:]:
        if ax.get_legend():
            ax.get_legend().remove()
    return fig


def fd_depth(inp: Inputs):
    """F-D: test metric and gradient ratio of the kept weights against depth."""
    c, cfg = inp.cells, inp.cfg
    st = cfg["studies"].get("depth", cfg["studies"]["main"])
    fig, axes = plt.subplots(len(st["tasks"]), 2, figsize=(7, 2.6 * len(st["tasks"])), squeeze=False)
    for i, task in enumerate(st["tasks"]):
        sub = c.sel(task=task, width=cfg["width"], model=st["models"])
        df = frame(sub.final_test_metric)
        model_lines(df, "depth", "final_test_metric", axes[i, 0], marked=True)
        axes[i, 0].set_xscale("log", base=2)
        axes[i, 1].set_xscale("log", base=2)
        axes[i, 0].set(xlabel=label(c.depth), ylabel=label(c.final_test_metric, wrap=WRAP), title=task)
        df = frame(at_kept(sub.grad_ratio, sub).assign_attrs(sub.grad_ratio.attrs))
        axes[i, 1].set_yscale("log")
        model_lines(df, "depth", "grad_ratio", axes[i, 1], marked=True)
        axes[i, 1].axhline(1.0, color="k", lw=0.6, ls="--")
        axes[i, 1].set(xlabel=label(c.depth), ylabel=label(c.grad_ratio), title=f"{task}, kept weights")
    _legend_once(axes.ravel())
    return fig


def fe_robustness(inp: Inputs):
    """F-E: metric under Gaussian noise and FGSM, and layer-wise amplification."""
    c, cfg = inp.cells, inp.cfg
    tasks = inp.classification_tasks(cfg["studies"]["main"]["tasks"]) or cfg["studies"]["main"]["tasks"]
    task = tasks[-1]
    sub = c.sel(task=task, depth=cfg["depth"], width=cfg["width"], model=inp.main_models())
    fig, axes = plt.subplots(1, 3, figsize=(6.8, 2.9))
    df = frame(sub.noise_metric)
    model_lines(df, "noise_sigma", "noise_metric", axes[0], marked=True)
    axes[0].set(xlabel=label(c.noise_sigma), ylabel=label(c.noise_metric, wrap=WRAP), title=task)
    df = frame(sub.fgsm_metric)
    model_lines(df, "fgsm_eps", "fgsm_metric", axes[1], marked=True)
    axes[1].set(xscale="log", xlabel=label(c.fgsm_eps), ylabel=label(c.fgsm_metric, wrap=WRAP), title=task)
    df = frame(sub.amplification)
    axes[2].set_yscale("log")
    directions = list(dict.fromkeys(df["direction"]))
    model_lines_by(df, "layer_h", "amplification", axes[2], "direction", dict(zip(directions, LINESTYLES)))
    kinds = ",\n".join(f"{d}: {name}" for d, name in zip(directions, LINESTYLE_NAMES))
    axes[2].set(
        xlabel=label(c.layer_h, wrap=18),  # the right panel: a short line stays in the figure
        ylabel=label(c.amplification, wrap=WRAP),
        title=f"{task}\n({kinds})",
    )
    for ax in axes:  # one legend beside the panels: the noise curves fill the first panel
        if ax.get_legend():
            ax.get_legend().remove()
    model_legends(fig, df["model"].unique())
    return fig


def ff_smoothness(inp: Inputs):
    """F-F: loss curves, loss TV ratio, top Hessian eigenvalue and largest stable LR."""
    c, cfg, lr = inp.cells, inp.cfg, inp.lr
    task = cfg["studies"]["main"]["tasks"][0]
    sub = c.sel(depth=cfg["depth"], width=cfg["width"], model=inp.main_models())
    fig, axes = plt.subplots(2, 2, figsize=(6.6, 5.0))
    axes = axes.ravel()
    df = frame(sub.train_loss.sel(task=task))
    axes[0].set_yscale("log")
    model_lines(df, "eval_step", "train_loss", axes[0])
    axes[0].set(xlabel=label(c.eval_step), ylabel=label(c.train_loss), title=task)
    axes[1].set_xscale("log")  # tasks down the y axis: their names need no rotation
    df = frame(sub.loss_tv_ratio)
    df["task"] = df["task"].map(lambda t: wrap_label(display(t), 12))  # display names
    kw = {"fliersize": 1, "saturation": 1}  # registry colours, not desaturated
    sns.boxplot(df, y="task", x="loss_tv_ratio", hue="model", **by_model(df), ax=axes[1], orient="h", **kw)
    axes[1].set(xlabel=label(c.loss_tv_ratio, wrap=WRAP), ylabel="")
    df = frame(sub.hessian_top.sel(task=task))
    df = df[df["hessian_top"] > 0]  # the log axis shows the positive top eigenvalues
    axes[2].set_yscale("log")
    model_lines(df, "eval_step", "hessian_top", axes[2], marked=True)
    axes[2].set(xlabel=label(c.eval_step), ylabel=label(c.hessian_top), title=task)
    if lr is not None and lr.sizes:
        df = frame(lr.stable_lr)
        axes[3].set_yscale("log")
        for m in hue_order(df["model"].unique()):  # stripplot takes one marker: one call per model
            sns.stripplot(
                df[df["model"] == m],
                x="task",
                y="stable_lr",
                hue="model",
                **by_model(df),
                order=sorted(df["task"].unique()),
                marker=style(m).marker,
                dodge=True,
                legend=False,
                ax=axes[3],
            )
        axes[3].set(ylabel=label(lr.stable_lr, wrap=WRAP), xlabel="")
        axes[3].set_xticks(
            axes[3].get_xticks(), [wrap_label(display(t.get_text()), 10) for t in axes[3].get_xticklabels()]
        )
    for ax in axes:  # one legend under the panels (beside one, it squeezes the others)
        if ax.get_legend():
            ax.get_legend().remove()
    model_legends(fig, sub.model.values)
    return fig


def fg_fixedpoint(inp: Inputs):
    """F-G: weight-tied model: q_hat vs the bound q, iterations and convergence vs rho,
    fixed-point sensitivity vs its bound."""
    fp = inp.fp
    fig, axes = plt.subplots(2, 2, figsize=(6.6, 5.0))
    axes = axes.ravel()
    df = frame(fp.q_hat).merge(frame(fp.q_bound))
    df["rho"] = df["rho"].map(lambda r: "none" if np.isinf(r) else f"{r:g}")
    _two_legends(axes[0], df, "q_bound", "q_hat", "rho", "alpha")
    lim = [min(df.q_bound.min(), df.q_hat.min()), max(df.q_bound.max(), df.q_hat.max())]
    axes[0].plot(lim, lim, "k--", lw=0.8)
    axes[0].axvline(1, color="grey", lw=0.6)
    axes[0].set(xlabel=label(fp.q_bound), ylabel=label(fp.q_hat, wrap=20), xscale="log", yscale="log")
    finite = fp.sel(rho=[r for r in fp.rho.values if np.isfinite(r)])
    for ax, var in ((axes[1], "iterations"), (axes[2], "converged")):
        sns.lineplot(
            frame(finite[var]),
            x="rho",
            y=var,
            hue="alpha",
            errorbar=BAND,
            marker="o",
            ax=ax,
            palette="viridis",
        )
        if np.isinf(fp.rho.values).any():
            unc = frame(fp[var].sel(rho=np.inf))
            ax.scatter(
                np.full(len(unc), fp.rho.values[np.isfinite(fp.rho.values)].max() * 1.1),
                unc[var],
                marker="x",
                color="k",
                label="uncapped",
            )
        ax.set(xlabel=wrap_label(label(fp.rho) + " (x: uncapped)", WRAP), ylabel=label(fp[var], wrap=WRAP))
    df = frame(fp.sensitivity).merge(frame(fp.sensitivity_bound))
    df = df[np.isfinite(df.sensitivity_bound)]
    sns.scatterplot(df, x="sensitivity_bound", y="sensitivity", hue="alpha", ax=axes[3], palette="viridis")
    if len(df):
        lim = [
            df[["sensitivity_bound", "sensitivity"]].min().min(),
            df[["sensitivity_bound", "sensitivity"]].max().max(),
        ]
        axes[3].plot(lim, lim, "k--", lw=0.8)
    axes[3].set(
        xscale="log",
        yscale="log",
        xlabel=label(fp.sensitivity_bound),
        ylabel=label(fp.sensitivity, wrap=WRAP),
    )
    return fig


SCATTER_MARKERS = ("o", "X", "s", "P", "D", "^")


def _two_legends(ax, df: pd.DataFrame, x: str, y: str, hue: str, marker: str) -> None:
    """``df``'s points (``y`` against ``x``) on ``ax`` coloured by ``hue`` and marked by
    ``marker``, with one short legend for each beside the panel (one legend of both would be
    too long to read)."""
    from matplotlib.lines import Line2D

    hues = list(dict.fromkeys(df[hue]))
    marks = list(dict.fromkeys(df[marker]))
    colours = dict(zip(hues, sns.color_palette(n_colors=len(hues))))
    shapes = {m: SCATTER_MARKERS[i % len(SCATTER_MARKERS)] for i, m in enumerate(marks)}
    sns.scatterplot(df, x=x, y=y, hue=hue, style=marker, palette=colours, markers=shapes, ax=ax, legend=False)
    kw = {"fontsize": 7, "title_fontsize": 7, "bbox_to_anchor": (1.02, 1.0), "loc": "upper left"}
    first = ax.legend(
        [Line2D([], [], ls="none", marker="o", color=c) for c in colours.values()],
        [str(h) for h in hues],
        title=typeset(hue),
        **kw,
    )
    ax.add_artist(first)
    ax.legend(
        [Line2D([], [], ls="none", marker=shapes[m], color="0.3") for m in marks],
        [str(m) for m in marks],
        title=typeset(marker),
        **{**kw, "bbox_to_anchor": (1.02, 0.0), "loc": "lower left"},
    )


def fh_width(inp: Inputs):
    """F-H: test metric and gradient ratio of the kept weights against width at the default depth."""
    c, cfg = inp.cells, inp.cfg
    st = cfg["studies"].get("width", cfg["studies"]["main"])
    fig, axes = plt.subplots(1, 2, figsize=(7, 2.8))
    sub = c.sel(task=st["tasks"][0], depth=cfg["depth"], model=st["models"])
    df = frame(sub.final_test_metric)
    model_lines(df, "width", "final_test_metric", axes[0], marked=True)
    axes[0].set_xscale("log", base=2)
    axes[1].set_xscale("log", base=2)
    axes[0].set(xlabel=label(c.width), ylabel=label(c.final_test_metric, wrap=WRAP), title=st["tasks"][0])
    df = frame(at_kept(sub.grad_ratio, sub).assign_attrs(sub.grad_ratio.attrs))
    axes[1].set_yscale("log")
    model_lines(df, "width", "grad_ratio", axes[1], marked=True)
    axes[1].set(xlabel=label(c.width), ylabel=label(c.grad_ratio))
    _legend_once(axes)
    return fig


VERDICT_COLORS = VERDICTS  # one verdict colour set (learndyn.plotting), none a model's colour
FOREST_FONT = 7.0  # pt: the forest is drawn at about its printed width


TASK_MARKERS = ("o", "s", "^", "D", "v", "P")  # the forest's tasks, in order of appearance


FOREST_ROW_IN = 0.13  # inches per baseline row of the forest: a 7 pt label each, none overlapping
FOREST_PANEL_IN = 0.55  # a row of panels: its two-line titles and x tick labels
FOREST_COLS = 3  # panels a row; the baselines are named on the row's left panel only
FOREST_MAIN = ("empirical",)  # the main text's forest; the other families go to the supplement's
FAMILY_NOTE = {"favourable_task": " (favourable task)"}  # a panel title's note on its family


def fi_forest(inp: Inputs):
    """Forest plot of the claims ledger's empirical family (the main text's; the other families
    are in ``fi_forest_more``): every (claim, baseline, task) effect, structured minus
    baseline, coloured by the verdict within its Holm family, with its interval at the per-row
    level Holm's adjustment implies (``low_holm``, ``high_holm``: it excludes 0 exactly when the
    adjusted p is below alpha, for the t-tested rows; the raw interval where a row has no
    adjusted p); one panel per claim (own units), one row per baseline, the tasks side by side
    within it (marker per task; hollow: a fixed-budget row). The equivalence rows have their own
    table."""
    return _forest(inp, FOREST_MAIN)


def fi_forest_more(inp: Inputs):
    """The forest plot of the claims outside the empirical family: the claims implied by the
    cap's bounds (by construction) and those on the favourable task (supplement)."""
    df = inp.claims.to_dataframe().reset_index()
    rest = [f for f in dict.fromkeys(df.family) if f not in (*FOREST_MAIN, "equivalence", "descriptive")]
    return _forest(inp, tuple(rest))


def _forest(inp: Inputs, families: tuple):
    """The forest of the claims of ``families``: one panel per (family, claim), ``FOREST_COLS``
    panels a row sharing their baseline rows (named on the left panel)."""
    df = inp.claims.to_dataframe().reset_index()
    df = df[df.family.isin(families)]
    panels = list(dict.fromkeys(zip(df.family, df.key)))
    panels.sort(key=lambda p: -df[(df.family == p[0]) & (df.key == p[1])].baseline.nunique())  # stable
    tasks = list(dict.fromkeys(df.task))
    marker = {t: TASK_MARKERS[i % len(TASK_MARKERS)] for i, t in enumerate(tasks)}
    order = list(dict.fromkeys(df.baseline))
    ncol = min(FOREST_COLS, max(1, len(panels)))
    nrow = int(np.ceil(len(panels) / ncol))
    rows = []  # the baselines of each row of panels, in the ledger's order
    for i in range(nrow):
        here = {
            b
            for f, k in panels[i * ncol : (i + 1) * ncol]
            for b in df[(df.family == f) & (df.key == k)].baseline
        }
        rows.append([b for b in order if b in here])
    heights = [len(r) for r in rows]
    fig, axes = plt.subplots(
        nrow,
        ncol,
        figsize=(6.6, FOREST_ROW_IN * sum(heights) + FOREST_PANEL_IN * nrow + 1.0),
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
        layout="constrained",
    )
    for n, (ax, (family, key)) in enumerate(zip(axes.ravel(), panels)):
        g = df[(df.family == family) & (df.key == key)].reset_index(drop=True)
        baselines = rows[n // ncol]
        here = [t for t in tasks if t in set(g.task)]
        offsets = {
            t: (0.0 if len(here) == 1 else 0.5 * (i / (len(here) - 1) - 0.5)) for i, t in enumerate(here)
        }
        for r in g.itertuples():
            yi = len(baselines) - 1 - baselines.index(r.baseline) + offsets[r.task]
            color = VERDICT_COLORS.get(r.verdict, "#000000")
            adjusted = np.isfinite(r.low_holm) and np.isfinite(r.high_holm)
            low, high = (r.low_holm, r.high_holm) if adjusted else (r.low, r.high)
            if np.isfinite(low) and np.isfinite(high):
                ax.plot([low, high], [yi, yi], color=color, lw=1.0, ls="-" if adjusted else ":")
            face = "none" if r.budget == "fixed" else color
            ax.plot([r.effect], [yi], marker[r.task], color=color, mfc=face, ms=3.5)
        ax.axvline(0, color="black", lw=0.6)
        names = [display(b) for b in baselines] if n % ncol == 0 else [""] * len(baselines)
        ax.set_yticks(np.arange(len(baselines))[::-1], names, fontsize=FOREST_FONT)
        arrow = r"$\uparrow$" if g.better.iloc[0] == "higher" else r"$\downarrow$"
        built = " (by construction)" if bool(g.by_construction.all()) else FAMILY_NOTE.get(family, "")
        ax.set_title(wrap_label(f"{g.claim.iloc[0]} {arrow}{built}", 26), fontsize=FOREST_FONT)
        ax.tick_params(axis="x", labelsize=FOREST_FONT)
        ax.xaxis.set_major_locator(plt.MaxNLocator(nbins=3))  # narrow panels: few x labels
        ax.set_ylim(-0.6, len(baselines) - 0.4)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    # two legends (verdict: colour; task: marker, hollow = fixed budget), each short enough to read
    verdicts = [v for v in VERDICT_COLORS if v in set(df.verdict)] or list(VERDICT_COLORS)
    fig.legend(
        [plt.Line2D([], [], color=VERDICT_COLORS[v], marker="o", lw=1.0, ms=3.5) for v in verdicts],
        verdicts,
        loc="outside upper center",
        ncol=len(verdicts),
        fontsize=FOREST_FONT,
        title="verdict (Holm)",
        title_fontsize=FOREST_FONT,
    )
    fig.legend(
        [plt.Line2D([], [], color="#000000", marker=marker[t], lw=0, ms=3.5) for t in tasks]
        + [plt.Line2D([], [], color="#000000", marker="o", mfc="none", lw=0, ms=3.5)],
        [display(t) for t in tasks] + ["fixed budget (hollow)"],
        loc="outside lower center",
        ncol=min(3, len(tasks) + 1),
        fontsize=FOREST_FONT,
        title="task",
        title_fontsize=FOREST_FONT,
    )
    return fig


def fj_tuning(inp: Inputs):
    """Tuning: median over tuning seeds of the lowest validation loss against the peak learning
    rate, per task and model (the chosen rate is the minimum of each curve)."""
    t = inp.tune
    if "budget" in t:  # successive halving: only the rates that ran the whole tuning budget compare
        t = t.assign(score=t.score.where(t.budget == t.budget.max("lr")))
    tasks = list(t.task.values)
    ncol = min(2, len(tasks))  # two panels a row: each keeps room for its axis labels
    nrow = int(np.ceil(len(tasks) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(6.6, 2.4 * nrow + 0.8), squeeze=False)
    models = []
    for i, (ax, task) in enumerate(zip(axes.ravel(), tasks)):
        df = frame(t.score.sel(task=task).where(np.isfinite(t.score.sel(task=task))))
        if not df.empty:
            sns.lineplot(df, x="lr", y="score", hue="model", **by_model(df, marked=True), ax=ax, legend=False)
            models += list(df["model"].unique())
        ax.set(xscale="log", yscale="log", xlabel=label(t.lr), title=task)
        ax.set_ylabel(label(t.score, wrap=WRAP) if i % ncol == 0 else "")  # the row's left panel
        ax.tick_params(axis="x", labelsize=7)
    for ax in axes.ravel()[len(tasks) :]:
        ax.axis("off")
    if models:  # one legend under the panels: beside one of them it squeezes the others
        model_legends(fig, models)
    return fig


def fk_matched(inp: Inputs):
    """Robustness along training: test accuracy under noise (claims sigma) and under FGSM
    (claims epsilon) against clean VALIDATION accuracy at every evaluation, mean over seeds; the
    matched comparison reads two models at the same validation accuracy (same x) and reports
    the test accuracy there."""
    c, cfg = inp.cells, inp.cfg
    tasks = inp.classification_tasks(cfg["studies"]["main"]["tasks"])
    models = [m for m in inp.key_models() if m in cfg["studies"]["main"]["models"]]
    cl = cfg["claims"]
    # drawn at about its printed width (0.8 of the text width), so its legends print at 6 pt or more
    fig, axes = plt.subplots(max(1, len(tasks)), 2, figsize=(5.4, 2.6 * max(1, len(tasks))), squeeze=False)
    for i, task in enumerate(tasks):
        sub = c.sel(task=task, depth=cfg["depth"], width=cfg["width"], model=models).mean("seed")
        for j, (curve, level, name) in enumerate(
            (
                (sub.noise_curve.sel(track_sigma=cl["noise_sigma"]), cl["noise_sigma"], r"noise $\sigma$"),
                (sub.fgsm_curve.sel(track_eps=cl["fgsm_eps"]), cl["fgsm_eps"], r"FGSM $\epsilon$"),
            )
        ):
            keys = ["model", "eval_step"]
            df = pd.merge(frame(sub.val_metric, "clean"), frame(curve, "perturbed"), on=keys)
            kw = by_model(df, marked=True)
            sns.lineplot(df, x="clean", y="perturbed", hue="model", **kw, sort=False, ax=axes[i, j])
            ylabel = wrap_label(f"test accuracy under {name}={level:g}", 22)
            axes[i, j].set(xlabel="clean validation accuracy", ylabel=ylabel, title=task)
    for ax in axes.ravel():  # one legend under the panels (the models of every panel)
        if ax.get_legend():
            ax.get_legend().remove()
    model_legends(fig, models, ncol=3)
    return fig


def fl_alignment(inp: Inputs):
    """Cross-model alignment on the alignment task's test inputs: linear CKA and the
    cross-probe ratio between every pair of cells (mean over seeds; pairs at the same seed),
    cells grouped by family."""
    import json

    align = inp.align
    names = [str(v) for v in align.cell_a.values]
    fams = json.loads(align.attrs["families"])
    fig, axes = plt.subplots(1, 2, figsize=(6.6, 3.6), constrained_layout=True)
    for ax, (var, title) in zip(axes, (("cka", "linear CKA"), ("probe_ratio", "cross-probe ratio"))):
        mat = align[var].mean("seed").values
        im = ax.imshow(mat, vmin=0, vmax=max(1.0, float(np.nanmax(mat))), cmap="viridis")
        ax.grid(False)
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        split = len(next(iter(fams.values()))) - 0.5
        for line in (ax.axhline, ax.axvline):
            line(split, color="white", lw=1)
        ax.set_title(title, fontsize=8)
        fig.colorbar(im, ax=ax, shrink=0.7)
    fig.suptitle(f"test inputs of {display(align.attrs['task'])}", fontsize=8)
    return fig


def _with_inputs(fn):
    """``fn(Inputs)`` as a registry entry ``(datasets, train config) -> figure``."""
    return lambda datasets, cfg: fn(Inputs(**datasets, cfg=cfg))


# name -> drawing function, as listed in ``learndyn.figures.FIGURES``
FIGURES = {
    fn.__name__: _with_inputs(fn)
    for fn in (
        fa_accuracy,
        fb_gradflow,
        fc_spectra,
        fd_depth,
        fe_robustness,
        ff_smoothness,
        fg_fixedpoint,
        fh_width,
        fi_forest,
        fi_forest_more,
        fj_tuning,
        fk_matched,
        fl_alignment,
    )
}
