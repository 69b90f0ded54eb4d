"""Figures of the theory stage (one function per figure; axis labels from dataset attrs); names,
inputs and captions are registered in ``learndyn.figures``. Closures, flows and depths keep
their registry colour and marker (``learndyn.plotting.STYLES``) in every figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..plotting import depth, label, set_style, style
from ..stats import fit_exponent

# line style of layer l = 1, 2, ... in ``gram_drift`` (colour and marker there are the depth's)
LAYER_LINESTYLES = ("-", "--", ":", "-.")


def residual_trajectories(e1, e2):
    """Residual r_mu(t): weight-space flow (lines) vs closed/hybrid field closure (markers)."""
    set_style()
    depths = list(e2.depth.values)
    fig, axes = plt.subplots(1, 1 + len(depths), figsize=(2.0 * (1 + len(depths)), 2.2), sharey=True)
    panels = [("$L=1$ closed", "closed", e1.r_weight.isel(seed=0), e1.r_field.isel(seed=0))]
    panels += [
        (
            f"$L={L}$ hybrid",
            "hybrid",
            e2.r_weight.sel(depth=L).isel(seed=0),
            e2.r_hybrid.sel(depth=L).isel(seed=0),
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
    return fig


def error_vs_time(e1s: dict, e2s: dict, tol: float):
    """Relative residual error of the field closures vs time, per task and depth."""
    set_style()
    fig, ax = plt.subplots(figsize=(3.4, 2.4))
    for task, e1 in e1s.items():
        ax.semilogy(
            e1.time,
            np.maximum(e1.err_r, 1e-17),
            "-" if task == list(e1s)[0] else "--",
            color=style("closed").color,
            label=f"$L=1$ closed, {task}",
        )
    for task, e2 in e2s.items():
        for L in e2.depth.values[1:]:
            ax.semilogy(
                e2.time,
                np.maximum(e2.err_r.sel(depth=L), 1e-17),
                "-" if task == list(e2s)[0] else "--",
                color=style(depth(L)).color,
                label=f"$L={L}$ hybrid, {task}",
            )
    ax.axhline(tol, color=style("tolerance").color, lw=0.8, ls=":", label="tolerance")
    ax.set_xlabel("ODE time")
    ax.set_ylabel("relative residual error")
    ax.legend(fontsize=5, ncol=2)
    return fig


def truncation_vs_width(e5):
    """Truncation error at the final time vs width (log-log) with fitted slopes."""
    set_style()
    fig, axes = plt.subplots(1, 2, figsize=(6.0, 2.4), sharey=True)
    last = e5.isel(time=-1).mean("seed")
    for ax, (name, title) in zip(
        axes, (("err_frozen_gamma", "frozen-$\\Gamma$ closure"), ("err_ntk", "NTK closure"))
    ):
        for L in last.depth.values:
            err = last[name].sel(depth=L)
            m = err.width.values
            ok = np.isfinite(err.values)
            if not ok.any():
                continue
            slope, icpt = fit_exponent(m[ok], err.values[ok])
            st = style(depth(L))
            ax.loglog(
                m[ok],
                err.values[ok],
                ls="none",
                marker=st.marker,
                ms=3,
                color=st.color,
                label=f"$L={L}$: slope {slope:.2f}",
            )
            if np.isfinite(slope):
                ax.loglog(m[ok], np.exp(icpt) * m[ok] ** slope, "-", lw=0.8, color=st.color)
        ax.set_title(title, fontsize=8)
        ax.set_xlabel(label(e5.width))
        ax.legend(fontsize=6)
    axes[0].set_ylabel(f"relative error at $t={float(e5.time[-1]):g}$")
    return fig


def gram_drift(e6):
    """Relative Gram-operator drift at the final time vs width, per depth and layer; C drift (L=1)."""
    set_style()
    fig, axes = plt.subplots(1, 2, figsize=(6.0, 2.4))
    last = e6.isel(time=-1).mean("seed")
    for L in last.depth.values:
        st = style(depth(L))  # colour and marker: the depth; line style: the layer
        for l in range(1, int(L) + 1):
            v = last.gram_drift.sel(depth=L, layer=l)
            ok = np.isfinite(v.values)
            if ok.any():
                slope, _ = fit_exponent(v.width.values[ok], v.values[ok])
                axes[0].loglog(
                    v.width.values[ok],
                    v.values[ok],
                    marker=st.marker,
                    color=st.color,
                    ls=LAYER_LINESTYLES[(l - 1) % len(LAYER_LINESTYLES)],
                    ms=3,
                    lw=0.8,
                    label=f"$L={L}$, $\\ell={l}$ ({slope:.2f})",
                )
    axes[0].set_xlabel(label(e6.width))
    axes[0].set_ylabel("$\\|\\Gamma(t)-\\Gamma(0)\\|/\\|\\Gamma(0)\\|$")
    axes[0].legend(fontsize=5, ncol=2)
    c = e6.coactivation_drift.mean("seed")
    for m in c.width.values:
        if np.isfinite(c.sel(width=m).values).any():
            axes[1].plot(c.time, c.sel(width=m), label=f"$m={m}$")
    axes[1].set_xlabel(label(e6.time))
    axes[1].set_ylabel("$\\|C(t)-C(0)\\|/\\|C(0)\\|$ ($L=1$)")
    axes[1].legend(fontsize=6)
    return fig


def kernel_spectrum(e6):
    """Eigenvalues of K(t)/n over time, smallest and largest width, deepest and shallowest net."""
    set_style()
    depths = [int(e6.depth.values[0]), int(e6.depth.values[-1])]
    fig, axes = plt.subplots(1, len(depths), figsize=(3.0 * len(depths), 2.4), sharey=True)
    cmap = plt.get_cmap("viridis")
    for ax, L in zip(np.atleast_1d(axes), depths):
        spec = e6.kernel_eigenvalue.sel(depth=L).dropna("width", how="all")
        m = int(spec.width.values[0])
        for k, t in enumerate(spec.time.values):
            ax.semilogy(
                spec.mode,
                spec.sel(width=m, time=t),
                color=cmap(k / max(1, spec.sizes["time"] - 1)),
                lw=1,
                label=f"$t={t:.2g}$",
            )
        ax.set_title(f"$L={L}$, $m={m}$", fontsize=8)
        ax.set_xlabel("eigenvalue index")
    np.atleast_1d(axes)[0].set_ylabel("eigenvalue of $K(t)/n$")
    np.atleast_1d(axes)[0].legend(fontsize=6)
    return fig


def _depth_line(ax, L, x, y):
    """One log-log curve of depth ``L`` in its registry colour and marker."""
    st = style(depth(L))
    ax.loglog(x, y, "-", marker=st.marker, color=st.color, ms=3, lw=0.8, label=f"$L={L}$")


def eta_scaling(e4):
    """One-step residual error vs η (log-log), with the η^2 reference; GD-vs-GF error inset."""
    set_style()
    fig, axes = plt.subplots(1, 2, figsize=(6.0, 2.4))
    for L in e4.depth.values:
        st = style(depth(L))
        err = e4.one_step_error.sel(depth=L).max("seed")
        sw = e4.switched.sel(depth=L).max("seed").values > 0
        _depth_line(axes[0], L, e4.eta, np.maximum(err, 1e-17))
        if sw.any():
            axes[0].loglog(e4.eta.values[sw], np.maximum(err.values[sw], 1e-17), "x", color=st.color)
    eta = e4.eta.values
    axes[0].loglog(eta, 1e-2 * eta**2, "k:", lw=0.8, label="$\\propto\\eta^2$")
    axes[0].set_xlabel(label(e4.eta))
    axes[0].set_ylabel("one-step residual error")
    axes[0].legend(fontsize=6)
    for L in e4.depth.values:
        _depth_line(axes[1], L, e4.gd_eta, e4.gd_vs_gf_error.sel(depth=L))
    axes[1].set_xlabel(label(e4.gd_eta))
    axes[1].set_ylabel("GD vs GF at $t=\\eta k$")
    axes[1].legend(fontsize=6)
    return fig


def _first(per_task: dict):
    return per_task[next(iter(per_task))]


# name -> (datasets, settings) -> figure, as listed in ``learndyn.figures.FIGURES``; per-task
# datasets arrive as dicts task -> dataset, the first task being the one the text quotes
FIGURES = {
    "residuals": lambda ds, cfg: residual_trajectories(_first(ds["closed_flow"]), _first(ds["hybrid_flow"])),
    "error_time": lambda ds, cfg: error_vs_time(
        ds["closed_flow"], ds["hybrid_flow"], cfg["tolerances"]["flow"]
    ),
    "truncation": lambda ds, cfg: truncation_vs_width(ds["truncation"]),
    "gram_drift": lambda ds, cfg: gram_drift(ds["drift"]),
    "spectrum": lambda ds, cfg: kernel_spectrum(ds["drift"]),
    "eta_scaling": lambda ds, cfg: eta_scaling(ds["gradient_descent"]),
}
