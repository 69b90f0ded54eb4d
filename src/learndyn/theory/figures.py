"""Figures of the theory stage (one function per figure; axis labels from dataset attrs); names,
inputs and captions are registered in ``learndyn.figures``. Closures, flows and depths keep
their registry colour and marker (``learndyn.plotting.STYLES``) in every figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..plotting import depth, label, set_style, style, wrap_label

ERROR_FLOOR = 1e-17  # errors below this (exact zeros) are drawn at it on a log axis
LEGEND_FONT = 7.0  # pt: legends of figures drawn at about their printed width
# line style of layer l = 1, 2, ... in ``gram_drift`` (colour and marker there are the depth's)
LAYER_LINESTYLES = ("-", "--", ":", "-.")


def residual_trajectories(closed, hybrid):
    """Residual r_mu(t): weight-space flow (lines) vs closed/hybrid field closure (markers)."""
    set_style()
    depths = list(hybrid.depth.values)
    fig, axes = plt.subplots(1, 1 + len(depths), figsize=(6.5, 2.5), sharey=True)
    panels = [("$L=1$ closed", "closed", closed.r_weight.isel(seed=0), closed.r_field.isel(seed=0))]
    panels += [
        (
            f"$L={L}$ hybrid",
            "hybrid",
            hybrid.r_weight.sel(depth=L).isel(seed=0),
            hybrid.r_hybrid.sel(depth=L).isel(seed=0),
        )
        for L in depths
    ]
    for ax, (title, closure, rw, rf) in zip(axes, panels):
        t = rw.time.values
        for mu in range(min(6, rw.sizes["sample"])):  # colour: the sample
            (line,) = ax.plot(t, rw.isel(sample=mu), lw=1)
            ax.plot(
                t,
                rf.isel(sample=mu),
                ls="none",
                marker=style(closure).marker,
                ms=2.5,
                color=line.get_color(),
                mfc="none",
            )
        ax.set_title(title, fontsize=8)
        ax.set_xlabel(label(rw.time))
    axes[0].set_ylabel("residual $r_\\mu$")
    # the key: the two computations coincide, so say which is which (colour: the sample)
    from matplotlib.lines import Line2D

    key = [
        Line2D([], [], color="0.3", lw=1, label="weight-space gradient flow (line)"),
        *(
            Line2D([], [], color="0.3", ls="none", marker=style(c).marker, mfc="none", ms=3.5, label=name)
            for c, name in (("closed", "closed closure, $L=1$"), ("hybrid", "hybrid closure"))
        ),
    ]
    fig.legend(handles=key, loc="outside lower center", ncol=3, fontsize=LEGEND_FONT, frameon=False)
    return fig


def error_vs_time(closed: dict, hybrid: dict, tol: float):
    """Relative residual error of the field closures vs time, per task (line style) and depth
    (colour); one key for each."""
    from matplotlib.lines import Line2D

    set_style()
    fig, ax = plt.subplots(figsize=(3.4, 2.4))
    tasks = list(dict.fromkeys([*closed, *hybrid]))
    dash = {t: LAYER_LINESTYLES[i % len(LAYER_LINESTYLES)] for i, t in enumerate(tasks)}
    entries = {}
    for task, ds in closed.items():
        ax.semilogy(ds.time, np.maximum(ds.err_r, ERROR_FLOOR), dash[task], color=style("closed").color)
        entries["$L=1$ closed"] = style("closed").color
    for task, ds in hybrid.items():
        for L in ds.depth.values[1:]:
            err = np.maximum(ds.err_r.sel(depth=L), ERROR_FLOOR)
            ax.semilogy(ds.time, err, dash[task], color=style(depth(L)).color)
            entries[f"$L={L}$ hybrid"] = style(depth(L)).color
    ax.axhline(tol, color=style("tolerance").color, lw=0.8, ls=":")
    handles = [Line2D([], [], color=c, label=name) for name, c in entries.items()]
    handles += [Line2D([], [], color="0.3", ls=dash[t], label=t) for t in tasks]
    handles.append(Line2D([], [], color=style("tolerance").color, lw=0.8, ls=":", label="tolerance"))
    ax.set_xlabel("ODE time")
    ax.set_ylabel("relative residual error")
    ax.legend(handles=handles, fontsize=LEGEND_FONT, loc="upper left", bbox_to_anchor=(1.02, 1))  # beside
    return fig


LEVEL_TITLES = {0: "level 0: kernel frozen", 1: "level 1: operators frozen", 2: "level 2: operators moving"}


def _floor(truncation):
    from .report import FLOOR_FACTOR, integration_floor

    return FLOOR_FACTOR * integration_floor(truncation)


MAX_WIDTH_LABELS = 5  # labelled widths on one panel's axis (seven collide in a third of the text width)


def _width_ticks(ax, widths):
    """Log width axis labelled at the widths themselves (no minor-tick labels to collide): a tick
    at every width, a label at every one when there are at most ``MAX_WIDTH_LABELS``, else at
    every other one (every k-th), starting from the smallest."""
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    values = sorted({int(m) for m in widths})
    step = -(-len(values) // MAX_WIDTH_LABELS)
    ax.xaxis.set_major_locator(FixedLocator(values[::step]))
    ax.xaxis.set_minor_locator(FixedLocator([m for m in values if m not in values[::step]]))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _band_log(ax, x, values, color):
    """Geometric mean over seeds and a band of ±1 sd of log10 (computed in log space)."""
    logv = np.log10(np.where(values > 0, values, np.nan))
    mid, sd = np.nanmean(logv, 0), np.nanstd(logv, 0)
    ax.fill_between(x, 10 ** (mid - sd), 10 ** (mid + sd), color=color, alpha=0.2, lw=0)
    return 10**mid


def _panels_with_legends(n: int, width: float, height: float, legend_rows: float = 1.0):
    """A row of ``n`` panels sharing both axes, each with a legend panel below it (its own
    axes, so no legend runs into tick or axis labels): (figure, panels, legend panels)."""
    fig = plt.figure(figsize=(width, height))
    grid = fig.add_gridspec(2, n, height_ratios=[3.0, legend_rows])
    first = fig.add_subplot(grid[0, 0])
    axes = [first] + [fig.add_subplot(grid[0, i], sharex=first, sharey=first) for i in range(1, n)]
    for ax in axes[1:]:
        ax.tick_params(labelleft=False)
    legends = [fig.add_subplot(grid[1, i]) for i in range(n)]
    for ax in legends:
        ax.axis("off")
    return fig, axes, legends


def _ci(ex) -> str:
    """A fitted exponent with its interval, as a legend shows it."""
    return f"${ex.mean:.2f}$ [${ex.low:.2f}$, ${ex.high:.2f}$]"


def truncation_vs_width(truncation, smooth=None):
    """Trajectory error (largest over the horizon) vs width, one panel per level (one shared
    width and error range), per depth: geometric mean over seeds with a ±1 sd band in log space,
    the per-seed fit (mean exponent and 95% interval in the legend under each panel), the fit
    threshold (10x the integration floor) dotted."""
    from ..stats import exponent_interval
    from .exponents import shared_widths
    from .report import trajectory_error

    set_style()
    shared = shared_widths(truncation)
    levels = [int(k) for k in truncation.level.values]
    fig, axes, legend_axes = _panels_with_legends(len(levels), 6.5, 3.6, legend_rows=1.6)
    thresh = _floor(truncation)
    for ax, lax, k in zip(axes, legend_axes, levels):
        for L in truncation.depth.values:
            if k >= 1 and k >= L:
                continue
            sup = trajectory_error(truncation.err.sel(level=k, depth=L)).dropna("width", how="all")
            if not sup.sizes.get("width"):
                continue
            m, vals = sup.width.values, sup.values.T
            st = style(depth(L))
            mid = _band_log(ax, m, vals, st.color)
            # the exponent over the widths every depth has (the text's fit range; the text gives
            # a depth's wider range where it has one)
            common = np.isin(m, shared) if len(shared) > 1 else np.ones(len(m), bool)
            ex = exponent_interval(m[common], vals[:, common], thresh)
            lab = f"$L={L}$: {_ci(ex)}" if np.isfinite(ex.mean) else f"$L={L}$"
            ax.loglog(m, mid, ls="-", lw=0.8, marker=st.marker, ms=3, color=st.color, label=lab)
        if smooth is not None and k == 0:
            for L in smooth.depth.values:
                sup = trajectory_error(smooth.err.sel(depth=L))
                st = style(depth(L))
                m, vals = sup.width.values, sup.values.T
                keep = np.isfinite(vals).any(1)  # the seeds run at this depth (paired with ReLU's)
                vals = vals[keep]
                ex = exponent_interval(m, vals, thresh)
                mid = np.exp(np.nanmean(np.log(vals), 0))
                ax.loglog(
                    m,
                    mid,
                    ls="--",
                    lw=0.8,
                    marker=style("gelu").marker,
                    ms=3,
                    color=st.color,
                    label=f"GELU $L={L}$: ${ex.mean:.2f}$",
                )
        ax.axhline(thresh, color=style("tolerance").color, lw=0.8, ls=":")
        _width_ticks(ax, [*truncation.width.values, *([] if smooth is None else smooth.width.values)])
        ax.set_title(LEVEL_TITLES[k], fontsize=8)
        ax.set_xlabel(label(truncation.width))
        handles, labels = ax.get_legend_handles_labels()
        lax.legend(handles, labels, loc="upper center", fontsize=LEGEND_FONT, frameon=False, borderaxespad=0)
    axes[0].set_ylabel("largest relative error to $t_h$", wrap=True)
    axes[0].yaxis.label.set_text(wrap_label("largest relative error to $t_h$", 24))
    return fig


def truncation_vs_time(truncation):
    """Error vs time (fraction of each run's horizon t_h) per level, at the widest net of each depth:
    geometric mean over seeds, ±1 sd band in log space."""
    set_style()
    levels = [int(k) for k in truncation.level.values]
    fig, axes = plt.subplots(1, len(levels), figsize=(2.3 * len(levels), 2.4), sharey=True, squeeze=False)
    tau = truncation.tau.values
    for ax, k in zip(axes[0], levels):
        for L in truncation.depth.values:
            if k >= 1 and k >= L:
                continue
            err = truncation.err.sel(level=k, depth=L).dropna("width", how="all")
            if not err.sizes.get("width"):
                continue
            m = int(err.width.values[-1])
            vals = err.sel(width=m).values  # (seed, tau)
            st = style(depth(L))
            mid = _band_log(ax, tau[1:], vals[:, 1:], st.color)
            ax.semilogy(
                tau[1:], mid, lw=0.8, marker=st.marker, ms=2.5, color=st.color, label=f"$L={L}$, $m={m}$"
            )
        ax.set_title(LEVEL_TITLES[k], fontsize=8)
        ax.set_xlabel("$t/t_h$")
        ax.legend(fontsize=LEGEND_FONT, loc="lower right")
    axes[0][0].set_ylabel("relative residual error")
    return fig


def switching(truncation):
    """Fraction of (unit, sample) masks that differ from t = 0 at the horizon vs width, per depth."""
    from ..stats import exponent_interval

    set_style()
    fig, ax = plt.subplots(figsize=(3.2, 2.4))
    sw = truncation.switch_fraction.isel(tau=-1)
    for L in truncation.depth.values:
        v = sw.sel(depth=L).dropna("width", how="all")
        m, vals = v.width.values, v.values.T
        st = style(depth(L))
        mid = _band_log(ax, m, vals, st.color)
        ex = exponent_interval(m, vals)
        ax.loglog(
            m,
            mid,
            lw=0.8,
            marker=st.marker,
            ms=3,
            color=st.color,
            label=f"$L={L}$: ${ex.mean:.2f}$ [${ex.low:.2f}$, ${ex.high:.2f}$]",
        )
    _width_ticks(ax, truncation.width.values)
    ax.set_xlabel(label(truncation.width))
    ax.set_ylabel(wrap_label("fraction of masks switched by $t_h$", 22))
    ax.legend(fontsize=6)
    return fig


def gram_drift(drift):
    """Relative Gram-operator drift at the horizon vs width, per depth and layer (geometric mean
    over seeds); C drift (L = 1) vs time."""
    from ..stats import exponent_interval

    set_style()
    fig, axes = plt.subplots(1, 2, figsize=(6.5, 2.6), width_ratios=[1.0, 0.8])
    last = drift.isel(tau=-1)
    for L in last.depth.values:
        st = style(depth(L))  # colour and marker: the depth; line style: the layer
        for l in range(1, int(L) + 1):
            v = last.gram_drift.sel(depth=L, layer=l).dropna("width", how="all")
            if v.sizes["width"] >= 2:
                m, vals = v.width.values, v.values.T
                ex = exponent_interval(m, vals)
                mid = np.exp(np.nanmean(np.log(vals), 0))
                fit = f": ${ex.mean:.2f}$ [${ex.low:.2f}$, ${ex.high:.2f}$]" if np.isfinite(ex.mean) else ""
                axes[0].loglog(
                    m,
                    mid,
                    marker=st.marker,
                    color=st.color,
                    ls=LAYER_LINESTYLES[(l - 1) % len(LAYER_LINESTYLES)],
                    ms=3,
                    lw=0.8,
                    label=f"$L={L}$, $\\ell={l}$" + fit,
                )
    _width_ticks(axes[0], drift.width.values)
    axes[0].set_xlabel(label(drift.width))
    axes[0].set_ylabel("$\\|\\Gamma(t_h)-\\Gamma(0)\\|/\\|\\Gamma(0)\\|$")
    axes[0].legend(fontsize=LEGEND_FONT, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    c = drift.coactivation_drift.sel(depth=1) if 1 in drift.depth.values else None
    if c is not None:
        for m in c.width.values:
            v = c.sel(width=m).mean("seed")
            if np.isfinite(v.values).any():
                axes[1].plot(c.tau, v, label=f"$m={m}$")
    axes[1].set_xlabel("$t/t_h$")
    axes[1].set_ylabel("$\\|C(t)-C(0)\\|/\\|C(0)\\|$ ($L=1$)")
    axes[1].legend(fontsize=LEGEND_FONT)
    return fig


def kernel_spectrum(drift):
    """Eigenvalues of K(t)/n over time (geometric mean over seeds: a log axis), smallest width,
    shallowest and deepest net; time t/t_h by colour, read off a colour bar (no legend of one
    entry per time)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    set_style()
    depths = [int(drift.depth.values[0]), int(drift.depth.values[-1])]
    fig, axes = plt.subplots(1, len(depths), figsize=(6.0, 2.5), sharey=True)
    axes = np.atleast_1d(axes)
    cmap = plt.get_cmap("viridis")
    taus = drift.tau.values
    norm = Normalize(vmin=float(taus.min()), vmax=float(taus.max()))
    for ax, L in zip(axes, depths):
        eig = drift.kernel_eigenvalue.sel(depth=L)
        spec = np.exp(np.log(eig.where(eig > 0)).mean("seed")).dropna("width", how="all")  # geometric
        m = int(spec.width.values[0])
        for t in spec.tau.values:
            ax.semilogy(spec.mode, spec.sel(width=m, tau=t), color=cmap(norm(t)), lw=1)
        ax.set_title(f"$L={L}$, $m={m}$", fontsize=8)
        ax.set_xlabel("eigenvalue index")
    axes[0].set_ylabel("eigenvalue of $K(t)/n$")
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), label="$t/t_h$", shrink=0.9)
    return fig


