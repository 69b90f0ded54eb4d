"""Fixed-readout structured networks in the theory half's parameterisation: training-set fields,
the layer-wise kernel, weight-space gradient flow (docs/structured-closure.md; the structured
layer of spec structured-layers.md §2.2 on the setting of spec gram-hierarchy.md §1).

Network of depth L (L trained weight layers before the fixed readout, as the ReLU network of
``fields``), no biases, 1/sqrt(fan-in) scaling, equal widths m, n training points:

    x^(0)_mu = x_mu,   x^(1)_mu = E x_mu / sqrt(d)                    (unconstrained embedding)
    z^(l)_mu = V_l x^(l-1)_mu / sqrt(m)                               l = 2..L  (branch input)
    x^(l)_mu = A_l x^(l-1)_mu + alpha U_l psi(z^(l)_mu) / sqrt(r),    A_l = W_l / sqrt(m)
    f_mu = a . x^(L)_mu / sqrt(m),   r_mu = f_mu - y_mu,   loss = |r|^2 / (2n)

psi = GELU, rank r = max(1, round(rank_ratio m)), alpha a fixed gate. Initialisation (one
``torch.Generator(seed)`` per network): E, V_l, U_l ~ N(0, 1) entrywise, A_l = rho O_l with O_l
Haar-orthogonal (W_l = sqrt(m) rho O_l: the spectral cap sigma_max(A_l) <= rho holds at t = 0 with
equality, as the training half's orthogonally initialised structured layer), a_i = ±1. Gradient
flow is integrated on the unconstrained parameters (the cap is not re-imposed along the flow:
``cap_excess`` measures by how much sigma_max(A_l(t)) exceeds rho). alpha = 0 is the deep linear
network of the same depth (the linear path alone).

Fields (lists over layers, leading seed axis S): x[l] (S, n, m_l) for l = 0..L (x[0] = X
broadcast), z[l] / the branch's psi, psi' (S, n, r) for the structured layers, conjugates
b[l] = ∂f_mu/∂x^(l)_mu (S, n, m) for l = 1..L and c[l] = ∂f_mu/∂z^(l)_mu (S, n, r):

    b^(L) = a / sqrt(m),   c^(l) = alpha psi'(z^(l)) ⊙ U_l^T b^(l) / sqrt(r),
    b^(l-1) = A_l^T b^(l) + V_l^T c^(l) / sqrt(m).

Kernel (the empirical NTK over every trained parameter; same Hadamard form as spec §3):

    K = G ⊙ S^(1) + sum_{l=2..L} [ Q^(l-1) ⊙ S^(l) + alpha^2 P^(l) ⊙ S^(l) + Q^(l-1) ⊙ T^(l) ]

with G = X X^T/d, Q^(l) = x^(l).x^(l)/m, S^(l) = b^(l).b^(l), P^(l) = psi(z^(l)).psi(z^(l))/r and
T^(l) = c^(l).c^(l): the linear path, the branch's read-out U and its input map V.

Parameters are the list ``params = [E, W_2, V_2, U_2, ..., W_L, V_L, U_L]`` of (S, rows, cols)
tensors (float64), packed for the integrator by ``integrate.Layout``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .integrate import Layout, Settings, integrate

DT = torch.float64


def gelu(z):
    """psi(z) = z Phi(z) (exact GELU)."""
    return z * torch.special.ndtr(z)


def gelu_prime(z):
    """psi'(z) = Phi(z) + z phi(z)."""
    return torch.special.ndtr(z) + z * torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class Architecture:
    """A fixed-readout structured network (module doc): depth L, width m, gate alpha, cap rho and
    the branch rank ratio. ``alpha = 0`` is the deep linear network (the linear path alone)."""

    depth: int
    width: int
    alpha: float
    rho: float = 1.0
    rank_ratio: float = 0.25

    @property
    def rank(self) -> int:
        return max(1, int(round(self.rank_ratio * self.width)))


def _haar_orthogonal(gen, m):
    q, r = torch.linalg.qr(torch.randn((m, m), generator=gen, dtype=DT))
    return q * torch.sign(torch.diagonal(r))


