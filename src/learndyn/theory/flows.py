"""Gradient-flow trajectories in weight space and field space with the same integrator (spec §8.1).

Each function takes the t = 0 network (weights ``Ws``, readout ``a``) and the data (X, y),
integrates with ``integrate.integrate`` at the given ``Settings`` and returns a dict of
trajectories with a leading time axis (T, S, ...) plus the integrator statistics. The
switching functions (whose signs are the masks) are the pre-activations: computed by a
forward pass in weight space, read from the state in field space. Both spaces integrate the
same Filippov solution: on sliding modes the masks of the sliding entries are replaced by the
equivalent control of ``dynamics.equivalent_control`` (same equations, same solver).

``stats.modes`` holds the integrator's discrete mode (reference masks, sliding set) at every
stored time; ``masks_along`` unpacks them per layer for comparisons at matching masks.
"""

from __future__ import annotations

import torch

from .dynamics import (
    MaskPacking,
    closed_rate_L1_filippov,
    conjugate_jump,
    hybrid_initial_state,
    hybrid_rate_filippov,
    weight_rate_filippov,
)
from .fields import preactivations_forward, training_fields
from .integrate import Layout, Mode, Settings, Stats, integrate


def _mask_layout(h_list):
    """Packing of per-layer masks (S, n, m_l) into the integrator's (S, Q) switching layout."""
    layout = Layout(h_list)
    return layout, (lambda flat: [m.to(h_list[0].dtype) for m in layout.unpack(flat)])


def _record(stats, residuals):
    stats.extra["slide_residual"] = max(residuals, default=0.0)


def weight_flow(Ws, a, X, y, times, settings: Settings):
    """Weight-space gradient flow Ẇ = -∇loss (spec §1; Filippov on sliding modes).

    Returns {"W": [(T, S, m_l, m_{l-1})], "stats"}.
    """
    layout = Layout(Ws)
    h0, _ = preactivations_forward(Ws, X)
    hl, masks_of = _mask_layout(h0)
    residuals = []

    def switching(state):
        return hl.pack(preactivations_forward(layout.unpack(state), X)[0])

    def rhs(t, state, mode):
        W_dot, D_eff, res = weight_rate_filippov(
            layout.unpack(state),
            a,
            X,
            y,
            masks_of(mode.masks),
            mode.sliding,
            MaskPacking(hl.pack, masks_of),
            settings.slide_tol,
        )
        residuals.append(res)
        return layout.pack(W_dot), D_eff

    Y, stats = integrate(rhs, layout.pack(Ws), times, settings, switching=switching)
    _record(stats, residuals)
    return {"W": layout.unpack(Y), "stats": stats}


def closed_flow_L1(Ws, a, X, y, times, settings: Settings):
    """The closed (h, r) system of spec §4 from h(0) = W(0) X^T/sqrt(d); no weights afterwards.

    Returns {"h": (T, S, n, m), "r": (T, S, n), "stats"}.
    """
    F = training_fields(Ws, a, X, y)
    layout = Layout([F.h[0], F.r])
    size_h = layout.sizes[0]
    shape = F.h[0].shape
    residuals = []

    def switching(state):
        return state[..., :size_h]

    def rhs(t, state, mode):
        h, r = layout.unpack(state)
        h_dot, r_dot, D_eff, res = closed_rate_L1_filippov(
            h, r, a, X, mode.masks.reshape(shape), mode.sliding.reshape(shape), settings.slide_tol
        )
        residuals.append(res)
        return layout.pack([h_dot, r_dot]), D_eff.flatten(1)

    Y, stats = integrate(rhs, layout.pack([F.h[0], F.r]), times, settings, switching=switching)
    _record(stats, residuals)
    h, r = layout.unpack(Y)
    return {"h": h, "r": r, "stats": stats}