def _depth_line(ax, L, x, y):
    """One log-log curve of depth ``L`` in its registry colour and marker."""
    st = style(depth(L))
    ax.loglog(x, y, "-", marker=st.marker, color=st.color, ms=3, lw=0.8, label=f"$L={L}$")


SWITCH_MARK = {"marker": "x", "ms": 7, "mew": 1.6, "color": "#000000", "ls": "none", "zorder": 5}


def _value_ticks(ax, values, axis: str = "x"):
    """A log axis labelled at the data's own values (a range inside one decade gets one
    labelled tick otherwise)."""
    from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

    target = ax.xaxis if axis == "x" else ax.yaxis
    values = np.unique(np.asarray(values, float))
    target.set_major_locator(FixedLocator(values))
    target.set_major_formatter(FormatStrFormatter("%.3g"))
    target.set_minor_formatter(NullFormatter())


def eta_scaling(descent):
    """One-step residual error vs η (log-log), with the η^2 reference and a black cross where a
    mask switched within the step; GD-vs-GF error vs η labelled at the measured η."""
    set_style()
    fig, axes = plt.subplots(1, 2, figsize=(6.0, 2.6))
    switched = False
    for L in descent.depth.values:
        err = descent.one_step_error.sel(depth=L).max("seed")
        sw = descent.switched.sel(depth=L).max("seed").values > 0
        _depth_line(axes[0], L, descent.eta, np.maximum(err, ERROR_FLOOR))
        if sw.any():
            axes[0].plot(descent.eta.values[sw], np.maximum(err.values[sw], ERROR_FLOOR), **SWITCH_MARK)
            switched = True
    eta = descent.eta.values
    axes[0].loglog(eta, 1e-2 * eta**2, "k:", lw=0.8, label="$\\propto\\eta^2$")
    if switched:
        axes[0].plot([], [], **SWITCH_MARK, label="mask switched")
    axes[0].set_xlabel(label(descent.eta))
    axes[0].set_ylabel("one-step residual error")
    axes[0].legend(fontsize=LEGEND_FONT)
    for L in descent.depth.values:
        _depth_line(axes[1], L, descent.gd_eta, descent.gd_vs_gf_error.sel(depth=L))
    _value_ticks(axes[1], descent.gd_eta.values)
    axes[1].set_xlabel(label(descent.gd_eta, wrap=28))
    axes[1].set_ylabel("GD vs GF at $t=\\eta k$")
    axes[1].legend(fontsize=LEGEND_FONT)
    return fig


