"""Weight-induced operators on the training set (spec §2, §5.1-§5.5, §7).

Layers are numbered as in the spec, 1..L (``Ws[l - 1]`` is W_l, ``D[l - 1]`` is D^(l)).
The explicit operators here are (S, n, n, m, m) tensors, meant for checks on small networks;
the integrators apply the same operators matrix-free through the recursions in ``dynamics``.

Each operator has two constructions side by side: its definition (a Jacobian sandwich) and
the recursion the spec derives; tests and the ``identities`` experiment check one against the other.
"""

from __future__ import annotations

import math

import torch

from .fields import overlap_Q, overlap_S


def _eye(S, n, m, like):
    return torch.eye(m, dtype=like.dtype, device=like.device).expand(S, n, m, m)


def layer_jacobian(Ws, D, k: int, l: int):
    """J^(k<-l)_mu = ∂h^(k)_mu/∂h^(l)_mu = (W_k/sqrt m_{k-1}) D^(k-1)_mu ... (W_{l+1}/sqrt m_l) D^(l)_mu.

    Spec §2, k >= l >= 1; J^(l<-l) = I. Shape (S, n, m_k, m_l).
    """
    S, n, m_l = D[l - 1].shape
    J = _eye(S, n, m_l, D[0])
    for q in range(l + 1, k + 1):
        W = Ws[q - 1]  # W_q: (S, m_q, m_{q-1})
        J = W.unsqueeze(1) @ (D[q - 2].unsqueeze(-1) * J) / math.sqrt(W.shape[-1])
    return J


def forward_operator_sandwich(Ws, D, l: int, k: int):
    """M^(l;k)_{mu nu} = J^(l<-k)_mu J^(l<-k)T_nu (spec §5.1, definition). (S, n, n, m_l, m_l)."""
    J = layer_jacobian(Ws, D, l, k)
    return torch.einsum("smak,svbk->smvab", J, J)


def forward_operator(Ws, D, l: int, k: int):
    """Forward recursion (spec §5.1): M^(k;k) = I,
    M^(q;k)_{mu nu} = (1/m_{q-1}) W_q D^(q-1)_mu M^(q-1;k)_{mu nu} D^(q-1)_nu W_q^T. (S, n, n, m_l, m_l).
    """
    S, n, m_k = D[k - 1].shape
    M = torch.eye(m_k, dtype=D[0].dtype, device=D[0].device).expand(S, n, n, m_k, m_k)
    for q in range(k + 1, l + 1):
        W = Ws[q - 1].unsqueeze(1).unsqueeze(1)  # (S, 1, 1, m_q, m_{q-1})
        Dq = D[q - 2]
        M = Dq[:, :, None, :, None] * M * Dq[:, None, :, None, :]
        M = W @ M @ W.transpose(-1, -2) / W.shape[-1]
    return M


def coactivation_projector(D_j):
    """Π^(j)_{nu kappa} = D^(j)_nu D^(j)_kappa / m_j (spec §5.2), stored as its diagonal (S, n, n, m_j)."""
    return D_j[:, :, None, :] * D_j[:, None, :, :] / D_j.shape[-1]


def pullback_operator_sandwich(Ws, D, l: int, j: int):
    """𝒢^(l;j)_{nu kappa} = J^(j<-l)T_nu Π^(j)_{nu kappa} J^(j<-l)_kappa (spec §5.2, definition).

    Shape (S, n, n, m_l, m_l).
    """
    J = layer_jacobian(Ws, D, j, l)  # (S, n, m_j, m_l)
    P = coactivation_projector(D[j - 1])  # (S, n, n, m_j)
    return torch.einsum("svqa,svkq,skqb->svkab", J, P, J)


