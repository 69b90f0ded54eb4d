"""Gradient-flow trajectories in weight space and field space with the same integrator (spec §8.1).

Each function takes the t = 0 network (weights ``Ws``, readout ``a``) and the data (X, y),
integrates with ``integrate.integrate`` at the given ``Settings`` and returns a dict of
trajectories with a leading time axis (T, S, ...) plus the integrator statistics. The
switching functions (whose signs are the masks) are the pre-activations: computed by a
forward pass in weight space, read from the state in field space.
"""

from __future__ import annotations

import torch

from .dynamics import (closed_rate_L1, conjugate_jump, hybrid_initial_state, hybrid_rate,
                       weight_rate)
from .fields import preactivations_forward, training_fields
from .integrate import Layout, Settings, integrate


def _mask_layout(h_list):
    layout = Layout(h_list)
    return layout, (lambda flat: None if flat is None else [m.to(h_list[0].dtype) for m in layout.unpack(flat)])


def weight_flow(Ws, a, X, y, times, settings: Settings):
    """Weight-space gradient flow Ẇ = -∇loss (spec §1). Returns {"W": [(T, S, m_l, m_{l-1})], "stats"}."""
    layout = Layout(Ws)
    h0, _ = preactivations_forward(Ws, X)
    hl, masks_of = _mask_layout(h0)

    def switching(state):
        return hl.pack(preactivations_forward(layout.unpack(state), X)[0])

    def rhs(t, state, masks):
        return layout.pack(weight_rate(layout.unpack(state), a, X, y, masks_of(masks)))

    Y, stats = integrate(rhs, layout.pack(Ws), times, settings, switching=switching)
    return {"W": layout.unpack(Y), "stats": stats}


def closed_flow_L1(Ws, a, X, y, times, settings: Settings):
    """The closed (h, r) system of spec §4 from h(0) = W(0) X^T/sqrt(d); no weights afterwards.

    Returns {"h": (T, S, n, m), "r": (T, S, n), "stats"}.
    """
    F = training_fields(Ws, a, X, y)
    layout = Layout([F.h[0], F.r])
    size_h = layout.sizes[0]

    def switching(state):
        return state[..., :size_h]

    def rhs(t, state, masks):
        h, r = layout.unpack(state)
        D = None if masks is None else masks.to(h.dtype).reshape(h.shape)
        return layout.pack(list(closed_rate_L1(h, r, a, X, D)))

    Y, stats = integrate(rhs, layout.pack([F.h[0], F.r]), times, settings, switching=switching)
    h, r = layout.unpack(Y)
    return {"h": h, "r": r, "stats": stats}


def hybrid_flow(Ws, a, X, y, times, settings: Settings, freeze_weights: bool = False):
    """Hybrid field closure (spec §5, §11 choice 6); ``freeze_weights`` = frozen-Γ truncation.

    Returns {"W": [..], "h": [(T, S, n, m_l)], "beta": [..], "r": (T, S, n), "stats"} with
    ``stats.extra["jumps"]`` the number of steps after which β jumped (deeper masks switched).
    """
    W0, h0, beta0, r0 = hybrid_initial_state(Ws, a, X, y)
    L = len(Ws)
    parts = [*W0, *h0, *beta0, r0]
    layout = Layout(parts)
    hl, masks_of = _mask_layout(h0)
    start_h = sum(layout.sizes[:L])
    end_h = start_h + sum(layout.sizes[L:2 * L])
    jumps = [0]

    def split(state):
        p = layout.unpack(state)
        return p[:L], p[L:2 * L], p[2 * L:3 * L - 1], p[-1]

    def switching(state):
        return state[..., start_h:end_h]

    def rhs(t, state, masks):
        W, h, beta, r = split(state)
        W_dot, h_dot, beta_dot, r_dot = hybrid_rate(W, h, beta, r, a, X, freeze_weights,
                                                     masks_of(masks))
        return layout.pack([*W_dot, *h_dot, *beta_dot, r_dot])

    def post_step(y_old, y_new, masks_old, masks_new):
        if L == 1 or torch.equal(masks_old, masks_new):
            return y_new
        D_old, D_new = masks_of(masks_old), masks_of(masks_new)
        if all(torch.equal(u, v) for u, v in zip(D_old[1:], D_new[1:])):
            return y_new
        jumps[0] += 1
        W, h, beta, r = split(y_new)
        return layout.pack([*W, *h, *conjugate_jump(W, D_old, D_new, beta, a), r])

    Y, stats = integrate(rhs, layout.pack(parts), times, settings, post_step, switching)
    stats.extra["jumps"] = jumps[0]
    W, h, beta, r = split(Y)
    return {"W": W, "h": h, "beta": beta, "r": r, "stats": stats}


def fields_along(W_traj, a, X, y):
    """Forward/backward pass of W(t) at every stored time: list over time of ``Fields``."""
    T = W_traj[0].shape[0]
    return [training_fields([W[t] for W in W_traj], a, X, y) for t in range(T)]