def _first(per_task: dict):
    return per_task[next(iter(per_task))]


# the three networks of ``structured_closure``: registry style (the training half's models of the
# same kind) and legend name
CLOSURE_MODELS = {
    "structured": ("structured", "structured"),
    "linear": ("struct_alpha0", r"linear path ($\alpha=0$)"),
    "relu": ("mlp", "ReLU"),
}


def structured_closure(ds):
    """Level-0 trajectory error (largest over the horizon) vs width for the structured net, its
    linear path and the ReLU net, one panel per depth: geometric mean over seeds with a ±1 sd band
    in log space and the line of the mean per-seed exponent through the mean log error (exponent
    and 95% interval in the legend)."""
    from ..stats import exponent_interval
    from .structured_report import trajectory_error

    set_style()
    depths = [int(L) for L in ds.depth.values]
    fig, axes = plt.subplots(1, len(depths), figsize=(3.2 * len(depths), 2.6), sharey=True, squeeze=False)
    sup = trajectory_error(ds)
    m = ds.width.values
    for ax, L in zip(axes[0], depths):
        for model, (key, name) in CLOSURE_MODELS.items():
            vals = sup.sel(model=model, depth=L).transpose("seed", "width").values
            st = style(key)
            mid = _band_log(ax, m, vals, st.color)
            ex = exponent_interval(m, vals)
            ax.loglog(m, mid, ls="none", marker=st.marker, ms=3.5, color=st.color)
            centre = np.nanmean(np.log(m)), np.nanmean(np.log(mid))
            fit = np.exp(centre[1] + ex.mean * (np.log(m) - centre[0]))
            lab = f"{name}: ${ex.mean:.2f}$ [${ex.low:.2f}$, ${ex.high:.2f}$]"
            ax.loglog(m, fit, ls="-", lw=0.8, color=st.color, label=lab)
        _width_ticks(ax, m)
        ax.set_title(f"$L={L}$", fontsize=8)
        ax.set_xlabel(label(ds.width))
        ax.legend(fontsize=5.5, loc="lower left", frameon=False)
    axes[0][0].set_ylabel("level-0 error, largest to $t_h$")
    return fig


# name -> (datasets, settings) -> figure, as listed in ``learndyn.figures.FIGURES``; per-task
# datasets arrive as dicts task -> dataset, the first task being the one the text quotes
FIGURES = {
    "residuals": lambda ds, cfg: residual_trajectories(_first(ds["closed_flow"]), _first(ds["hybrid_flow"])),
    "error_time": lambda ds, cfg: error_vs_time(
        ds["closed_flow"], ds["hybrid_flow"], cfg["tolerances"]["flow"]
    ),
    "truncation": lambda ds, cfg: truncation_vs_width(ds["truncation"], ds.get("smooth")),
    "truncation_time": lambda ds, cfg: truncation_vs_time(ds["truncation"]),
    "switching": lambda ds, cfg: switching(ds["truncation"]),
    "gram_drift": lambda ds, cfg: gram_drift(ds["drift"]),
    "spectrum": lambda ds, cfg: kernel_spectrum(ds["drift"]),
    "eta_scaling": lambda ds, cfg: eta_scaling(ds["gradient_descent"]),
    "structured_closure": lambda ds, cfg: structured_closure(ds["structured_closure"]),
}
