"""The identity checks of spec §8 (experiment ``identities``) and the exact discrete identities
(``gradient_descent``).

Every check returns a relative error max|x - x_ref| / max|x_ref| where x_ref is the
independent computation (autodiff, finite differences, Jacobian sandwich, weight-space GD).
All maxima are taken over seeds, samples, units and layers.
"""

from __future__ import annotations

import numpy as np
import torch

from . import gd
from . import operators as ops
from .dynamics import hybrid_initial_state, hybrid_rate
from .fields import coactivation, gradient_W, heaviside, input_geometric, kernel, overlap_Q, training_fields

# Checks of ``identities`` (continuous time) and ``gradient_descent`` (discrete time), in table order.
IDENTITY_CHECKS = (
    "ntk_autodiff",
    "ntk_gc",
    "rate_r_fd",
    "rate_h_fd",
    "rate_h_operator",
    "rate_b_fd",
    "rate_b_operator",
    "rate_q_fd",
    "rate_gamma_fd",
    "forward_recursion",
    "pullback_recursion",
    "homogeneity",
    "symmetry",
    "psd",
    "balancedness_fd",
    "gram_norm_matrix_free",
)
DISCRETE_CHECKS = (
    "gd_gram_step",
    "gd_hidden_update",
    "gd_field_update_L1",
    "gd_flip_corrected_L1",
    "gd_balancedness_drift",
)


def rel_err(x, ref) -> float:
    """max|x - ref| / max|ref| (0 when both vanish)."""
    scale = ref.abs().max().item()
    diff = (x - ref).abs().max().item()
    return diff / scale if scale > 0 else diff


def autodiff_ntk(Ws, a, X, y):
    """eNTK over the trained layers by reverse-mode autodiff: K_{mu nu} = <∂f_mu/∂W, ∂f_nu/∂W>. (S, n, n)."""
    Ws = [W.detach().clone().requires_grad_(True) for W in Ws]
    f = training_fields(Ws, a, X, y).f  # (S, n)
    rows = []
    for mu in range(f.shape[-1]):
        grads = torch.autograd.grad(f[:, mu].sum(), Ws, retain_graph=True)
        rows.append(torch.cat([g.reshape(g.shape[0], -1) for g in grads], dim=-1))
    J = torch.stack(rows, dim=1)  # (S, n, P)
    return J @ J.transpose(-1, -2)


def gram_drift_sq_norm_explicit(W_l, D_l, W0_l, D0_l):
    """sum_{nu kappa} |Γ_{nu kappa} - Γ0_{nu kappa}|_F^2 from the explicit (S, n, n, m, m) operators
    (spec §5.2 box), formed in extended precision (numpy longdouble, eps 1e-19): the entrywise
    difference of two O(1) operators that differ by O(δ) loses log10(|Γ|/|ΔΓ|) digits, which
    float64 cannot spare. Returns a float64 tensor (S,)."""

    def gram(W, D):
        W, D = W.cpu().numpy().astype(np.longdouble), D.cpu().numpy().astype(np.longdouble)
        DD = D[:, :, None, :] * D[:, None, :, :]
        return np.einsum("sia,svki,sib->svkab", W, DD, W) / W.shape[-2]

    diff = gram(W_l, D_l) - gram(W0_l, D0_l)
    return torch.tensor((diff**2).sum((1, 2, 3, 4)).astype(np.float64), dtype=W_l.dtype, device=W_l.device)


