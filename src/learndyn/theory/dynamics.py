"""Gradient-flow right-hand sides in weight space and in field space (spec §3-§5).

Every rate here is the a.e. (between mask switches) gradient-flow derivative, in ODE time
(the time of dW/dt = -∇loss; gradient descent with step η reaches ODE time η k after k steps).

Weight space:      Ẇ_l = -∇_{W_l} loss                                   (``weight_rate``)
L = 1, no weights: (h, r) closed system of spec §4                         (``closed_rate_L1``)
L >= 1, hybrid:    (W, h, β, r) with §3, §5.1, §5.2 and Ẇ from the fields  (``hybrid_rate``)
Truncations:       frozen-Γ = hybrid with the weight-induced operators frozen at t = 0;
                   NTK = kernel frozen at t = 0 (``ntk_residual``).

State of the field closure (spec §11 choice 6): the conjugate field is stored unmasked,
b^(l) = D^(l)(h^(l)) β^(l) with β^(l) = W_{l+1}^T b^(l+1) / sqrt(m_l), so switches of layer l's own
masks act instantly through h^(l); switches of deeper masks make β jump, and that jump
(``conjugate_jump``) is applied with the (co-integrated or frozen) weights after each step.
"""

from __future__ import annotations

import math

import torch

from .fields import (gradient_W, heaviside, overlap_Q, overlap_S, relu, training_fields)


# --- weight space -------------------------------------------------------------------------

def weight_rate(Ws, a, X, y, D=None):
    """Gradient flow Ẇ_l = -∇_{W_l} loss (spec §1), via the fields of a forward/backward pass.

    ``D`` optionally fixes the masks (default Θ(h); see ``fields.preactivations_forward``).
    """
    F = training_fields(Ws, a, X, y, D)
    return [-g for g in gradient_W(F.phi, F.b, F.r)]


def residual_rate(K, r):
    """ṙ = -(1/n) K r (spec §3). ``K`` (S, n, n), ``r`` (S, n)."""
    return -(K @ r.unsqueeze(-1)).squeeze(-1) / r.shape[-1]


# --- L = 1: closed (h, r) system without weights (spec §4) ----------------------------------

def apply_input_geometric(X, V):
    """G V with G = X X^T / d, through the rank-d factor X when d < n (cost n d m instead of n^2 m).

    ``X`` (n, d), ``V`` (S, n, m) -> (S, n, m).
    """
    n, d = X.shape
    if d < n:
        return X @ (X.T @ V) / d
    return (X @ X.T / d) @ V


def closed_rate_L1(h, r, a, X, D=None):
    """Closed L = 1 field system (spec §4), exact a.e.:

        ḣ_{i mu} = -(a_i / (n sqrt m)) sum_nu G_{mu nu} Θ(h_{i nu}) r_nu,
        ṙ_mu     = -(1/n) sum_nu (G ⊙ C)_{mu nu} r_nu.

    ``h`` (S, n, m), ``r`` (S, n), ``a`` (S, m). The kernel product is contracted as
    (G ⊙ C) r = (1/m) sum_i a_i^2 Θ_i ⊙ G(Θ_i ⊙ r), which reuses G(Θ ⊙ r) from ḣ. Returns (ḣ, ṙ).
    """
    n, m = h.shape[-2], h.shape[-1]
    D = heaviside(h) if D is None else D
    u = apply_input_geometric(X, D * r.unsqueeze(-1))  # (S, n, m): sum_nu G_{mu nu} Θ_{i nu} r_nu
    h_dot = -u * a.unsqueeze(-2) / (n * math.sqrt(m))
    r_dot = -(D * u * (a ** 2).unsqueeze(-2)).sum(-1) / (n * m)
    return h_dot, r_dot


def residual_from_h_L1(h, a, y):
    """r_mu = (1/sqrt m) sum_i a_i σ(h_{i mu}) - y_mu (spec §4), the field-only readout. (S, n)."""
    return (relu(h) * a.unsqueeze(-2)).sum(-1) / math.sqrt(h.shape[-1]) - y


# --- L >= 1: hybrid closure (spec §5.1-§5.2) ----------------------------------------------

def conjugate_from_state(D, beta, a):
    """b^(L) = D^(L) a / sqrt(m_L), b^(l) = D^(l) β^(l) for l < L (spec §2 with the stored β)."""
    L = len(D)
    b = [D[l] * beta[l] for l in range(L - 1)]
    b.append(D[L - 1] * a.unsqueeze(-2) / math.sqrt(a.shape[-1]))
    return b


def hidden_rate(Ws, phi, D, b, r, h_dot_prev=None):
    """ḣ^(l) by the forward recursion (spec §5.1), matrix-free, for l = 1..L:

        ḣ^(l)_mu = -(1/n) sum_nu r_nu Q^(l-1)_{mu nu} b^(l)_nu + W_l D^(l-1)_mu ḣ^(l-1)_mu / sqrt(m_{l-1}),

    with ḣ^(0) = 0 (inputs are fixed). Unrolled, this is sum_k Q^(k-1) M^(l;k) b^(l). List (S, n, m_l).
    """
    n = r.shape[-1]
    out = []
    for l in range(len(b)):
        rate = -(overlap_Q(phi[l]) * r.unsqueeze(-2)) @ b[l] / n
        if l > 0:
            rate = rate + (D[l - 1] * out[-1]) @ Ws[l].transpose(-1, -2) / math.sqrt(Ws[l].shape[-1])
        out.append(rate)
    return out