def pullback_operator(Ws, D, l: int, j: int):
    """Backward pullback recursion (spec §5.2): 𝒢^(j;j) = Π^(j),
    𝒢^(q;j)_{nu kappa} = (1/m_q) D^(q)_nu W_{q+1}^T 𝒢^(q+1;j)_{nu kappa} W_{q+1} D^(q)_kappa.
    (S, n, n, m_l, m_l).
    """
    G = torch.diag_embed(coactivation_projector(D[j - 1]))
    for q in range(j - 1, l - 1, -1):
        W = Ws[q].unsqueeze(1).unsqueeze(1)  # W_{q+1}: (S, 1, 1, m_{q+1}, m_q)
        G = W.transpose(-1, -2) @ G @ W / W.shape[-1]
        Dq = D[q - 1]
        G = Dq[:, :, None, :, None] * G * Dq[:, None, :, None, :]
    return G


def gram_operator(W_l, D_l):
    """Weight-induced Gram operator Γ^(l)_{nu kappa} = W_l^T D^(l)_nu D^(l)_kappa W_l / m_l (spec §5.2 box).

    ``W_l`` (S, m_l, m_{l-1}), ``D_l`` (S, n, m_l). Shape (S, n, n, m_{l-1}, m_{l-1}).
    """
    DD = D_l[:, :, None, :] * D_l[:, None, :, :]
    return torch.einsum("sia,svki,sib->svkab", W_l, DD, W_l) / W_l.shape[-2]


def gram_operator_rate(W_l, D_l, grad_l):
    """Γ̇^(l)_{nu kappa} = -(A + A^T), A = W_l^T D_nu D_kappa ∇_{W_l}loss / m_l (spec §5.5, masks frozen).

    ``grad_l`` is ∇_{W_l} loss (S, m_l, m_{l-1}). Shape (S, n, n, m_{l-1}, m_{l-1}).
    """
    DD = D_l[:, :, None, :] * D_l[:, None, :, :]
    A = torch.einsum("sia,svki,sib->svkab", W_l, DD, grad_l) / W_l.shape[-2]
    return -(A + A.transpose(-1, -2))


def gram_operator_sq_norm(W_l, D_l, W0_l=None, D0_l=None):
    """sum_{nu kappa} |Γ_{nu kappa} - Γ0_{nu kappa}|_F^2 without forming Γ (spec §5.5;
    the Gram drift of the truncation study).

    Without ``W0_l``: sum |Γ|^2 = sum_ij P_ij^2 N_ij^2 / m^2 with P = W W^T and N = D^T D (unit x
    unit co-activation counts). Cost m^2 (m_{l-1} + n) instead of n^2 m_{l-1}^2.

    With ``W0_l``: the difference is expanded in small quantities, so that nothing cancels.
    With δ_i = w_i - w0_i (rows), c_i = D_{i nu} D_{i kappa} and Δc_i = c_i - c0_i,

        Γ - Γ0 = (1/m) sum_i [c_i δ_i w_i^T + c_i w0_i δ_i^T + Δc_i w0_i w0_i^T],

    a sum of rank-one terms a_t b_t^T (t = 1, 2, 3), so
    sum_{nu kappa} |Γ - Γ0|^2 = (1/m^2) sum_ij sum_tu C_tu(i, j) (a_ti . a_uj)(b_ti . b_uj), where the
    sample sums C_tu of the coefficient products are integers, exact in float64:
    C_cc = N^2, C_cΔ = N^2 - M^2, C_Δc = C_cΔ^T, C_ΔΔ = N^2 - M^2 - (M^T)^2 + N0^2 with
    N = D^T D, N0 = D0^T D0, M = D^T D0. Every term is O(|δ|^2) or carries mask changes, so the
    result keeps its relative accuracy when Γ ≈ Γ0 (the plain expansion |Γ|^2 - 2<Γ, Γ0> + |Γ0|^2
    loses it to cancellation). Shape (S,).
    """
    m = W_l.shape[-2]

    def gram(U, V):
        return U @ V.transpose(-1, -2)  # (S, m, m)

    def counts(Da, Db):
        return Da.transpose(-1, -2) @ Db  # (S, m, m)

    if W0_l is None:
        return ((gram(W_l, W_l) * counts(D_l, D_l)) ** 2).sum((-1, -2)) / m**2
    delta = W_l - W0_l
    N, N0, M = counts(D_l, D_l), counts(D0_l, D0_l), counts(D_l, D0_l)
    C_cc, C_cd = N**2, N**2 - M**2
    C = {
        ("c1", "c1"): C_cc,
        ("c1", "c2"): C_cc,
        ("c2", "c2"): C_cc,
        ("c1", "d3"): C_cd,
        ("c2", "d3"): C_cd,
        ("d3", "d3"): N**2 - M**2 - M.transpose(-1, -2) ** 2 + N0**2,
    }
    a = {"c1": delta, "c2": W0_l, "d3": W0_l}
    b = {"c1": W_l, "c2": delta, "d3": W0_l}
    out = 0.0
    for (t, u), C_tu in C.items():
        term = (C_tu * gram(a[t], a[u]) * gram(b[t], b[u])).sum((-1, -2))
        out = out + (term if t == u else 2 * term)  # (t, u) and (u, t) give the same sum
    return out.clamp_min(0.0) / m**2