def hybrid_flow(Ws, a, X, y, times, settings: Settings, level=None):
    """Hybrid field closure (spec §5, §11 choice 6); ``level`` 1 or 2 = truncation of the
    operator hierarchy (``dynamics.hybrid_rate``), None = exact.

    Returns {"W": [..], "h": [(T, S, n, m_l)], "beta": [..], "r": (T, S, n), "stats", "masks"} with
    ``stats.jumps`` the number of transitions at which β jumped (deeper masks changed) and "masks"
    the integrator's reference masks at the stored times (β belongs to them; 0 on sliding entries).
    """
    W0, h0, beta0, r0 = hybrid_initial_state(Ws, a, X, y)
    L = len(Ws)  # beta0 (t = 0 conjugate) is what level 2 freezes in the operators' rate
    parts = [*W0, *h0, *beta0, r0]
    layout = Layout(parts)
    hl, masks_of = _mask_layout(h0)
    start_h = sum(layout.sizes[:L])
    end_h = start_h + sum(layout.sizes[L : 2 * L])
    residuals = []

    def split(state):
        p = layout.unpack(state)
        return p[:L], p[L : 2 * L], p[2 * L : 3 * L - 1], p[-1]

    def switching(state):
        return state[..., start_h:end_h]

    def rhs(t, state, mode):
        W, h, beta, r = split(state)
        W_dot, h_dot, beta_dot, r_dot, D_eff, res = hybrid_rate_filippov(
            W,
            h,
            beta,
            r,
            a,
            X,
            level,
            masks_of(mode.masks),
            mode.sliding,
            MaskPacking(hl.pack, masks_of),
            settings.slide_tol,
            beta0,
        )
        residuals.append(res)
        return layout.pack([*W_dot, *h_dot, *beta_dot, r_dot]), D_eff

    def jump(state, mode_old, mode_new):
        """β jumps with the reference masks of layers 2..L (spec §1 caveat; ``conjugate_jump``)."""
        if L == 1 or torch.equal(mode_old.masks, mode_new.masks):
            return state
        D_old, D_new = masks_of(mode_old.masks), masks_of(mode_new.masks)
        if all(torch.equal(u, v) for u, v in zip(D_old[1:], D_new[1:])):
            return state
        W, h, beta, r = split(state)
        return layout.pack([*W, *h, *conjugate_jump(W, D_old, D_new, beta, a), r])

    Y, stats = integrate(rhs, layout.pack(parts), times, settings, switching=switching, jump=jump)
    _record(stats, residuals)
    W, h, beta, r = split(Y)
    return {"W": W, "h": h, "beta": beta, "r": r, "stats": stats, "masks": masks_along(stats, h)}


def masks_along(stats, h_traj):
    """Reference masks of the integrator at every stored time, per layer: list of (T, S, n, m_l)."""
    layout, masks_of = _mask_layout([x[0] for x in h_traj])
    per_time = [masks_of(mode.masks) for mode in stats.modes]
    return [torch.stack([D[l] for D in per_time]) for l in range(len(h_traj))]


def fields_along(W_traj, a, X, y, masks=None):
    """Forward/backward pass of W(t) at every stored time: list over time of ``Fields``.

    ``masks`` (list over layers of (T, S, n, m_l)) fixes the masks (default Θ(h)).
    """
    T = W_traj[0].shape[0]
    return [
        training_fields([W[t] for W in W_traj], a, X, y, None if masks is None else [D[t] for D in masks])
        for t in range(T)
    ]


def per_seed(flow, Ws, a, *args, **kwargs):
    """Run ``flow`` (any function of this module) one seed at a time and stack the results.

    The vectorised flows share one step size across seeds, so every seed's mask switches cut
    the steps of all; at large widths, where steps are dominated by switches, integrating the
    seeds separately costs about 1/S as many steps per seed. Same equations and tolerances;
    the trajectories agree with the vectorised ones within the integration tolerance.
    """
    outs = [flow([W[s : s + 1] for W in Ws], a[s : s + 1], *args, **kwargs) for s in range(a.shape[0])]

    def stack(values):
        if isinstance(values[0], list):
            return [torch.cat(parts, dim=1) for parts in zip(*values)]
        return torch.cat(values, dim=1)

    merged = {k: stack([o[k] for o in outs]) for k in outs[0] if k != "stats"}
    stats = Stats()
    for o in outs:
        for k, v in o["stats"].__dict__.items():
            if isinstance(v, int):
                setattr(stats, k, getattr(stats, k) + v)
        for k, v in o["stats"].extra.items():
            stats.extra[k] = max(stats.extra.get(k, v), v)
    stats.modes = [
        Mode(
            torch.cat([o["stats"].modes[t].masks for o in outs]),
            torch.cat([o["stats"].modes[t].sliding for o in outs]),
        )
        for t in range(len(outs[0]["stats"].modes))
    ]
    merged["stats"] = stats
    return merged
