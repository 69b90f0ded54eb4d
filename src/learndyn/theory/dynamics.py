"""Gradient-flow right-hand sides in weight space and in field space (spec §3-§5).

Every rate here is the a.e. (between mask switches) gradient-flow derivative, in ODE time
(the time of dW/dt = -∇loss; gradient descent with step η reaches ODE time η k after k steps).

Weight space:      Ẇ_l = -∇_{W_l} loss                                   (``weight_rate``)
L = 1, no weights: (h, r) closed system of spec §4                         (``closed_rate_L1``)
L >= 1, hybrid:    (W, h, β, r) with §3, §5.1, §5.2 and Ẇ from the fields  (``hybrid_rate``)
Truncations:       level 0 = kernel frozen at t = 0 (``ntk_residual``); level 1 (frozen-Γ) =
                   hybrid with the weight-induced operators frozen at t = 0; level 2 =
                   operators moving with the conjugate in their rate frozen (``operator_rate``).

State of the field closure (spec §11 choice 6): the conjugate field is stored unmasked,
b^(l) = D^(l)(h^(l)) β^(l) with β^(l) = W_{l+1}^T b^(l+1) / sqrt(m_l), so switches of layer l's own
masks act instantly through h^(l); switches of deeper masks make β jump, and that jump
(``conjugate_jump``) is applied with the (co-integrated or frozen) weights after each step.

Sliding modes (spec §1 caveat: GF is a Filippov flow). Where an entry (i, mu) of some layer is
pushed onto h_{i mu} = 0 from both sides, Filippov's solution stays on the surface with the mask
D_{i mu} replaced by the equivalent control λ_{i mu} ∈ [0, 1] that makes ḣ_{i mu} = 0
(``equivalent_control``). φ = σ(h) = 0 there, so the forward pass does not see λ; λ enters the
backward pass (b, β) and hence Ẇ and ṙ. Every rate below therefore takes two masks: ``D`` (the
effective masks, λ on sliding entries) in the backward pass, and ``D_fwd`` (the reference masks,
0 on sliding entries) in the forward pass and the forward recursion (φ̇ = D ḣ = 0 on the surface).
With that split ḣ is affine in the λ's of each layer (multilinear across layers), which the
equivalent-control solver uses. Weight space and field space call the same solver.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .fields import (
    conjugate_fields,
    gradient_W,
    heaviside,
    overlap_Q,
    overlap_S,
    preactivations_forward,
    readout,
    residual,
    training_fields,
)

# --- weight space -------------------------------------------------------------------------


def weight_rate(Ws, a, X, y, D=None):
    """Gradient flow Ẇ_l = -∇_{W_l} loss (spec §1), via the fields of a forward/backward pass.

    ``D`` optionally fixes the masks (default Θ(h); see ``fields.preactivations_forward``).
    """
    F = training_fields(Ws, a, X, y, D)
    return [-g for g in gradient_W(F.phi, F.b, F.r)]


@dataclass(frozen=True)
class MaskPacking:
    """Masks between the per-layer list of (S, n, m_l) and the integrator's packed (S, Q):
    ``pack(list) -> (S, Q)`` and ``unpack((S, Q)) -> list`` (in the fields' dtype)."""

    pack: Callable
    unpack: Callable


def weight_rate_filippov(Ws, a, X, y, D_fwd, sliding, packing: MaskPacking, slide_tol=1e-12):
    """Filippov gradient flow in weight space: Ẇ_l = -(1/n) sum_nu r_nu b^(l)_nu φ^(l-1)T_nu / sqrt(m_{l-1})
    with the backward pass through the effective masks (λ on sliding entries, spec §1 caveat).

    ``D_fwd`` list of (S, n, m_l) reference masks (0 on sliding entries), ``sliding`` (S, Q) bool
    over the packed entries; ``packing`` converts lists of (S, n, m_l) to (S, Q) and back.
    Returns (Ẇ list, effective masks (S, Q), equivalent-control residual).
    """
    if D_fwd is None:
        D_fwd = [heaviside(x) for x in preactivations_forward(Ws, X)[0]]
    pack, unpack = packing.pack, packing.unpack
    h, phi = preactivations_forward(Ws, X, D_fwd)
    r = residual(readout(a, phi[-1]), y)
    sliding = torch.zeros_like(pack(D_fwd), dtype=torch.bool) if sliding is None else sliding

    Qr = []  # overlap rates, computed at the first equivalent-control call (none without sliding)

    def h_rate_of(D_flat):
        if not Qr:
            Qr.extend(overlap_rates(phi[:-1], r))
        return pack(hidden_rate(Ws, phi, D_fwd, conjugate_fields(Ws, a, h, unpack(D_flat)), r, Qr))

    D_eff, res = equivalent_control(h_rate_of, pack(D_fwd), sliding, slide_tol)
    b = conjugate_fields(Ws, a, h, unpack(D_eff))
    return [-g for g in gradient_W(phi, b, r)], D_eff, res


# --- Filippov sliding modes: equivalent control ---------------------------------------------


def equivalent_control(h_rate_of, masks, sliding, tol: float = 1e-12, max_iter: int = 30):
    """Filippov equivalent control (spec §1 caveat, §11 choice 4): masks λ on the sliding entries
    such that ḣ = 0 there,

        find λ_q (q sliding) with  ḣ_q(D(λ)) = 0,   D(λ)_q = λ_q on sliding entries, masks elsewhere.

    ``h_rate_of(D (..., S, Q)) -> ḣ (..., S, Q)`` (leading axes broadcast: the Jacobian columns are
    evaluated in one batched call) is affine in each single λ_q (the rates are multilinear
    in the masks of the layers, and linear within a layer; for L = 1 the system is linear: per
    unit i, sum_{nu in S_i} G_{mu nu} r_nu λ_{i nu} = -sum_{nu not in S_i} G_{mu nu} r_nu D_{i nu}).
    So the Jacobian columns ∂ḣ/∂λ_q = ḣ(D + e_q) - ḣ(D) are exact, and Newton's method converges
    in one step for L = 1 and quadratically otherwise. Each seed has its own set, padded.

    Stops when max|ḣ_q| <= ``tol`` max|ḣ| (relative to the largest rate of all entries).
    Returns (D (S, Q) with λ inserted, achieved max|ḣ_q| / max|ḣ|); raises RuntimeError if
    Newton fails (a singular or non-convergent system).
    """
    if not bool(sliding.any()):
        return masks, 0.0
    S, _ = masks.shape
    k = sliding.sum(-1)  # (S,)
    kmax = int(k.max())
    # the sliding entries in ascending order, padded with the first non-sliding ones (the order of
    # a stable descending argsort of the set, by topk: O(Q) instead of a sort)
    ar = torch.arange(sliding.shape[-1], device=masks.device)
    key = torch.where(sliding, 2 * sliding.shape[-1] - ar, -ar)
    idx = torch.topk(key, kmax, dim=-1, sorted=True).indices  # (S, kmax)
    valid = torch.arange(kmax, device=masks.device).unsqueeze(0) < k.unsqueeze(-1)  # (S, kmax)
    vf = valid.to(masks.dtype)
    lam = torch.full((S, kmax), 0.5, dtype=masks.dtype, device=masks.device)
    eye = torch.eye(kmax, dtype=masks.dtype, device=masks.device).expand(S, kmax, kmax)
    for _ in range(max_iter):
        D = masks.scatter(-1, idx, torch.where(valid, lam, masks.gather(-1, idx)))
        rate = h_rate_of(D)
        F = rate.gather(-1, idx) * vf  # (S, kmax)
        scale = rate.abs().max().clamp_min(1e-300)
        res = (F.abs().max() / scale).item()
        if res <= tol:
            return D, res
        # the k columns in one batched evaluation of D + e_j (leading axis j; the rates broadcast)
        bump = torch.zeros((kmax, *masks.shape), dtype=masks.dtype, device=masks.device)
        bump.scatter_(-1, idx.T.unsqueeze(-1), vf.T.unsqueeze(-1))
        rates = h_rate_of(D.unsqueeze(0) + bump)  # (kmax, S, Q)
        cols = (rates.gather(-1, idx.expand(kmax, *idx.shape)) - rate.gather(-1, idx)) * vf
        J = cols.permute(1, 2, 0)  # (S, kmax, kmax): J[s, p, j] = ∂ḣ_p/∂λ_j
        J = torch.where(valid.unsqueeze(-1) & valid.unsqueeze(-2), J, eye)
        try:
            step = torch.linalg.solve(J, F.unsqueeze(-1)).squeeze(-1)
        except RuntimeError as exc:  # torch.linalg.LinAlgError is a RuntimeError
            raise RuntimeError(f"equivalent control: singular system ({exc})") from exc
        if not torch.isfinite(step).all():
            raise RuntimeError("equivalent control: non-finite Newton step")
        lam = lam - step
    raise RuntimeError(f"equivalent control: no convergence in {max_iter} iterations (residual {res:.2e})")


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
    r_dot = -(D * u * (a**2).unsqueeze(-2)).sum(-1) / (n * m)
    return h_dot, r_dot


def closed_rate_L1_filippov(h, r, a, X, D_fwd, sliding, slide_tol=1e-12):
    """Closed L = 1 system (spec §4) on a Filippov sliding mode: ``closed_rate_L1`` with the masks of
    the sliding entries (``sliding`` (S, n, m) bool) replaced by the equivalent control λ, which solves
    per unit i the linear system
        sum_{nu in S_i} G_{mu nu} r_nu λ_{i nu} = -sum_{nu not in S_i} G_{mu nu} r_nu D_{i nu}
    (mu in S_i), i.e. ḣ_{i mu} = 0 on the surface. Returns (ḣ, ṙ, effective masks (S, n, m), residual).
    """
    shape = h.shape

    def h_rate_of(D_flat):
        return closed_rate_L1(h, r, a, X, D_flat.reshape(*D_flat.shape[:-1], *shape[1:]))[0].flatten(-2)

    D_eff, res = equivalent_control(h_rate_of, D_fwd.flatten(1), sliding.flatten(1), slide_tol)
    D_eff = D_eff.reshape(shape)
    return (*closed_rate_L1(h, r, a, X, D_eff), D_eff, res)


# --- L >= 1: hybrid closure (spec §5.1-§5.2) ----------------------------------------------


def conjugate_from_state(D, beta, a):
    """b^(L) = D^(L) a / sqrt(m_L), b^(l) = D^(l) β^(l) for l < L (spec §2 with the stored β)."""
    L = len(D)
    b = [D[l] * beta[l] for l in range(L - 1)]
    b.append(D[L - 1] * a.unsqueeze(-2) / math.sqrt(a.shape[-1]))
    return b


def hidden_rate(Ws, phi, D, b, r, Qr=None):
    """ḣ^(l) by the forward recursion (spec §5.1), matrix-free, for l = 1..L:

        ḣ^(l)_mu = -(1/n) sum_nu r_nu Q^(l-1)_{mu nu} b^(l)_nu + W_l D^(l-1)_mu ḣ^(l-1)_mu / sqrt(m_{l-1}),

    with ḣ^(0) = 0 (inputs are fixed). Unrolled, this is sum_k Q^(k-1) M^(l;k) b^(l). List (S, n, m_l).
    ``Qr`` (``overlap_rates(phi, r)``) may be passed when φ and r are fixed across calls (the
    equivalent-control iterations change only the masks of the backward pass).
    """
    Qr = overlap_rates(phi[: len(b)], r) if Qr is None else Qr
    out = []
    for l in range(len(b)):
        rate = Qr[l] @ b[l]
        if l > 0:
            rate = rate + (D[l - 1] * out[-1]) @ Ws[l].transpose(-1, -2) / math.sqrt(Ws[l].shape[-1])
        out.append(rate)
    return out


def overlap_rates(phi, r):
    """-(1/n) Q^(l)_{mu nu} r_nu for each φ^(l) in ``phi``: list of (S, n, n) (see ``hidden_rate``)."""
    n = r.shape[-1]
    return [-(overlap_Q(p) * r.unsqueeze(-2)) / n for p in phi]


def conjugate_rate(Ws, phi, D, b, r, b_eff=None):
    """β̇^(l), ḃ^(l) by the backward recursion (spec §5.2), matrix-free, for l = L-1..1:

        β̇^(l)_nu = -(1/(n m_l)) sum_kappa S^(l+1)_{nu kappa} r_kappa φ^(l)_kappa
                   + W_{l+1}^T ḃ^(l+1)_nu / sqrt(m_l),
        ḃ^(l) = D^(l) β̇^(l),  ḃ^(L) = 0.

    The first term is the j = l term S Π h of §5.2 (it is Ẇ_{l+1}^T b^(l+1)_nu / sqrt(m_l)); unrolled,
    the second gives the pulled-back operators 𝒢^(l;j), j > l. On a sliding mode the state β
    belongs to the fixed reference masks ``D`` (and ``b``), while Ẇ is built from the effective
    conjugate ``b_eff`` (λ on sliding entries): then S^(l+1)_{nu kappa} = b^(l+1)_nu . b_eff^(l+1)_kappa.
    Returns (β̇ list of length L-1, ḃ list of length L).
    """
    L, n = len(b), r.shape[-1]
    b_eff = b if b_eff is None else b_eff
    b_dot = [None] * L
    beta_dot = [None] * (L - 1)
    b_dot[L - 1] = torch.zeros_like(b[L - 1])
    for l in range(L - 2, -1, -1):
        m_l = phi[l + 1].shape[-1]
        S_mixed = b[l + 1] @ b_eff[l + 1].transpose(-1, -2)
        rate = -(S_mixed * r.unsqueeze(-2)) @ phi[l + 1] / (n * m_l)
        beta_dot[l] = rate + b_dot[l + 1] @ Ws[l + 1] / math.sqrt(m_l)
        b_dot[l] = D[l] * beta_dot[l]
    return beta_dot, b_dot


def hybrid_rate(Ws, h, beta, r, a, X, level=None, D=None, D_eff=None, beta0=None):
    """Right-hand side of the hybrid field closure (spec §11 choice 6) and of its truncations.

    Fields (h, β, r) evolve by §5.1, §5.2 and §3 with Q, S, K built from the field state; the
    weight-induced operators (M, 𝒢, Γ) are built from the operator weights ``Ws``, which are
    co-integrated with a rate built from the fields. ``level`` selects that rate:

        None (exact):  Ẇ_l = -(1/n) sum_λ r_λ b^(l)_λ φ^(l-1)T_λ / sqrt(m_{l-1})            (§2)
        1 (frozen-Γ):  Ẇ_l = 0, so every operator keeps its t = 0 weights while masks move
        2:             Ẇ_l = -(1/n) sum_λ r_λ (D^(l)_λ β^(l)_λ(0)) φ^(l-1)T_λ / sqrt(m_{l-1}),

    i.e. at level 2 the conjugate inside the operators' rate is frozen at t = 0 apart from its
    own masks (``beta0``, the t = 0 β; b^(L) = D^(L) a / sqrt(m_L) is never frozen). Then
    Γ^(l)_{νκ} = W_l^T D_ν D_κ W_l / m_l evolves by its §5.5 equation Γ̇ = -(A + A^T) with the
    three-sample vectors W_l^T D_ν D_κ D_λ β^(l)_λ(0) in A; at L <= 2 no frozen β enters an
    operator (only W_2 is one), so level 2 is exact there, as level 1 is at L = 1.

    ``D`` are the reference masks of the state (default Θ(h)); ``D_eff`` (default ``D``) the
    effective masks of a Filippov sliding mode (λ on sliding entries, see the module doc): the
    conjugate that enters Ẇ, ṙ and ḣ is b = D_eff β_eff, with β_eff the state β jumped from D to
    D_eff (``conjugate_jump``, exact given W). Returns (Ẇ list, ḣ list, β̇ list, ṙ).
    """
    S = r.shape[0]
    D = [heaviside(x) for x in h] if D is None else D
    phi = [X.expand(S, *X.shape)] + [Dl * x for Dl, x in zip(D, h)]
    b_ref = conjugate_from_state(D, beta, a)
    b = b_ref if D_eff is None else conjugate_from_state(D_eff, conjugate_jump(Ws, D, D_eff, beta, a), a)
    K = sum(overlap_Q(phi[l]) * overlap_S(b[l]) for l in range(len(b)))
    r_dot = residual_rate(K, r)
    h_dot = hidden_rate(Ws, phi, D, b, r)
    beta_dot, _ = conjugate_rate(Ws, phi, D, b_ref, r, b_eff=b)
    W_dot = operator_rate(Ws, phi, b, r, a, level, D if D_eff is None else D_eff, beta0)
    return W_dot, h_dot, beta_dot, r_dot


def operator_rate(Ws, phi, b, r, a, level, D_eff, beta0):
    """Rate of the operator weights of truncation ``level`` (see ``hybrid_rate``): list (S, m_l, m_{l-1})."""
    if level is None:
        return [-g for g in gradient_W(phi, b, r)]
    if level == 1:
        return [torch.zeros_like(W) for W in Ws]
    if level == 2:
        if beta0 is None:
            raise ValueError("level 2 needs the t = 0 conjugate beta0")
        frozen = [D_eff[l] * beta0[l] for l in range(len(beta0))] + [b[-1]]
        return [-g for g in gradient_W(phi, frozen, r)]
    raise ValueError(f"truncation level must be None, 1 or 2 in the hybrid closure, got {level!r}")


def hybrid_rate_filippov(
    Ws, h, beta, r, a, X, level, D, sliding, packing: MaskPacking, slide_tol=1e-12, beta0=None
):
    """``hybrid_rate`` on a Filippov sliding mode: the equivalent control λ on the entries
    ``sliding`` (S, Q) solves ḣ = 0 there (``equivalent_control``) with the same ḣ (forward
    recursion, spec §5.1) and conjugate as ``hybrid_rate``; ``packing`` as in ``weight_rate_filippov``.
    Returns (rates..., D_eff (S, Q), residual).
    """
    pack, unpack = packing.pack, packing.unpack
    S = r.shape[0]
    phi = [X.expand(S, *X.shape)] + [Dl * x for Dl, x in zip(D, h)]

    Qr = overlap_rates(phi[:-1], r)

    def h_rate_of(D_flat):
        D_eff = unpack(D_flat)
        b = conjugate_from_state(D_eff, conjugate_jump(Ws, D, D_eff, beta, a), a)
        return pack(hidden_rate(Ws, phi, D, b, r, Qr))

    D_eff, res = equivalent_control(h_rate_of, pack(D), sliding, slide_tol)
    D_eff_list = unpack(D_eff) if bool(sliding.any()) else None
    return (*hybrid_rate(Ws, h, beta, r, a, X, level, D, D_eff_list, beta0), D_eff, res)


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