# --- rates written with the explicit operators (spec §5.1-§5.3) -----------------------------


def hidden_rate_operator(Ws, D, phi, b, r, l: int):
    """ḣ^(l)_mu = -(1/n) sum_nu r_nu sum_{k=1}^{l} Q^(k-1)_{mu nu} M^(l;k)_{mu nu} b^(l)_nu
    (spec §5.1). (S, n, m_l)."""
    n = r.shape[-1]
    out = 0.0
    for k in range(1, l + 1):
        M = forward_operator(Ws, D, l, k)
        Mb = torch.einsum("smvab,svb->smva", M, b[l - 1])
        out = out + torch.einsum("smv,sv,smva->sma", overlap_Q(phi[k - 1]), r, Mb)
    return -out / n


def conjugate_rate_operator(Ws, D, h, b, r, l: int):
    """ḃ^(l)_nu = -(1/n) sum_kappa r_kappa sum_{j=l}^{L-1} S^(j+1)_{nu kappa} 𝒢^(l;j)_{nu kappa} h^(l)_kappa
    (spec §5.2; ḃ^(L) = 0). (S, n, m_l)."""
    L, n = len(h), r.shape[-1]
    out = torch.zeros_like(h[l - 1])
    for j in range(l, L):
        G = pullback_operator(Ws, D, l, j)
        Gh = torch.einsum("svkab,skb->svka", G, h[l - 1])
        out = out + torch.einsum("svk,sk,svka->sva", overlap_S(b[j]), r, Gh)
    return -out / n


def overlap_rate_operator(Ws, D, phi, h, b, r, l: int):
    """Q̇^(l)_{mu nu} = -(1/n) sum_lambda r_lambda sum_{k=1}^{l}
        [Q^(k-1)_{mu lambda} h^(k)T_nu 𝒢^(k;l)_{nu mu} b^(k)_lambda
    + (mu <-> nu)] (spec §5.3). (S, n, n)."""
    n = r.shape[-1]
    T = 0.0
    for k in range(1, l + 1):
        G = pullback_operator(Ws, D, k, l)  # (S, nu, mu, a, b)
        hG = torch.einsum("sva,svmab->svmb", h[k - 1], G)
        hGb = torch.einsum("svmb,slb->svml", hG, b[k - 1])
        T = T + torch.einsum("svml,sml,sl->smv", hGb, overlap_Q(phi[k - 1]), r)
    return -(T + T.transpose(-1, -2)) / n


def balancedness(Ws):
    """Per-unit invariant |W_l[i,:]|^2 - |W_{l+1}[:,i]|^2 for l = 1..L-1 (spec §7). List of (S, m_l)."""
    return [(Ws[l] ** 2).sum(-1) - (Ws[l + 1] ** 2).sum(-2) for l in range(len(Ws) - 1)]
