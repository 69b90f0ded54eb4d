"""The truncation hierarchy measured level by level (spec §5.4-§5.5): truncated closures against
the true flow to the time where the loss has fallen by a given fraction, per depth job.

Levels (``dynamics.hybrid_rate``; the true flow is weight-space gradient flow):

    0  kernel frozen at t = 0: r(t) = exp(-K(0) t / n) r(0)                       (``ntk_residual``)
    1  weight-induced operators (M, 𝒢, Γ) frozen at t = 0, masks moving (frozen-Γ)
    2  operators moving by their own rate, with the conjugate inside that rate frozen at t = 0

Level k >= 1 is exact by construction at depth L <= k (no frozen object enters), so it is
integrated only where it truncates (k < L); the L = 1 level-1 run, exact, measures the
integration floor. Level 0 is exact at L = 1 between mask switches (K = G ⊙ C changes only when
a unit flips), so its L = 1 error is entirely due to switching; the smooth-activation control
(``smooth_weight_flow``) removes switching altogether.

Every (depth, width, seed) run is independent (its own network, horizon and time grid), so the
results do not depend on how the grid is split into jobs.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import xarray as xr

from ..io import cf_attrs as _a
from ..runtime import timed
from .dynamics import ntk_residual
from .experiments import base_attrs
from .fields import coactivation, gradient_W, init_network, kernel, training_fields
from .flows import fields_along, hybrid_flow, weight_flow
from .integrate import Layout, Settings, integrate
from .levels import runs_level
from .operators import gram_operator_sq_norm
from .settings import DepthRun, SmoothRun

DT = torch.float64
FLOWS = ("weight", "level1", "level2")  # integrated flows whose wall time is recorded


def _np(x):
    return x.detach().cpu().numpy()


# --- horizon, errors, switching -------------------------------------------------------------


def loss_drop_horizon(K0, r0, drop: float, t_max: float) -> float:
    """Time at which the level-0 loss |exp(-K0 t/n) r0|^2 / (2n) has fallen to (1 - drop) of its
    t = 0 value (bisection on the closed form), or ``t_max`` where it never does (a plateau:
    r0 has weight on the kernel's null space) or only later. ``K0`` (n, n), ``r0`` (n,)."""
    n = r0.shape[-1]
    lam, U = np.linalg.eigh(np.asarray(K0, float))
    c2 = (U.T @ np.asarray(r0, float)) ** 2
    target = (1.0 - drop) * c2.sum()

    def remaining(t):
        return float((c2 * np.exp(-2.0 * np.clip(lam, 0.0, None) * t / n)).sum())

    if remaining(t_max) > target:
        return float(t_max)
    lo, hi = 0.0, float(t_max)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if remaining(mid) > target else (lo, mid)
    return hi


def shared_horizon(p, depth: int, width: int, seeds, drop: float, t_max: float) -> float:
    """The horizon shared by every width and seed of a depth (rule "shared"): the median over
    ``seeds`` of the time at which the level-0 (NTK) loss of the ReLU network of ``width`` (the
    smallest width of the depth's range, where the kernel moves most) has fallen by ``drop``
    (``loss_drop_horizon``), capped at ``t_max``. Level 0 is the kernel frozen at t = 0, so this
    costs one kernel per seed and no integration. ``p`` the problem (X (n, d), y (n,))."""
    times = []
    for seed in seeds:
        Ws, a = init_network([seed], p.d, [width] * depth, p.X.device)
        F0 = training_fields(Ws, a, p.X, p.y)
        times.append(loss_drop_horizon(_np(kernel(F0.phi, F0.b)[0]), _np(F0.r[0]), drop, t_max))
    return float(np.median(times))


def relative_residual_error(r, r_ref):
    """max_mu |r_mu(t) - r_ref,mu(t)| / max_mu |r_ref,mu(0)| at each time: (T, S, n) -> (T, S)."""
    return (r - r_ref).abs().amax(-1) / r_ref[0].abs().amax(-1)


def switch_fraction(D0, Dt) -> torch.Tensor:
    """Fraction of (unit, sample) mask entries, over all layers, whose mask differs from t = 0.

    ``D0``, ``Dt`` lists over layers of (S, n, m_l) masks in {0, 1}. Returns (S,).
    """
    changed = sum((d != d0).flatten(1).sum(-1) for d0, d in zip(D0, Dt))
    total = sum(d0[0].numel() for d0 in D0)
    return changed.to(DT) / total


# --- smooth-activation control ---------------------------------------------------------------


def gelu(h):
    """σ(h) = h Φ(h) (exact GELU)."""
    return h * torch.special.ndtr(h)


def gelu_prime(h):
    """σ'(h) = Φ(h) + h φ(h)."""
    return torch.special.ndtr(h) + h * torch.exp(-0.5 * h * h) / math.sqrt(2.0 * math.pi)


ACTIVATIONS = {"gelu": (gelu, gelu_prime)}


def smooth_fields(Ws, a, X, y, activation: str = "gelu"):
    """Forward and backward pass of the fixed-readout network with a smooth activation σ
    (spec §1-§2 with σ, σ' in place of ReLU and Θ): lists phi (φ^(0..L)) and b (b^(1..L)),
    residual r. The kernel K = sum_l Q^(l-1) ⊙ S^(l) and the gradient of §2 keep their form."""
    sigma, dsigma = ACTIVATIONS[activation]
    S = Ws[0].shape[0]
    phi, h = [X.expand(S, *X.shape)], []
    for W in Ws:
        h.append(phi[-1] @ W.transpose(-1, -2) / math.sqrt(W.shape[-1]))
        phi.append(sigma(h[-1]))
    m_L = a.shape[-1]
    r = phi[-1] @ a.unsqueeze(-1) / math.sqrt(m_L)
    r = r.squeeze(-1) - y
    b = [dsigma(h[-1]) * a.unsqueeze(-2) / math.sqrt(m_L)]
    for l in range(len(Ws) - 1, 0, -1):
        b.insert(0, dsigma(h[l - 1]) * (b[0] @ Ws[l]) / math.sqrt(Ws[l].shape[-1]))
    return phi, b, r


def smooth_weight_flow(Ws, a, X, y, times, settings: Settings, activation: str = "gelu"):
    """Weight-space gradient flow of the smooth-activation network (no switching, no events).

    Returns {"W": [(T, S, m_l, m_{l-1})], "r": (T, S, n), "stats"}."""
    layout = Layout(Ws)

    def rhs(t, state, mode):
        phi, b, r = smooth_fields(layout.unpack(state), a, X, y, activation)
        return layout.pack([-g for g in gradient_W(phi, b, r)])

    Y, stats = integrate(rhs, layout.pack(Ws), times, settings)
    W = layout.unpack(Y)
    r = torch.stack([smooth_fields([w[t] for w in W], a, X, y, activation)[2] for t in range(len(times))])
    return {"W": W, "r": r, "stats": stats}


# --- one depth job ---------------------------------------------------------------------------


def drift_diagnostics(wf, Fw, a, depth: int, width: int, gram_max_width: int):
    """Drift along the true flow of one run (``wf``, its fields ``Fw`` at T times, n samples):
    kernel spectrum (T, n) (eigenvalues of K(t)/n, descending), co-activation drift (T,) at
    L = 1 and Gram-operator drift (L, T) up to ``gram_max_width`` (NaN where not measured)."""
    T, n = len(Fw), Fw[0].r.shape[-1]
    spectrum, c_drift, g_drift = np.full((T, n), np.nan), np.full(T, np.nan), np.full((depth, T), np.nan)
    for t, F in enumerate(Fw):
        spectrum[t] = _np(torch.linalg.eigvalsh(kernel(F.phi, F.b))[0].flip(-1)) / n
        if depth == 1:
            C0, C = coactivation(Fw[0].h[0], a), coactivation(F.h[0], a)
            c_drift[t] = float((C - C0).norm() / C0.norm())
        if width <= gram_max_width:
            for l in range(depth):
                num = gram_operator_sq_norm(wf["W"][l][t], F.D[l], wf["W"][l][0], Fw[0].D[l])
                den = gram_operator_sq_norm(wf["W"][l][0], Fw[0].D[l])
                g_drift[l, t] = float(torch.sqrt(num / den)[0])
    return spectrum, c_drift, g_drift


def run_one(
    p, run: DepthRun, width: int, seed: int, tau, t_shared: float | None = None, levels: bool = True
) -> dict:
    """One (width, seed) run of ``run_depth``: the horizon t_h (``t_shared``, else the run's own
    level-0 loss-drop time), the true flow stored at t_h x ``tau`` (T,), the error of each level
    of ``run.levels`` (levels, T; NaN where it is not run: the levels >= 1 only with ``levels``,
    the seeds within ``run.level_seeds``), loss and switch fraction (T,), events per entry, wall
    times (flows,) and the drift."""
    n, depth = p.n, run.depth
    err, wall = np.full((len(run.levels), len(tau)), np.nan), np.full(len(FLOWS), np.nan)
    Ws, a = init_network([seed], p.d, [width] * depth, p.X.device)
    F0 = training_fields(Ws, a, p.X, p.y)
    K0 = kernel(F0.phi, F0.b)
    t_h = (
        t_shared
        if t_shared is not None
        else loss_drop_horizon(_np(K0[0]), _np(F0.r[0]), run.loss_drop, run.t_max)
    )
    times = torch.tensor(tau * t_h, dtype=DT)
    wf, wall[0] = timed(weight_flow, Ws, a, p.X, p.y, times, run.integrator)
    Fw = fields_along(wf["W"], a, p.X, p.y)
    r_w = torch.stack([F.r for F in Fw])  # (T, 1, n)
    for k, level in enumerate(run.levels):
        if not runs_level(level, depth, width, run.floor_max_width, run.levels_max_width):
            continue
        if level >= 1 and not levels:
            continue
        if level == 0:
            r_lvl = ntk_residual(K0, F0.r, times)
        else:
            out, wall[level] = timed(lambda: hybrid_flow(Ws, a, p.X, p.y, times, run.integrator, level=level))
            r_lvl = out["r"]
        err[k] = _np(relative_residual_error(r_lvl, r_w)[:, 0])
    spectrum, c_drift, g_drift = drift_diagnostics(wf, Fw, a, depth, width, run.gram_max_width)
    return dict(
        horizon=t_h,
        loss=_np(0.5 * (r_w[:, 0] ** 2).mean(-1)),
        events=wf["stats"].events / (n * width * depth),
        switched=np.array([float(switch_fraction(Fw[0].D, F.D)[0]) for F in Fw]),
        err=err,
        wall=wall,
        spectrum=spectrum,
        c_drift=c_drift,
        g_drift=g_drift,
    )


def _log_run(run: DepthRun, width: int, seed: int, one: dict, log) -> None:
    done = ", ".join(
        f"level {lv} {np.nanmax(one['err'][k]):.2e}"
        for k, lv in enumerate(run.levels)
        if np.isfinite(one["err"][k]).any()
    )
    print(
        f"L={run.depth} m={width} seed={seed}: t_h={one['horizon']:.3g}, {done}, "
        f"wall {np.nansum(one['wall']):.1f}s",
        file=log,
        flush=True,
    )


def run_depth(p, run: DepthRun, log=None) -> xr.Dataset:
    """The levels ``run.levels`` against the true flow at one depth over widths x seeds
    (``settings.depth_run``).

    Under ``run.horizon_rule`` "shared" every run integrates to the depth's one ODE time
    (``shared_horizon``), under "per_run" to its own (``loss_drop_horizon`` of its level-0 loss);
    stored at ``run.n_times`` fractions tau = t / t_h (``run_one``). Returns a Dataset with
    a length-1 depth dimension (``merge.merge`` concatenates the depth jobs): errors (level,
    width, seed, tau), loss, horizon, switching, wall times, and the drift diagnostics (Γ drift,
    C drift at L = 1, spectrum).
    """
    tau = np.linspace(0.0, 1.0, run.n_times)
    t_shared = None
    if run.horizon_rule == "shared":
        t_shared = shared_horizon(p, run.depth, run.widths[0], run.seeds, run.loss_drop, run.t_max)
    runs = []
    for m in run.widths:
        runs.append([])
        for i, seed in enumerate(run.seeds):
            runs[-1].append(run_one(p, run, m, seed, tau, t_shared, levels=i < run.level_seeds))
            if log is not None:
                _log_run(run, m, seed, runs[-1][-1], log)
    ds = depth_dataset(p.n, run, tau, runs)
    weights = "regenerate with init_network([seed], d, [width]*L)"
    ds.attrs.update(base_attrs(p, run.integrator, weights=weights))
    return ds


def depth_dataset(n: int, run: DepthRun, tau, runs) -> xr.Dataset:
    """The dataset of one depth job from its runs (``run_one`` per width, then seed)."""

    def stack(key):  # (width, seed, ...), with a length-1 depth axis in front
        return np.array([[one[key] for one in row] for row in runs])[None]

    dims = ("depth", "width", "seed")
    ds = xr.Dataset(
        {
            "err": (
                ("depth", "level", "width", "seed", "tau"),
                np.moveaxis(stack("err"), 3, 1),
                _a("relative residual error of the level's closure vs the true flow"),
            ),
            "loss": ((*dims, "tau"), stack("loss"), _a("training loss of the true flow")),
            "horizon": (dims, stack("horizon"), _a("horizon t_h: time of the level-0 loss drop", "ODE time")),
            "switch_fraction": (
                (*dims, "tau"),
                stack("switched"),
                _a("fraction of (unit, sample) masks differing from t = 0"),
            ),
            "events_per_entry": (
                dims,
                stack("events"),
                _a("mask switches (events) per (unit, sample) entry"),
            ),
            "wall_s": (
                ("depth", "flow", "width", "seed"),
                np.moveaxis(stack("wall"), 3, 1),
                _a("wall time of the flow", "s"),
            ),
            "gram_drift": (
                ("depth", "width", "layer", "seed", "tau"),
                np.swapaxes(stack("g_drift"), 2, 3),
                _a("relative Gram-operator drift |Gamma(t) - Gamma(0)|/|Gamma(0)|"),
            ),
            "kernel_eigenvalue": ((*dims, "tau", "mode"), stack("spectrum"), _a("eigenvalue of K(t)/n")),
        },
        coords={
            "depth": ("depth", [run.depth], _a("number of trained hidden layers L")),
            "level": (
                "level",
                list(run.levels),
                _a("truncation level (0 NTK, 1 frozen-Gamma, 2 moving Gamma)"),
            ),
            "width": ("width", list(run.widths), _a("hidden width m")),
            "seed": ("seed", list(run.seeds), _a("network seed")),
            "tau": ("tau", tau, _a("time as a fraction of the horizon t_h")),
            "flow": ("flow", list(FLOWS), _a("integrated flow")),
            "layer": ("layer", list(range(1, run.depth + 1)), _a("layer l")),
            "mode": ("mode", list(range(1, n + 1)), _a("eigenvalue index")),
        },
        attrs={
            "loss_drop": run.loss_drop,
            "horizon_t_max": run.t_max,
            "horizon_rule": run.horizon_rule,
            "integrator_rtol": run.integrator.rtol,
        },
    )
    if run.depth == 1:  # C is the kernel's only moving factor at L = 1; elsewhere no variable, not NaN
        ds["coactivation_drift"] = (
            (*dims, "tau"),
            stack("c_drift"),
            _a("relative change |C(t) - C(0)|/|C(0)| (L = 1)"),
        )
    return ds


def run_smooth_control(p, run: SmoothRun, log=None) -> xr.Dataset:
    """Level 0 (linearised flow r = exp(-K(0) t/n) r(0)) against the weight-space flow for a
    smooth activation (``settings.smooth_run``): the NTK-truncation experiment without mask
    switching.

    Same horizon rule and error as ``run_depth``. Returns err (depth, width, seed, tau), horizon.
    """
    ctl = run.control
    depths, widths, seeds, n_times, activation = (
        ctl.depths,
        ctl.widths,
        run.seeds,
        run.n_times,
        ctl.activation,
    )
    tau = np.linspace(0.0, 1.0, n_times)
    err = np.full((len(depths), len(widths), len(seeds), n_times), np.nan)
    horizon = np.full((len(depths), len(widths), len(seeds)), np.nan)
    wall = np.full_like(horizon, np.nan)
    relu_width = dict(run.horizon_widths)
    for i, L in enumerate(depths):
        t_shared, at_depth = None, run.seeds_at(L)  # the ReLU depth job's seeds: paired
        if run.horizon_rule == "shared":  # the ReLU depth job's horizon: same ODE time, paired
            t_shared = shared_horizon(p, L, relu_width[L], at_depth, run.loss_drop, run.t_max)
        for j, m in enumerate(widths):
            for s, seed in enumerate(seeds):
                if seed not in at_depth:
                    continue
                Ws, a = init_network([seed], p.d, [m] * L, p.X.device)
                phi, b, r0 = smooth_fields(Ws, a, p.X, p.y, activation)
                K0 = kernel(phi, b)
                t_h = t_shared
                if t_h is None:
                    t_h = loss_drop_horizon(_np(K0[0]), _np(r0[0]), run.loss_drop, run.t_max)
                times = torch.tensor(tau * t_h, dtype=DT)
                out, wall[i, j, s] = timed(
                    smooth_weight_flow, Ws, a, p.X, p.y, times, run.integrator, activation
                )
                horizon[i, j, s] = t_h
                err[i, j, s] = _np(relative_residual_error(ntk_residual(K0, r0, times), out["r"])[:, 0])
                if log is not None:
                    print(
                        f"{activation} L={L} m={m} seed={seed}: t_h={t_h:.3g}, level 0 "
                        f"{err[i, j, s].max():.2e}, wall {wall[i, j, s]:.1f}s",
                        file=log,
                        flush=True,
                    )
    ds = xr.Dataset(
        {
            "err": (
                ("depth", "width", "seed", "tau"),
                err,
                _a(f"relative residual error, linearised flow vs true flow ({activation})"),
            ),
            "horizon": (("depth", "width", "seed"), horizon, _a("horizon t_h", "ODE time")),
            "wall_s": (("depth", "width", "seed"), wall, _a("wall time of the weight flow", "s")),
        },
        coords={
            "depth": ("depth", list(depths), _a("number of trained hidden layers L")),
            "width": ("width", list(widths), _a("hidden width m")),
            "seed": ("seed", list(seeds), _a("network seed")),
            "tau": ("tau", tau, _a("time as a fraction of the horizon t_h")),
        },
        attrs={
            "activation": activation,
            "loss_drop": run.loss_drop,
            "horizon_t_max": run.t_max,
            "horizon_rule": run.horizon_rule,
        },
    )
    ds.attrs.update(base_attrs(p, run.integrator))
    return ds