def identity_checks(Ws, a, X, y, delta: float = 1e-4) -> dict[str, float]:
    """All continuous-time identities at (Ws, a): {check: relative error} (NaN if not defined)."""
    L = len(Ws)
    F = training_fields(Ws, a, X, y)
    D = F.D
    grads = gradient_W(F.phi, F.b, F.r)
    out = dict.fromkeys(IDENTITY_CHECKS, float("nan"))
    K = kernel(F.phi, F.b)
    out["ntk_autodiff"] = rel_err(K, autodiff_ntk(Ws, a, X, y))
    if L == 1:
        out["ntk_gc"] = rel_err(input_geometric(X) * coactivation(F.h[0], a), K)

    # rates vs central finite differences along the flow, W(±δ) = W ∓ δ ∇loss (spec §8.3)
    # Masks are locally constant (a.e.), so the rates are derivatives of the smooth continuation
    # with the masks of the base point held fixed; differencing that continuation needs no
    # shrinking of δ near switches (δ is still shrunk if the true masks would switch, for record).
    dl = delta

    def fd(fn):
        """Richardson-extrapolated central difference of fn(W(s)) at s = 0, W(s) = W - s ∇loss."""

        def central(e):
            plus = fn([W - e * g for W, g in zip(Ws, grads)])
            minus = fn([W + e * g for W, g in zip(Ws, grads)])
            return [(p - m) / (2 * e) for p, m in zip(plus, minus)]

        coarse, fine = central(dl), central(dl / 2)
        return [(4 * f - c) / 3 for f, c in zip(fine, coarse)]

    fields = lambda W: training_fields(W, a, X, y, D)
    W0, h0, beta0, r0 = hybrid_initial_state(Ws, a, X, y)
    _, h_dot, beta_dot, r_dot = hybrid_rate(W0, h0, beta0, r0, a, X)
    out["rate_r_fd"] = rel_err(r_dot, fd(lambda W: [fields(W).r])[0])
    fd_h = fd(lambda W: fields(W).h)
    out["rate_h_fd"] = max(rel_err(h_dot[l], fd_h[l]) for l in range(L))
    out["rate_h_operator"] = max(
        rel_err(ops.hidden_rate_operator(Ws, D, F.phi, F.b, F.r, l + 1), h_dot[l]) for l in range(L)
    )
    b_dot = [D[l] * beta_dot[l] for l in range(L - 1)]
    fd_b = fd(lambda W: fields(W).b)
    out["rate_b_fd"] = max([rel_err(b_dot[l], fd_b[l]) for l in range(L - 1)], default=float("nan"))
    out["rate_b_operator"] = max(
        [rel_err(ops.conjugate_rate_operator(Ws, D, F.h, F.b, F.r, l + 1), fd_b[l]) for l in range(L - 1)],
        default=float("nan"),
    )
    fd_q = fd(lambda W: [overlap_Q(p) for p in fields(W).phi[1:]])
    out["rate_q_fd"] = max(
        rel_err(ops.overlap_rate_operator(Ws, D, F.phi, F.h, F.b, F.r, l), fd_q[l - 1])
        for l in range(1, L + 1)
    )
    fd_g = fd(lambda W: [ops.gram_operator(W[l], D[l]) for l in range(L)])
    out["rate_gamma_fd"] = max(
        rel_err(ops.gram_operator_rate(Ws[l], D[l], grads[l]), fd_g[l]) for l in range(L)
    )
    fd_bal = fd(ops.balancedness)
    scale = max((W**2).sum(-1).max().item() for W in Ws)
    out["balancedness_fd"] = max([x.abs().max().item() / scale for x in fd_bal], default=float("nan"))

    # operator recursions vs their Jacobian-sandwich definitions (spec §8.4)
    out["forward_recursion"] = max(
        [
            rel_err(ops.forward_operator(Ws, D, l, k), ops.forward_operator_sandwich(Ws, D, l, k))
            for l in range(2, L + 1)
            for k in range(1, l)
        ],
        default=float("nan"),
    )
    out["pullback_recursion"] = max(
        [
            rel_err(ops.pullback_operator(Ws, D, l, j), ops.pullback_operator_sandwich(Ws, D, l, j))
            for j in range(1, L + 1)
            for l in range(1, j + 1)
        ],
        default=float("nan"),
    )

    # homogeneity f = b^(l).h^(l) and h^(k) = J^(k<-l) h^(l) (spec §2)
    hom = [rel_err((F.b[l] * F.h[l]).sum(-1), F.f) for l in range(L)]
    hom += [
        rel_err((ops.layer_jacobian(Ws, D, k, l) @ F.h[l - 1].unsqueeze(-1)).squeeze(-1), F.h[k - 1])
        for k in range(1, L + 1)
        for l in range(1, k + 1)
    ]
    out["homogeneity"] = max(hom)

    # symmetry and PSD (spec §7): K, Q, S, C, Γ_{nu kappa}, 𝒢_{nu nu}; M^T_{mu nu} = M_{nu mu}
    mats = [K] + [overlap_Q(p) for p in F.phi] + [b @ b.transpose(-1, -2) for b in F.b]
    if L == 1:
        mats.append(coactivation(F.h[0], a))
    Gam = [ops.gram_operator(Ws[l], D[l]) for l in range(L)]
    sym = [rel_err(M.transpose(-1, -2), M) for M in mats]
    sym += [rel_err(G.transpose(1, 2).transpose(-1, -2), G) for G in Gam]
    for l in range(2, L + 1):
        M = ops.forward_operator(Ws, D, l, 1)
        sym.append(rel_err(M.transpose(1, 2).transpose(-1, -2), M))
    pulled = [ops.pullback_operator(Ws, D, l, L) for l in range(1, L + 1)]
    sym += [rel_err(G.transpose(1, 2).transpose(-1, -2), G) for G in pulled]
    out["symmetry"] = max(sym)
    psd_mats = (
        mats
        + [G[:, idx, idx] for G in Gam for idx in [torch.arange(G.shape[1])]]
        + [
            torch.stack([G[:, i, j] for i in range(G.shape[1]) for j in range(G.shape[1])], 1)
            for G in Gam[:1]
        ]
        + [G[:, idx, idx] for G in pulled for idx in [torch.arange(G.shape[1])]]
    )
    out["psd"] = max(
        max(0.0, -torch.linalg.eigvalsh(0.5 * (M + M.transpose(-1, -2))).min().item())
        / max(M.abs().max().item(), 1e-300)
        for M in psd_mats
    )

    # matrix-free Gram drift norm vs explicit operators (the drift diagnostics use the former)
    Ws2 = gd.gd_step(Ws, a, X, y, 0.5)
    D2 = training_fields(Ws2, a, X, y).D
    explicit = [gram_drift_sq_norm_explicit(Ws2[l], D2[l], Ws[l], D[l]) for l in range(L)]
    free = [ops.gram_operator_sq_norm(Ws2[l], D2[l], Ws[l], D[l]) for l in range(L)]
    out["gram_norm_matrix_free"] = max(rel_err(f, e) for f, e in zip(free, explicit))
    return out


