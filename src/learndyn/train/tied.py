"""The weight-tied fixed-point model of P3 (spec structured-layers.md §3)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .models import _normal, _orthogonal, register_members
from .spec import LIP
from .spectral import SigmaMode, sigma_max_exact, spectral_cap


class TiedNet(SigmaMode, nn.Module):
    """Weight-tied fixed-point model (spec §3 P3): T(h; x) = A h + b + alpha phi(h) + B x.

    ``A = cap(W, rho)`` (``rho = inf`` leaves W unconstrained), ``alpha`` fixed, ``K``
    iterations from h = 0 followed by a linear read-out. Ensemble dimension S as above.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        width: int,
        rho: float,
        alpha: float,
        K: int,
        seeds,
        rank_ratio: float = 0.25,
        device=None,
    ):
        super().__init__()
        self.width, self.rho, self.alpha, self.K = width, float(rho), float(alpha), int(K)
        self.seeds = [int(s) for s in seeds]
        r = max(1, int(round(rank_ratio * width)))
        members = []
        for seed in self.seeds:
            gen = torch.Generator().manual_seed(seed)
            members.append(
                {
                    "B": _normal(gen, (d_in, width), 1 / math.sqrt(d_in)),
                    "W": _orthogonal(gen, width),
                    "b": torch.zeros(width),
                    "V": _normal(gen, (r, width), math.sqrt(2 / width)),
                    "U": _normal(gen, (width, r), 1 / math.sqrt(r)),
                    "c": torch.zeros(r),
                    "R": _normal(gen, (width, d_out), 1 / math.sqrt(width)),
                    "r_b": torch.zeros(d_out),
                    "u_W": F.normalize(torch.randn(width, generator=gen, dtype=torch.float64), dim=0),
                }
            )
        register_members(self, members, device)
        self.exact_sigma = False

    @property
    def n_members(self) -> int:
        return len(self.seeds)

    def shaped(self) -> torch.Tensor:
        """A = W min(1, rho/sigma_max(W)), ``(S, d, d)``."""
        if math.isinf(self.rho):
            return self.W
        return spectral_cap(self.W, self.sigma_max(self.W, "u_W"), self.rho)

    def step(self, h, inj, A):
        """One application of T: ``h (S, B, d)``, ``inj = B x + b (S, B, d)``."""
        corr = F.gelu(h @ self.V.mT + self.c[:, None]) @ self.U.mT
        return h @ A.mT + self.alpha * corr + inj

    def injection(self, x):
        if x.dim() == 2:
            x = x.expand(self.n_members, -1, -1)
        return x @ self.B + self.b[:, None]

    def forward(self, x):
        A, inj = self.shaped(), self.injection(x)
        h = torch.zeros_like(inj)
        for _ in range(self.K):
            h = self.step(h, inj, A)
        return h @ self.R + self.r_b[:, None]

    def regulariser(self) -> torch.Tensor:
        return torch.zeros(self.n_members, device=self.W.device)

    @torch.no_grad()
    def contraction_bound(self) -> torch.Tensor:
        """q = ||A||_2 + |alpha| L_psi ||U||_2 ||V||_2 per member ``(S,)`` (P3)."""
        A = self.shaped().double()
        return sigma_max_exact(A) + abs(self.alpha) * LIP["gelu"] * sigma_max_exact(
            self.U.double()
        ) * sigma_max_exact(self.V.double())
