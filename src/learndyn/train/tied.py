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
    iterations from h = 0 followed by a linear read-out. Ensemble dimension S as above;
    ``rho`` and ``alpha`` are one value for every member or one per member (length S), so a
    whole (rho, alpha, seed) grid trains as one ensemble.
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
        self.width, self.K = width, int(K)
        self.seeds = [int(s) for s in seeds]
        S = len(self.seeds)
        per_member = lambda v: torch.as_tensor(v, dtype=torch.float32).expand(S).clone()
        self.register_buffer("rho", per_member(rho).to(device))
        self.register_buffer("alpha", per_member(alpha).to(device))
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
        """A = W min(1, rho/sigma_max(W)), ``(S, d, d)`` (rho = inf: W itself)."""
        if bool(torch.isinf(self.rho).all()):
            return self.W
        uncapped = torch.isinf(self.rho)
        # a finite stand-in for rho = inf inside the cap, so that its (unused) derivative is
        # finite: 0 * inf would put NaN into the gradient of the uncapped members
        rho = torch.where(uncapped, torch.ones_like(self.rho), self.rho).to(self.W.dtype)
        capped = spectral_cap(self.W, self.sigma_max(self.W, "u_W"), rho)
        return torch.where(uncapped[:, None, None], self.W, capped)

    def step(self, h, inj, A):
        """One application of T: ``h (S, B, d)``, ``inj = B x + b (S, B, d)``."""
        corr = F.gelu(h @ self.V.mT + self.c[:, None]) @ self.U.mT
        return h @ A.mT + self.alpha.to(h.dtype)[:, None, None] * corr + inj

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
        return sigma_max_exact(A) + self.alpha.double().abs() * LIP["gelu"] * sigma_max_exact(
            self.U.double()
        ) * sigma_max_exact(self.V.double())