def init_structured(arch: Architecture, seeds, d: int, device=None):
    """Initial parameters (module doc) and readout, one generator per seed: ``params`` (list of
    (S, ., .)) in the order [E, W_2, V_2, U_2, ...] and ``a`` (S, m)."""
    m, r = arch.width, arch.rank
    per_seed, readouts = [], []
    for seed in seeds:
        gen = torch.Generator().manual_seed(int(seed))
        p = [torch.randn((m, d), generator=gen, dtype=DT)]
        for _ in range(arch.depth - 1):
            p.append(math.sqrt(m) * arch.rho * _haar_orthogonal(gen, m))  # A = W/sqrt(m) = rho O
            p.append(torch.randn((r, m), generator=gen, dtype=DT))  # V
            p.append(torch.randn((m, r), generator=gen, dtype=DT))  # U
        per_seed.append(p)
        readouts.append(torch.randint(0, 2, (m,), generator=gen).to(DT) * 2 - 1)
    params = [torch.stack([p[k] for p in per_seed]).to(device) for k in range(len(per_seed[0]))]
    return params, torch.stack(readouts).to(device)


def layers(params):
    """(E, [(W_l, V_l, U_l) for l = 2..L]) from the flat parameter list."""
    return params[0], [tuple(params[i : i + 3]) for i in range(1, len(params), 3)]


@dataclass
class StructuredFields:
    """Training-set fields of one state (module doc): x (L+1 entries), z, psi, dpsi (per
    structured layer), b (L entries, b[0] = b^(1)), c (per structured layer), f, r."""

    x: list
    z: list
    psi: list
    dpsi: list
    b: list
    c: list
    f: torch.Tensor
    r: torch.Tensor


def structured_fields(params, a, X, y, alpha: float) -> StructuredFields:
    """Forward and backward pass of the fixed-readout structured network (module doc)."""
    E, blocks = layers(params)
    S = E.shape[0]
    x = [X.expand(S, *X.shape), X @ E.transpose(-1, -2) / math.sqrt(X.shape[-1])]
    z, psi, dpsi = [], [], []
    for W, V, U in blocks:
        m, r = W.shape[-1], U.shape[-1]
        z.append(x[-1] @ V.transpose(-1, -2) / math.sqrt(m))  # (S, n, r)
        psi.append(gelu(z[-1]))
        dpsi.append(gelu_prime(z[-1]))
        x.append(
            x[-1] @ W.transpose(-1, -2) / math.sqrt(m) + alpha * psi[-1] @ U.transpose(-1, -2) / math.sqrt(r)
        )
    m_L = a.shape[-1]
    f = (x[-1] * a.unsqueeze(-2)).sum(-1) / math.sqrt(m_L)
    b = [(a / math.sqrt(m_L)).unsqueeze(-2).expand_as(x[-1])]
    c = [None] * len(blocks)
    for l in range(len(blocks) - 1, -1, -1):
        W, V, U = blocks[l]
        m, r = W.shape[-1], U.shape[-1]
        c[l] = alpha * dpsi[l] * (b[0] @ U) / math.sqrt(r)  # (S, n, r)
        b.insert(0, (b[0] @ W + c[l] @ V) / math.sqrt(m))
    return StructuredFields(x, z, psi, dpsi, b, c, f, f - y)


def _gram(u, scale=1.0):
    return u @ u.transpose(-1, -2) / scale


def structured_kernel(F: StructuredFields, alpha: float):
    """K = G ⊙ S^(1) + sum_l [Q^(l-1) ⊙ S^(l) + alpha^2 P^(l) ⊙ S^(l) + Q^(l-1) ⊙ T^(l)] (module
    doc): the empirical NTK over E, W_l, U_l, V_l. (S, n, n)."""
    d = F.x[0].shape[-1]
    K = _gram(F.x[0], d) * _gram(F.b[0])
    for l in range(len(F.z)):
        Q = _gram(F.x[l + 1], F.x[l + 1].shape[-1])  # input Gram of structured layer l + 2
        S_l = _gram(F.b[l + 1])
        P = _gram(F.psi[l], F.psi[l].shape[-1])
        K = K + Q * S_l + alpha**2 * P * S_l + Q * _gram(F.c[l])
    return K


