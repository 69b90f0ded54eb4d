"""Gradient descent in discrete time: exact field forms (spec §3-§5, §7).

GD: W^{t+1}_l = W^t_l - η ∇_{W_l} loss(W^t); after k steps it approximates gradient flow at
ODE time η k. Each function below is an exact identity of one GD step (no O(η^2) dropped)
unless its docstring says otherwise; ``checks.discrete_checks`` tests them against GD in
weight space.
"""

from __future__ import annotations

import math

from .dynamics import apply_input_geometric
from .fields import gradient_W, heaviside, relu, training_fields


def gd_step(Ws, a, X, y, eta):
    """One GD step in weight space (spec §1). Returns the new weight list."""
    F = training_fields(Ws, a, X, y)
    return [W - eta * g for W, g in zip(Ws, gradient_W(F.phi, F.b, F.r))]


def gd_train(Ws, a, X, y, eta, steps):
    """``steps`` GD steps; returns the weights after the last one."""
    for _ in range(steps):
        Ws = gd_step(Ws, a, X, y, eta)
    return Ws


def field_update_L1(h, r, a, X, eta):
    """L = 1 field update, exact in discrete time (spec §4): h is linear in W, so
    h^{t+1}_{i mu} = h^t_{i mu} - (η a_i/(n sqrt m)) sum_nu G_{mu nu} Θ(h^t_{i nu}) r^t_nu. (S, n, m)."""
    n, m = h.shape[-2], h.shape[-1]
    return h - eta * apply_input_geometric(X, heaviside(h) * r.unsqueeze(-1)) * a.unsqueeze(-2) / (
        n * math.sqrt(m)
    )


def residual_update_kernel(K, r, eta):
    """Kernel step r^{t+1} ≈ (I - (η/n) K^t) r^t (spec §3): exact up to O(η^2) (L >= 2) or flips (L = 1)."""
    return r - eta * (K @ r.unsqueeze(-1)).squeeze(-1) / r.shape[-1]


def flip_correction_L1(h_t, h_next, a):
    """ε^t_mu = (1/sqrt m) sum_i a_i [σ(h^{t+1}) - σ(h^t) - Θ(h^t)(h^{t+1} - h^t)] (spec §4), nonzero only
    on units that switch. With it r^{t+1} = (I - η/n K^t) r^t + ε^t exactly. (S, n)."""
    inner = relu(h_next) - relu(h_t) - heaviside(h_t) * (h_next - h_t)
    return (inner * a.unsqueeze(-2)).sum(-1) / math.sqrt(h_t.shape[-1])


def hidden_update(W_l, phi_prev_t, phi_prev_next, b_l, r, eta):
    """Exact GD update of h^(l) (spec §5.1), including mask switches:

    h^{(l),t+1}_mu - h^{(l),t}_mu = -(η/n) sum_nu r_nu b^(l)_nu (phi^(l-1),t_nu . phi^(l-1),t+1_mu)/m_{l-1}
                                    + W^t_l (phi^(l-1),t+1_mu - phi^(l-1),t_mu)/sqrt(m_{l-1}).  (S, n, m_l)
    """
    n, m_prev = r.shape[-1], phi_prev_t.shape[-1]
    mixed = phi_prev_next @ phi_prev_t.transpose(-1, -2) / m_prev  # (S, mu, nu) mixed-time overlap
    first = -(eta / n) * (mixed * r.unsqueeze(-2)) @ b_l
    return first + (phi_prev_next - phi_prev_t) @ W_l.transpose(-1, -2) / math.sqrt(m_prev)


def weight_gram_update(W, grad, eta):
    """Exact step of the unmasked Gram (spec §5.5):
    W^{t+1 T}W^{t+1} - W^{tT}W^t = -η(∇^T W + W^T ∇) + η^2 ∇^T ∇. (S, m_{l-1}, m_{l-1})."""
    gW = grad.transpose(-1, -2) @ W
    return -eta * (gW + gW.transpose(-1, -2)) + eta**2 * grad.transpose(-1, -2) @ grad


def balancedness_drift(grads, eta):
    """Exact GD change of the §7 invariant: η^2 (|∇_{W_l}[i,:]|^2 - |∇_{W_{l+1}}[:,i]|^2). List (S, m_l)."""
    return [eta**2 * ((grads[l] ** 2).sum(-1) - (grads[l + 1] ** 2).sum(-2)) for l in range(len(grads) - 1)]
