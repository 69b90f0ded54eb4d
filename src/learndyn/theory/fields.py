"""Training-set fields of a fixed-readout ReLU network (spec §1-§4).

Network (spec §1), no biases, 1/sqrt(fan-in) scaling, fixed readout a:

    h^(l)_mu = W_l phi^(l-1)_mu / sqrt(m_{l-1}),  phi^(l) = relu(h^(l)),  phi^(0) = x_mu,
    f_mu = a . phi^(L)_mu / sqrt(m_L),            r_mu = f_mu - y_mu,  loss = |r|^2 / (2n).

Shapes (leading seed axis S everywhere):
    X      (n, d)              inputs, shared by all seeds
    Ws[l]  (S, m_{l+1}, m_l)   trainable weights W_{l+1}, l = 0..L-1 (m_0 = d)
    a      (S, m_L)            fixed readout
    h, phi, D, b               lists over layers of (S, n, m_l) (sample-major rows)
    Q, S, K, G, C              (S, n, n) (G: (n, n))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def heaviside(h: torch.Tensor) -> torch.Tensor:
    """Activation mask Θ(h) with the convention Θ(0) = 0 (spec §1, §11 choice 4)."""
    return (h > 0).to(h.dtype)


def relu(h: torch.Tensor) -> torch.Tensor:
    """σ(h) = max(h, 0) = D h (spec §1)."""
    return torch.clamp_min(h, 0.0)


def init_network(seeds, d: int, widths, device=None, dtype=torch.float64):
    """Weights W_l ~ N(0, 1) entrywise and readout a_i = ±1 (Rademacher), one draw per seed.

    Returns ``Ws`` (list of (S, m_l, m_{l-1})) and ``a`` (S, m_L). Each seed has its own
    ``torch.Generator`` so that a seed's network does not depend on the other seeds.
    """
    dims = [d, *widths]
    Ws = [[] for _ in widths]
    a = []
    for seed in seeds:
        gen = torch.Generator().manual_seed(int(seed))
        for l in range(len(widths)):
            Ws[l].append(torch.randn(dims[l + 1], dims[l], generator=gen, dtype=dtype))
        a.append(torch.randint(0, 2, (dims[-1],), generator=gen).to(dtype) * 2 - 1)
    return [torch.stack(w).to(device) for w in Ws], torch.stack(a).to(device)


def preactivations_forward(Ws, X, D=None):
    """Forward pass (spec §1): lists h[l] = h^(l+1), phi[l] = phi^(l) (phi[0] = X), each (S, n, m).

    With masks ``D`` given, phi^(l) = D^(l) h^(l) uses them instead of Θ(h) (the smooth
    continuation of one mask pattern, used inside integrator steps).
    """
    S = Ws[0].shape[0]
    phi = [X.expand(S, *X.shape)]  # (S, n, d)
    h = []
    for l, W in enumerate(Ws):
        m_prev = W.shape[-1]
        h.append(phi[-1] @ W.transpose(-1, -2) / math.sqrt(m_prev))  # (S, n, m_l)
        phi.append(relu(h[-1]) if D is None else D[l] * h[-1])
    return h, phi


def readout(a, phi_L):
    """f_mu = a . phi^(L)_mu / sqrt(m_L) (spec §1). (S, n)."""
    return (phi_L * a.unsqueeze(-2)).sum(-1) / math.sqrt(a.shape[-1])


def conjugate_fields(Ws, a, h, D=None):
    """Conjugate fields b^(l)_mu = ∂f_mu/∂h^(l)_mu (spec §2).

    b^(L) = D^(L) a / sqrt(m_L),  b^(l) = D^(l) W_{l+1}^T b^(l+1) / sqrt(m_l). List of (S, n, m_l).
    """
    L = len(h)
    D = D if D is not None else [heaviside(x) for x in h]
    b = [None] * L
    b[L - 1] = D[L - 1] * a.unsqueeze(-2) / math.sqrt(a.shape[-1])
    for l in range(L - 2, -1, -1):
        m_l = h[l].shape[-1]
        b[l] = D[l] * (b[l + 1] @ Ws[l + 1]) / math.sqrt(m_l)
    return b


def overlap_Q(phi_l):
    """Q^(l)_{mu nu} = phi^(l)_mu . phi^(l)_nu / m_l (spec §2). (S, n, n)."""
    return phi_l @ phi_l.transpose(-1, -2) / phi_l.shape[-1]


def overlap_S(b_l):
    """S^(l)_{mu nu} = b^(l)_mu . b^(l)_nu (spec §2). (S, n, n)."""
    return b_l @ b_l.transpose(-1, -2)


def kernel(phi, b):
    """Layer-wise kernel K = sum_l Q^(l-1) ⊙ S^(l) (spec §3), the eNTK over W_1..W_L. (S, n, n)."""
    return sum(overlap_Q(phi[l]) * overlap_S(b[l]) for l in range(len(b)))


def input_geometric(X):
    """Input-geometric matrix G = Q^(0) = X X^T / d (spec §4). (n, n)."""
    return X @ X.T / X.shape[-1]


def coactivation(h1, a):
    """Co-activation C_{mu nu} = (1/m) sum_i a_i^2 Θ(h_{i mu}) Θ(h_{i nu}) (spec §4, L = 1). (S, n, n)."""
    D = heaviside(h1)
    return (D * a.unsqueeze(-2) ** 2) @ D.transpose(-1, -2) / h1.shape[-1]


def residual(f, y):
    """r_mu = f_mu - y_mu (spec §1). (S, n)."""
    return f - y


def loss(r):
    """Quadratic loss |r|^2 / (2n) per seed (spec §1). (S,)."""
    return 0.5 * (r**2).mean(-1)


def gradient_W(phi, b, r):
    """∇_{W_l} loss = (1/n) sum_nu r_nu b^(l)_nu phi^(l-1)T_nu / sqrt(m_{l-1}) (spec §2).

    Returns a list of (S, m_l, m_{l-1}).
    """
    n = r.shape[-1]
    return [
        (b[l] * r.unsqueeze(-1)).transpose(-1, -2) @ phi[l] / (n * math.sqrt(phi[l].shape[-1]))
        for l in range(len(b))
    ]


@dataclass
class Fields:
    """All training-set fields of one network state (lists indexed by layer, see module doc)."""

    h: list
    phi: list
    b: list
    f: torch.Tensor
    r: torch.Tensor

    @property
    def D(self):
        return [heaviside(h) for h in self.h]


def training_fields(Ws, a, X, y, D=None) -> Fields:
    """Forward and backward pass of W: the fields h, phi, b, f, r on the training set (spec §1-§2).

    ``D`` optionally fixes the masks (default Θ(h)).
    """
    h, phi = preactivations_forward(Ws, X, D)
    f = readout(a, phi[-1])
    return Fields(h, phi, conjugate_fields(Ws, a, h, D), f, residual(f, y))