def structured_gradient(F: StructuredFields, params, alpha: float):
    """∇ loss for every parameter, in the order of ``params``: (1/n) sum_nu r_nu ∂f_nu/∂theta with
    ∂f/∂E = b^(1) x^T/sqrt(d), ∂f/∂W_l = b^(l) x^(l-1)T/sqrt(m), ∂f/∂U_l = alpha b^(l) psi^T/sqrt(r),
    ∂f/∂V_l = c^(l) x^(l-1)T/sqrt(m). List of (S, rows, cols)."""
    n = F.r.shape[-1]
    w = F.r.unsqueeze(-1) / n  # (S, n, 1)

    def outer(u, v, scale):  # (1/n) sum_nu r_nu u_nu v_nu^T / scale
        return (u * w).transpose(-1, -2) @ v / scale

    grads = [outer(F.b[0], F.x[0], math.sqrt(F.x[0].shape[-1]))]
    for l in range(len(F.z)):
        x_in, b_out, r = F.x[l + 1], F.b[l + 1], F.psi[l].shape[-1]
        sq_m = math.sqrt(x_in.shape[-1])
        grads += [
            outer(b_out, x_in, sq_m),
            outer(F.c[l], x_in, sq_m),
            outer(b_out, F.psi[l], math.sqrt(r) / alpha) if alpha else torch.zeros_like(params[3 * l + 3]),
        ]
    return grads


def structured_weight_flow(params, a, X, y, alpha: float, times, settings: Settings):
    """Weight-space gradient flow d theta/dt = -∇ loss of the structured network (smooth: no
    masks, no events), all seeds in one integration. Returns {"params": [(T, S, ., .)], "r":
    (T, S, n), "stats"}."""
    layout = Layout(params)

    def rhs(t, state, mode):
        p = layout.unpack(state)
        return layout.pack([-g for g in structured_gradient(structured_fields(p, a, X, y, alpha), p, alpha)])

    Y, stats = integrate(rhs, layout.pack(params), times, settings)
    path = layout.unpack(Y)
    r = torch.stack([structured_fields([p[t] for p in path], a, X, y, alpha).r for t in range(len(times))])
    return {"params": path, "r": r, "stats": stats}


def jacobian_autograd(params, a, X, y, alpha: float):
    """Explicit Jacobian J_{mu, theta} = ∂f_mu/∂theta by reverse-mode autodiff of the forward
    pass (independent of the conjugate recursion), one seed per row block: (S, n, P)."""
    leaves = [p.detach().clone().requires_grad_(True) for p in params]
    f = structured_fields(leaves, a, X, y, alpha).f  # (S, n)
    rows = []
    for mu in range(f.shape[-1]):
        g = torch.autograd.grad(f[:, mu].sum(), leaves, retain_graph=True, allow_unused=True)
        g = [torch.zeros_like(p) if gi is None else gi for gi, p in zip(g, leaves)]
        rows.append(torch.cat([gi.flatten(1) for gi in g], dim=-1))  # seeds are independent
    return torch.stack(rows, dim=1).detach()


def kernel_jacobian_error(params, a, X, y, alpha: float) -> torch.Tensor:
    """max |K - J J^T| / max |K| per seed, K from ``structured_kernel``, J from autodiff. (S,)."""
    K = structured_kernel(structured_fields(params, a, X, y, alpha), alpha)
    J = jacobian_autograd(params, a, X, y, alpha)
    return (K - J @ J.transpose(-1, -2)).abs().flatten(1).amax(-1) / K.abs().flatten(1).amax(-1)


def cap_excess(params, rho: float) -> torch.Tensor:
    """Largest relative excess of the cap over the structured layers, max_l max(0,
    sigma_max(A_l)/rho - 1) with A_l = W_l/sqrt(m). (S,) (0 at depth 1)."""
    _, blocks = layers(params)
    out = torch.zeros(params[0].shape[0], dtype=params[0].dtype, device=params[0].device)
    for W, _, _ in blocks:
        sigma = torch.linalg.matrix_norm(W / math.sqrt(W.shape[-1]), ord=2)
        out = torch.maximum(out, (sigma / rho - 1.0).clamp_min(0.0))
    return out