def discrete_checks(Ws, a, X, y, eta: float) -> dict[str, float]:
    """Exact one-step GD identities (spec §8.5, §7) against a weight-space GD step."""
    L = len(Ws)
    F = training_fields(Ws, a, X, y)
    grads = gradient_W(F.phi, F.b, F.r)
    Wn = [W - eta * g for W, g in zip(Ws, grads)]
    Fn = training_fields(Wn, a, X, y)
    out = dict.fromkeys(DISCRETE_CHECKS, float("nan"))
    out["gd_gram_step"] = max(
        rel_err(
            gd.weight_gram_update(Ws[l], grads[l], eta),
            Wn[l].transpose(-1, -2) @ Wn[l] - Ws[l].transpose(-1, -2) @ Ws[l],
        )
        for l in range(L)
    )
    out["gd_hidden_update"] = max(
        rel_err(gd.hidden_update(Ws[l], F.phi[l], Fn.phi[l], F.b[l], F.r, eta), Fn.h[l] - F.h[l])
        for l in range(L)
    )
    if L == 1:
        h_next = gd.field_update_L1(F.h[0], F.r, a, X, eta)
        out["gd_field_update_L1"] = rel_err(h_next, Fn.h[0])
        K = kernel(F.phi, F.b)
        r_next = gd.residual_update_kernel(K, F.r, eta) + gd.flip_correction_L1(F.h[0], Fn.h[0], a)
        out["gd_flip_corrected_L1"] = rel_err(r_next - F.r, Fn.r - F.r)
    else:
        drift = gd.balancedness_drift(grads, eta)
        true = [u - v for u, v in zip(ops.balancedness(Wn), ops.balancedness(Ws))]
        # relative to the invariant itself: the drift is a difference of two O(|W|^2) numbers
        scale = max(x.abs().max().item() for x in ops.balancedness(Ws))
        out["gd_balancedness_drift"] = max((p - q).abs().max().item() / scale for p, q in zip(drift, true))
    return out


def one_step_residual_error(Ws, a, X, y, etas):
    """|r^{t+1} - (I - η/n K^t) r^t|_inf / |r^t|_inf for each η, and whether any mask switched.

    Returns (errors (E, S), switched (E, S) bool). Spec §3/§8.5: O(η^2) for L >= 2; exact for L = 1
    without switches.
    """
    F = training_fields(Ws, a, X, y)
    K = kernel(F.phi, F.b)
    errs, switched = [], []
    for eta in etas:
        Wn = gd.gd_step(Ws, a, X, y, eta)
        Fn = training_fields(Wn, a, X, y)
        pred = gd.residual_update_kernel(K, F.r, eta)
        errs.append((Fn.r - pred).abs().amax(-1) / F.r.abs().amax(-1))
        switched.append(
            torch.stack([(heaviside(u) != heaviside(v)).flatten(1).any(-1) for u, v in zip(F.h, Fn.h)]).any(0)
        )
    return torch.stack(errs), torch.stack(switched)