def conjugate_rate(Ws, phi, D, b, r):
    """β̇^(l), ḃ^(l) by the backward recursion (spec §5.2), matrix-free, for l = L-1..1:

        β̇^(l)_nu = -(1/(n m_l)) sum_kappa S^(l+1)_{nu kappa} r_kappa φ^(l)_kappa + W_{l+1}^T ḃ^(l+1)_nu / sqrt(m_l),
        ḃ^(l) = D^(l) β̇^(l),  ḃ^(L) = 0.

    The first term is the j = l term S Π h of §5.2; unrolled, the second gives the pulled-back
    operators 𝒢^(l;j), j > l. Returns (β̇ list of length L-1, ḃ list of length L).
    """
    L, n = len(b), r.shape[-1]
    b_dot = [None] * L
    beta_dot = [None] * (L - 1)
    b_dot[L - 1] = torch.zeros_like(b[L - 1])
    for l in range(L - 2, -1, -1):
        m_l = phi[l + 1].shape[-1]
        rate = -(overlap_S(b[l + 1]) * r.unsqueeze(-2)) @ phi[l + 1] / (n * m_l)
        beta_dot[l] = rate + b_dot[l + 1] @ Ws[l + 1] / math.sqrt(m_l)
        b_dot[l] = D[l] * beta_dot[l]
    return beta_dot, b_dot


def hybrid_rate(Ws, h, beta, r, a, X, freeze_weights: bool = False, D=None):
    """Right-hand side of the hybrid field closure (spec §11 choice 6).

    Fields (h, β, r) evolve by §5.1, §5.2 and §3 with Q, S, K built from the field state; the
    operators W_l come from the co-integrated weights, whose rate Ẇ_l = -(1/n) sum r b φ^T/sqrt(m)
    (§2) is itself built from the fields. ``freeze_weights`` gives the frozen-Γ truncation: Ẇ = 0,
    so every weight-induced operator (M, 𝒢, Γ) keeps its t = 0 weights while masks move.
    Returns (Ẇ list, ḣ list, β̇ list, ṙ).
    """
    S = r.shape[0]
    D = [heaviside(x) for x in h] if D is None else D
    phi = [X.expand(S, *X.shape)] + [Dl * x for Dl, x in zip(D, h)]
    b = conjugate_from_state(D, beta, a)
    K = sum(overlap_Q(phi[l]) * overlap_S(b[l]) for l in range(len(b)))
    r_dot = residual_rate(K, r)
    h_dot = hidden_rate(Ws, phi, D, b, r)
    beta_dot, _ = conjugate_rate(Ws, phi, D, b, r)
    if freeze_weights:
        W_dot = [torch.zeros_like(W) for W in Ws]
    else:
        W_dot = [-g for g in gradient_W(phi, b, r)]
    return W_dot, h_dot, beta_dot, r_dot


def conjugate_jump(Ws, D_old, D_new, beta, a):
    """Jump of β when deeper masks switch (spec §1 caveat; b is piecewise continuous).

    b^(l+1) jumps by Δb = D_new β_new - D_old β_old; then β^(l) jumps by W_{l+1}^T Δb / sqrt(m_l).
    Applied top-down after a step; returns the corrected β list.
    """
    L = len(D_new)
    beta = list(beta)
    delta_b = (D_new[L - 1] - D_old[L - 1]) * a.unsqueeze(-2) / math.sqrt(a.shape[-1])
    for l in range(L - 2, -1, -1):
        beta_old = beta[l]
        beta[l] = beta_old + delta_b @ Ws[l + 1] / math.sqrt(D_new[l].shape[-1])
        delta_b = D_new[l] * beta[l] - D_old[l] * beta_old
    return beta


def hybrid_initial_state(Ws, a, X, y):
    """(W, h, β, r) at t = 0 from a forward/backward pass of the initial weights."""
    F = training_fields(Ws, a, X, y)
    L = len(Ws)
    beta = [F.b[l + 1] @ Ws[l + 1] / math.sqrt(F.h[l].shape[-1]) for l in range(L - 1)]
    return list(Ws), list(F.h), beta, F.r


# --- NTK truncation ------------------------------------------------------------------------

def ntk_residual(K0, r0, times):
    """Kernel frozen at t = 0: r(t) = exp(-K0 t / n) r0, via the eigendecomposition of K0.

    ``K0`` (S, n, n), ``r0`` (S, n), ``times`` (T,) -> (T, S, n).
    """
    n = r0.shape[-1]
    lam, U = torch.linalg.eigh(K0)
    c = (U.transpose(-1, -2) @ r0.unsqueeze(-1)).squeeze(-1)  # (S, n)
    decay = torch.exp(-lam.unsqueeze(0) * times.reshape(-1, 1, 1) / n)  # (T, S, n)
    return ((decay * c.unsqueeze(0)).unsqueeze(-2) * U.unsqueeze(0)).sum(-1)
