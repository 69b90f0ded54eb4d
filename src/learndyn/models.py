"""Structured layers and baselines as batched ensembles (spec structured-layers.md §2).

Every parameter carries a leading ensemble dimension ``S`` (one member per seed, or per
(learning rate, seed) in the LR sweep), so all seeds of a cell train in one set of batched
matmuls. Member ``m`` is initialised from its own ``torch.Generator(seed_m)``, so a member's
numbers do not depend on which other members share the ensemble.

Hidden states are row vectors ``h (S, B, d)``; a layer applies ``h @ A^T``.

Layer family (spec §2.2, [P]):

    structured   h_l = S(W_l) h_{l-1} + b_l + alpha_l * phi_l(h_{l-1})
                 phi_l(h) = U_l psi(V_l h + c_l),   rank r = rank_ratio * d,  psi = GELU
    post-act.    h_l = psi(S(W_l) h_{l-1} + b_l) + alpha_l * phi_l(h_{l-1})
    mlp          h_l = relu(W_l h_{l-1} + b_l)                  (Kaiming init)
    resmlp       h_l = h_{l-1} + U_l psi(V_l h_{l-1} + c_l)     (S = I, alpha = 1)
    snmlp        h_l = relu(W_l / sigma_max(W_l) h_{l-1} + b_l)  (spectral normalisation)

Shaping operators S: ``cap`` W*min(1, rho/sigma_max(W)); ``orthogonal`` rho*Cayley(W - W^T);
``mask`` cap(M*W) with a fixed banded mask M; ``identity`` W.
Gates: ``scalar`` alpha = beta*tanh(a); ``input`` alpha(h) = beta*sigmoid(g.h + e);
``fixed`` alpha = constant (0 gives the structure-only ablation).
"""

from __future__ import annotations

import functools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F

KINDS = ("mlp", "resmlp", "snmlp", "structured")
SHAPINGS = ("cap", "orthogonal", "mask", "identity")
GATES = ("scalar", "input", "fixed")
# Lipschitz constants of the pointwise nonlinearities: max |relu'| = 1, max |gelu'| = 1.12899... <= 1.129.
LIP = {"relu": 1.0, "gelu": 1.129}
U_INIT_STD = 1e-3  # correction read-out starts tiny: the structured path dominates at init


@dataclass(frozen=True)
class ModelSpec:
    """One model of the study (a value of ``train.models`` in the config)."""

    kind: str = "structured"
    shaping: str = "cap"  # structured only: cap | orthogonal | mask | identity
    rho: float = 1.0  # spectral cap / orthogonal scale
    gate: str = "scalar"  # scalar | input | fixed
    alpha: float = 0.1  # initial |alpha| (scalar, input) or its value (fixed)
    beta: float = 1.0  # gate bound |alpha| <= beta
    rank_ratio: float = 0.25  # correction rank r = rank_ratio * width
    post_activation: bool = False
    reg: float = 1e-4  # lambda_phi of the correction regulariser (0 = off)
    mask_band: float = 0.25  # half bandwidth of the fixed mask, fraction of the width
    power_iters: int = 1  # power iterations per training step for sigma_max estimates

    @classmethod
    def from_config(cls, spec: dict) -> "ModelSpec":
        names = {f.name for f in fields(cls)}
        unknown = set(spec) - names
        if unknown:
            raise ValueError(f"unknown model keys {sorted(unknown)}; accepted: {sorted(names)}")
        out = cls(**spec)
        for value, allowed, what in ((out.kind, KINDS, "kind"), (out.shaping, SHAPINGS, "shaping"),
                                     (out.gate, GATES, "gate")):
            if value not in allowed:
                raise ValueError(f"model {what} {value!r} not in {allowed}")
        return out

    def as_dict(self) -> dict:
        return asdict(self)


# --- spectral helpers -----------------------------------------------------------------

@torch.no_grad()
def power_vectors(M: torch.Tensor, u: torch.Tensor, iters: int = 1) -> torch.Tensor:
    """``iters`` power iterations on ``M (..., m, n)`` from the persistent left vector
    ``u (..., m)``, which is updated in place; returns the right vector ``v (..., n)``."""
    for _ in range(max(iters, 1)):
        v = F.normalize((u.unsqueeze(-2) @ M).squeeze(-2), dim=-1, eps=1e-12)
        u.copy_(F.normalize((M @ v.unsqueeze(-1)).squeeze(-1), dim=-1, eps=1e-12))
    return v


def power_iteration(M: torch.Tensor, u: torch.Tensor, iters: int = 1) -> torch.Tensor:
    """sigma_max(M) estimate by power iteration with a persistent left vector (spectral norm).

    ``M (..., m, n)``, ``u (..., m)`` updated in place (no grad). Returns ``sigma (...)``
    = u^T M v, differentiable in M (as in spectral normalisation, Miyato et al. 2018).
    """
    return bilinear_sigma(M, u, power_vectors(M, u, iters))


def bilinear_sigma(M: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """sigma = u^T M v ``(...)`` for ``M (..., m, n)``, ``u (..., m)``, ``v (..., n)``: the
    power-iteration estimate of sigma_max, differentiable in M."""
    return (u.unsqueeze(-2) @ M @ v.unsqueeze(-1))[..., 0, 0]


@functools.lru_cache(maxsize=None)
def _thread_pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix="eigvalsh")


def eigvalsh_batched(G: torch.Tensor) -> torch.Tensor:
    """Eigenvalues ``(..., n)`` of symmetric ``G (..., n, n)``, ascending (torch.linalg.eigvalsh).

    LAPACK's solver for one small matrix keeps one core busy, so on CPU without autograd the
    batch is split into one chunk per intra-op thread, solved side by side with one thread
    each (2x faster on 2 cores for 40 matrices of 128 x 128; identical values).
    """
    threads = torch.get_num_threads()
    flat = G.reshape(-1, *G.shape[-2:])
    if G.device.type != "cpu" or threads < 2 or len(flat) < 2 * threads or (
            G.requires_grad and torch.is_grad_enabled()):
        return torch.linalg.eigvalsh(G)
    torch.set_num_threads(1)
    try:
        parts = list(_thread_pool(threads).map(torch.linalg.eigvalsh, flat.detach().chunk(threads)))
    finally:
        torch.set_num_threads(threads)
    return torch.cat(parts).reshape(G.shape[:-1])


def sigma_max_exact(M: torch.Tensor) -> torch.Tensor:
    """Exact largest singular value ``(...)`` of ``M (..., m, n)``, in float64:
    sqrt(lambda_max(M^T M)) by a symmetric eigensolver (1.5x faster than an SVD on CPU, same
    value to ~1e-14 relative; differentiable).

    Non-finite matrices (a diverged ensemble member) give NaN instead of a solver error.
    """
    Md = M.double()
    finite = torch.isfinite(Md).flatten(-2).all(-1)
    Md = torch.where(finite[..., None, None], Md, torch.zeros_like(Md))
    gram = Md.mT @ Md if Md.shape[-1] <= Md.shape[-2] else Md @ Md.mT
    s = eigvalsh_batched(gram)[..., -1].clamp_min(0.0).sqrt()
    return torch.where(finite, s, torch.full_like(s, float("nan"))).to(M.dtype)


def band_mask(d: int, band: float) -> torch.Tensor:
    """Fixed banded mask ``(d, d)``: M_ij = 1 when |i - j| <= band * d."""
    idx = torch.arange(d)
    return ((idx[:, None] - idx[None, :]).abs() <= max(1, int(round(band * d)))).float()


def spectral_cap(W: torch.Tensor, sigma: torch.Tensor, rho: float) -> torch.Tensor:
    """S(W) = W * min(1, rho / sigma_max(W)) (spec §2.2, shaping 1). ``W (..., d, d)``."""
    scale = torch.clamp(rho / sigma.clamp_min(1e-12), max=1.0)
    return W * scale[..., None, None]


def orthogonal_shaping(W: torch.Tensor, rho: float) -> torch.Tensor:
    """S(W) = rho * (I + K)^{-1} (I - K), K = W - W^T (Cayley map): an orthogonal matrix times
    rho, so every singular value equals rho (spec §2.2, shaping 2). ``W (..., d, d)``.

    The Cayley map costs one LU solve; the matrix exponential (also orthogonal) was ~5x slower
    in training on CPU.
    """
    K = W - W.mT
    finite = torch.isfinite(K).flatten(-2).all(-1)[..., None, None]
    K = torch.where(finite, K, torch.zeros_like(K))  # a diverged member must not break the solve
    eye = torch.eye(W.shape[-1], dtype=W.dtype, device=W.device)
    Q = torch.linalg.solve(eye + K, eye - K)
    return rho * torch.where(finite, Q, torch.full_like(Q, float("nan")))


# --- the structured stack with a hand-written backward ------------------------------------

def structured_stack_forward(h: torch.Tensor, AV: torch.Tensor, bc: torch.Tensor,
                             Ua: torch.Tensor, saved: list | None = None) -> torch.Tensor:
    """L structured layers h_l = A_l h + b_l + alpha_l U_l gelu(V_l h + c_l) (spec §2.2), given
    the shaped A_l = S(W_l) and the gate folded into U_l, with the two matmuls that read h
    fused into one.

    ``h (S, B, d)``; ``AV (S, L, d + r, d)`` = [A_l; V_l] stacked by rows; ``bc (S, L, d + r)``
    = [b_l; c_l]; ``Ua (S, L, d, r)`` = alpha_l U_l. ``saved`` (a list) collects
    (h_{l-1}, V_l h + c_l, gelu(.)) per layer for the backward pass. Returns h_L.
    """
    d = h.shape[-1]
    for l in range(AV.shape[1]):
        P = torch.baddbmm(bc[:, l, None], h, AV[:, l].mT)  # (S, B, d + r): [A h + b, V h + c]
        pre = P[..., d:]
        z = F.gelu(pre)
        if saved is not None:
            saved.append((h, pre, z))
        h = torch.baddbmm(P[..., :d], z, Ua[:, l].mT)
    return h


class CappedRows(torch.autograd.Function):
    """[cap(W_l); V_l] ``(S, L, d + r, d)`` for the structured stack, as one autograd node:
    cap(W) = W min(1, rho / sigma), sigma = u^T W v from the power-iteration vectors
    ``u, v (S, L, d)`` (spec §2.2, shaping 1; same value and gradient as ``spectral_cap`` of
    ``power_iteration``, which the tests check).

    Backward, with s = min(1, rho / sigma) and G_A the rows of the incoming gradient that
    belong to A:  dW = s G_A - [rho <= sigma] (rho / sigma^2) <G_A, W> u v^T,  dV = G_V.
    """

    @staticmethod
    def forward(ctx, W, V, u, v, rho):
        sigma = bilinear_sigma(W, u, v)  # (S, L)
        ratio = rho / sigma.clamp_min(1e-12)
        # d scale / d sigma where the cap is active (clamp passes the gradient at equality)
        dscale = torch.where((ratio <= 1.0) & (sigma > 1e-12), -ratio / sigma, torch.zeros_like(ratio))
        ctx.save_for_backward(W, u, v, ratio.clamp(max=1.0), dscale)
        return torch.cat([spectral_cap(W, sigma, rho), V], -2)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        W, u, v, scale, dscale = ctx.saved_tensors
        d = W.shape[-1]
        gA = g[..., :d, :]
        gW = gA * scale[..., None, None]
        coef = dscale * (gA * W).sum((-1, -2))  # d loss / d sigma, (S, L)
        gW += (coef[..., None] * u).unsqueeze(-1) * v.unsqueeze(-2)
        return gW, g[..., d:, :], None, None, None


class StructuredStack(torch.autograd.Function):
    """``structured_stack_forward`` as one autograd node with the backward written out.

    Per layer, with g = dLoss/dh_l ``(S, B, d)`` and G = [g, gelu'(pre) * (g Ua_l)]
    ``(S, B, d + r)``:  dAV_l = G^T h_{l-1},  dbc_l = sum_B G,  dUa_l = g^T z_l,
    dh_{l-1} = G AV_l. Four matmuls per layer instead of the six that autograd runs on the
    unfused layer, and the per-layer gradients are written straight into the stacked
    ``(S, L, ...)`` tensors. Checked against autograd of the unfused layers in the tests.
    Once differentiable: second-order uses (Hessian-vector products) take the unfused path.
    """

    @staticmethod
    def forward(ctx, h, AV, bc, Ua):
        saved = []
        out = structured_stack_forward(h, AV, bc, Ua, saved)
        ctx.save_for_backward(AV, Ua, *(t for layer in saved for t in layer))
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        AV, Ua, *flat = ctx.saved_tensors
        S, L, m, d = AV.shape
        # layer-major buffers, so each layer's gradient is one contiguous matmul output
        gAV, gbc = AV.new_empty(L, S, m, d), AV.new_empty(L, S, m)
        gUa = Ua.new_empty(L, S, *Ua.shape[2:])
        G = g.new_empty(*g.shape[:-1], m)
        for l in reversed(range(L)):
            h, pre, z = flat[3 * l:3 * l + 3]
            G[..., :d] = g
            G[..., d:] = torch.ops.aten.gelu_backward(torch.bmm(g, Ua[:, l]), pre)
            torch.bmm(G.mT, h, out=gAV[l])
            torch.sum(G, 1, out=gbc[l])
            torch.bmm(g.mT, z, out=gUa[l])
            g = torch.bmm(G, AV[:, l])
        return g, gAV.transpose(0, 1), gbc.transpose(0, 1), gUa.transpose(0, 1)


# --- initialisation -----------------------------------------------------------------------

def _normal(gen, shape, std):
    return torch.randn(shape, generator=gen, dtype=torch.float64) * std


def _orthogonal(gen, d):
    q, r = torch.linalg.qr(torch.randn((d, d), generator=gen, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


def register_members(module: nn.Module, members: list[dict], device=None) -> None:
    """Stack per-member tensors along a leading ensemble dim ``S`` (float32) and register them:
    names starting with ``u_`` (power-iteration vectors) as buffers, the rest as parameters."""
    for name in members[0]:
        value = torch.stack([m[name] for m in members]).float().to(device)
        if name.startswith("u_"):
            module.register_buffer(name, value)
        else:
            setattr(module, name, nn.Parameter(value))


class EnsembleNet(nn.Module):
    """Embedding E -> L layers of width d -> read-out R, for S ensemble members at once.

    ``seeds`` (length S) gives each member's initialisation seed.
    """

    def __init__(self, spec: ModelSpec, d_in: int, d_out: int, width: int, depth: int,
                 seeds, device=None):
        super().__init__()
        self.spec, self.d_in, self.d_out, self.width, self.depth = spec, d_in, d_out, width, depth
        self.seeds = [int(s) for s in seeds]
        self.rank = max(1, int(round(spec.rank_ratio * width)))
        members = [self._init_member(torch.Generator().manual_seed(s)) for s in self.seeds]
        register_members(self, members, device)
        if spec.kind == "structured" and spec.shaping == "mask":
            self.register_buffer("mask", band_mask(width, spec.mask_band).to(device))
        self.exact_sigma = False  # True: exact SVD instead of power iteration (measurements)

    # parameters of one member, in a fixed order (so members are independent of S)
    def _init_member(self, gen) -> dict[str, torch.Tensor]:
        s, d, L, r = self.spec, self.width, self.depth, self.rank
        p = {"E": _normal(gen, (self.d_in, d), 1 / math.sqrt(self.d_in)), "e_b": torch.zeros(d),
             "R": _normal(gen, (d, self.d_out), 1 / math.sqrt(d)), "r_b": torch.zeros(self.d_out)}
        if s.kind in ("mlp", "snmlp"):
            p["W"] = _normal(gen, (L, d, d), math.sqrt(2 / d))  # Kaiming (fan-in, ReLU)
            p["b"] = torch.zeros(L, d)
        if s.kind == "structured":
            if s.shaping == "orthogonal":  # skew generator of a random rotation
                p["W"] = _normal(gen, (L, d, d), 0.5 / math.sqrt(d))
            else:
                p["W"] = torch.stack([_orthogonal(gen, d) for _ in range(L)])
            p["b"] = torch.zeros(L, d)
        if s.kind in ("structured", "resmlp"):
            p["V"] = _normal(gen, (L, r, d), math.sqrt(2 / d))
            # resmlp: residual branch scaled 1/sqrt(r L) so depth 32 does not explode at init
            u_std = U_INIT_STD if s.kind == "structured" else 1 / math.sqrt(r * L)
            p["U"] = _normal(gen, (L, d, r), u_std)
            p["c"] = torch.zeros(L, r)
        if s.kind == "structured" and s.gate == "scalar":
            p["a"] = torch.full((L,), math.atanh(s.alpha / s.beta))
        if s.kind == "structured" and s.gate == "input":
            p["g"] = torch.zeros(L, d)
            p["e"] = torch.full((L,), math.log(s.alpha / (s.beta - s.alpha)))
        if s.kind == "snmlp" or (s.kind == "structured" and s.shaping in ("cap", "mask")):
            p["u_W"] = F.normalize(torch.randn((L, d), generator=gen, dtype=torch.float64), dim=-1)
        if s.kind == "structured" and s.reg > 0:
            p["u_U"] = F.normalize(torch.randn((L, d), generator=gen, dtype=torch.float64), dim=-1)
            p["u_V"] = F.normalize(torch.randn((L, r), generator=gen, dtype=torch.float64), dim=-1)
        return p

    @property
    def n_members(self) -> int:
        return len(self.seeds)

    def param_count(self) -> int:
        """Trainable parameters of one member."""
        return sum(p[0].numel() for p in self.parameters())

    # --- the structured operator and the gate -----------------------------------------
    def _sigma(self, M: torch.Tensor, buffer: str) -> torch.Tensor:
        if not self.power_sigma():
            return sigma_max_exact(M)
        return power_iteration(M, getattr(self, buffer), self.spec.power_iters)

    def power_sigma(self) -> bool:
        """sigma_max by power iteration (training) rather than exactly (evaluation, or
        ``exact_sigma`` for measurements)."""
        return self.training and not self.exact_sigma

    def shaped(self) -> torch.Tensor:
        """A_l = S(W_l) for all members and layers, ``(S, L, d, d)`` (identity for resmlp)."""
        s = self.spec
        if s.kind == "resmlp":
            eye = torch.eye(self.width, device=self.E.device)
            return eye.expand(self.n_members, self.depth, -1, -1)
        if s.kind == "mlp" or (s.kind == "structured" and s.shaping == "identity"):
            return self.W
        if s.kind == "snmlp":
            return self.W / self._sigma(self.W, "u_W")[..., None, None]
        if s.shaping == "orthogonal":
            return orthogonal_shaping(self.W, s.rho)
        W = self.W * self.mask if s.shaping == "mask" else self.W
        return spectral_cap(W, self._sigma(W, "u_W"), s.rho)

    def alpha_scalar(self) -> torch.Tensor:
        """Per-layer gate ``(S, L)``: beta*tanh(a) (scalar), the constant (fixed), 1 (resmlp),
        0 (no correction path), beta (input gate: its bound)."""
        s, shape = self.spec, (self.n_members, self.depth)
        dev = self.E.device
        if s.kind == "resmlp":
            return torch.ones(shape, device=dev)
        if s.kind != "structured":
            return torch.zeros(shape, device=dev)
        if s.gate == "scalar":
            return s.beta * torch.tanh(self.a)
        if s.gate == "fixed":
            return torch.full(shape, s.alpha, device=dev)
        return torch.full(shape, s.beta, device=dev)

    def has_correction(self) -> bool:
        return self.spec.kind == "resmlp" or (self.spec.kind == "structured" and not (
            self.spec.gate == "fixed" and self.spec.alpha == 0))

    # --- forward ------------------------------------------------------------------------
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """h_0 = x E + e, ``x (S, B, d_in)`` or ``(B, d_in)`` -> ``(S, B, d)``."""
        if x.dim() == 2:
            x = x.expand(self.n_members, -1, -1)  # (S, B, d_in), shared inputs
        return x @ self.E + self.e_b[:, None]

    # names of the stacked (S, L, ...) tensors a layer reads, besides A and alpha
    LAYER_TENSORS = ("b", "V", "U", "c", "g", "e")

    def layer_tensors(self, A: torch.Tensor, alpha: torch.Tensor, l: int | None = None):
        """Per-layer slices ``{name: (S, ...)}`` of A, alpha and the layer parameters.

        ``l=None`` returns the list over all layers, split once with ``unbind`` (so the
        backward pass stacks the layer gradients once instead of scattering each layer's
        gradient into a zero-filled copy of the whole stacked tensor).
        """
        stacked = {"A": A, "alpha": alpha} | {
            k: getattr(self, k) for k in self.LAYER_TENSORS if hasattr(self, k)}
        if l is not None:
            return {k: v[:, l] for k, v in stacked.items()}
        split = {k: v.unbind(1) for k, v in stacked.items()}
        return [{k: v[i] for k, v in split.items()} for i in range(self.depth)]

    def layer(self, l: int, h: torch.Tensor, A: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """h_l from h_{l-1} ``(S, B, d)``; ``A (S, L, d, d)``, ``alpha (S, L)``."""
        return self.apply_layer(h, self.layer_tensors(A, alpha, l))

    def apply_layer(self, h: torch.Tensor, p: dict) -> torch.Tensor:
        """One layer on ``h (S, B, d)`` given its slices ``p`` (see ``layer_tensors``)."""
        s = self.spec
        if s.kind in ("mlp", "snmlp"):
            return F.relu(torch.baddbmm(p["b"][:, None], h, p["A"].mT))
        z = F.gelu(torch.baddbmm(p["c"][:, None], h, p["V"].mT))  # psi(V h + c), (S, B, r)
        if s.kind == "resmlp":
            return torch.baddbmm(h, z, p["U"].mT)
        lin = torch.baddbmm(p["b"][:, None], h, p["A"].mT)
        if s.post_activation:
            lin = F.gelu(lin)
        if s.gate == "input":
            gate = s.beta * torch.sigmoid(h @ p["g"][..., None] + p["e"][:, None, None])
            return torch.addcmul(lin, gate, z @ p["U"].mT)
        # scalar gate folded into the (d, r) read-out: alpha U psi(.) costs no (S, B, d) pass
        return torch.baddbmm(lin, z, (p["U"] * p["alpha"][:, None, None]).mT)

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.R + self.r_b[:, None]

    def operators(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(A, alpha)`` = (shaped(), alpha_scalar()). In eval mode without autograd (the
        evaluations, robustness sweeps) they are cached until a parameter or buffer changes
        in place, so an exact sigma_max is computed once, not once per forward call."""
        if self.training or torch.is_grad_enabled():
            return self.shaped(), self.alpha_scalar()
        key = tuple((id(t), t._version) for t in (*self.parameters(), *self.buffers()))
        cached = getattr(self, "_operators_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, (self.shaped(), self.alpha_scalar()))
            self._operators_cache = cached
        return cached[1]

    def fused(self) -> bool:
        """Whether ``forward`` runs the layers as one ``StructuredStack``: structured layers
        with a per-layer scalar gate and no post-activation, in training or without autograd.
        In eval mode with autograd on (Jacobians, Hessian-vector products) the layers run
        unfused, since the fused backward is only once differentiable."""
        s = self.spec
        return (s.kind == "structured" and s.gate in ("scalar", "fixed")
                and not s.post_activation and (self.training or not torch.is_grad_enabled()))

    def fused_layers(self, h: torch.Tensor) -> torch.Tensor:
        """h_L from h_0 ``(S, B, d)`` through ``StructuredStack`` (see ``fused``). In training
        with the power-iteration cap, [cap(W_l); V_l] comes from one ``CappedRows`` node."""
        s = self.spec
        if s.shaping == "cap" and self.power_sigma():
            v = power_vectors(self.W, self.u_W, s.power_iters)
            AV, alpha = CappedRows.apply(self.W, self.V, self.u_W, v, s.rho), self.alpha_scalar()
        else:
            A, alpha = self.operators()
            AV = torch.cat([A, self.V], 2)
        bc, Ua = torch.cat([self.b, self.c], 2), self.U * alpha[..., None, None]
        if torch.is_grad_enabled():
            return StructuredStack.apply(h, AV, bc, Ua)
        return structured_stack_forward(h, AV, bc, Ua)

    def forward(self, x: torch.Tensor, return_hidden: bool = False):
        """Outputs ``(S, B, d_out)``; with ``return_hidden`` also ``[h_0, ..., h_L]``."""
        if not return_hidden and self.fused():
            return self.readout(self.fused_layers(self.embed(x)))
        A, alpha = self.operators()
        h = self.embed(x)
        hidden = [h]
        for p in self.layer_tensors(A, alpha):
            h = self.apply_layer(h, p)
            hidden.append(h)
        out = self.readout(h)
        return (out, hidden) if return_hidden else out

    def forward_from(self, l0: int, h: torch.Tensor, l1: int | None = None) -> torch.Tensor:
        """Apply layers l0+1..l1 to ``h = h_{l0}`` (no read-out); l1 defaults to L."""
        A, alpha = self.operators()
        for l in range(l0, self.depth if l1 is None else l1):
            h = self.layer(l, h, A, alpha)
        return h

    # --- regulariser and bounds (spec §3) -------------------------------------------------
    def correction_lipschitz(self) -> torch.Tensor:
        """L_phi <= L_psi ||U_l||_2 ||V_l||_2, ``(S, L)`` (0 without a correction path)."""
        if self.spec.kind not in ("structured", "resmlp"):
            return torch.zeros(self.n_members, self.depth, device=self.E.device)
        if self.power_sigma() and self.spec.reg > 0:
            su, sv = self._sigma(self.U, "u_U"), self._sigma(self.V, "u_V")
        else:
            su, sv = sigma_max_exact(self.U), sigma_max_exact(self.V)
        return LIP["gelu"] * su * sv

    def regulariser(self) -> torch.Tensor:
        """lambda_phi sum_l alpha_l^2 ||U_l||^2 ||V_l||^2 per member ``(S,)`` (spec §2.2)."""
        if self.spec.kind != "structured" or self.spec.reg == 0 or not self.has_correction():
            return torch.zeros(self.n_members, device=self.E.device)
        eps = self.alpha_scalar() * self.correction_lipschitz() / LIP["gelu"]
        return self.spec.reg * (eps ** 2).sum(-1)

    @torch.no_grad()
    def layer_bounds(self) -> dict[str, torch.Tensor]:
        """P1/P2 per layer ``(S, L)``: upper ||A|| L_out + |alpha| L_phi and lower s - eps.

        ``L_out`` is the Lipschitz constant applied after A (ReLU for the MLPs, GELU for the
        post-activation variant, 1 otherwise). The lower bound only holds for the linear
        structured path (no activation after A); it is NaN elsewhere. The input gate has no
        scalar bound (its derivative adds a term), so its bounds are NaN.
        """
        A = self.shaped().double()
        sv = torch.linalg.svdvals(A)
        s_max, s_min = sv[..., 0], sv[..., -1]
        eps = self.alpha_scalar().abs().double() * self.correction_lipschitz().double()
        s = self.spec
        post = LIP["relu"] if s.kind in ("mlp", "snmlp") else (
            LIP["gelu"] if s.post_activation else 1.0)
        upper = post * s_max + eps
        lower = s_min - eps
        if s.kind in ("mlp", "snmlp") or s.post_activation:
            lower = torch.full_like(lower, float("nan"))
        if s.kind == "structured" and s.gate == "input":
            upper = torch.full_like(upper, float("nan"))
            lower = torch.full_like(lower, float("nan"))
        return {"A_sigma_max": s_max, "A_sigma_min": s_min, "eps": eps,
                "bound_upper": upper, "bound_lower": lower}


class TiedNet(nn.Module):
    """Weight-tied fixed-point model (spec §3 P3): T(h; x) = A h + b + alpha phi(h) + B x.

    ``A = cap(W, rho)`` (``rho = inf`` leaves W unconstrained), ``alpha`` fixed, ``K``
    iterations from h = 0 followed by a linear read-out. Ensemble dimension S as above.
    """

    def __init__(self, d_in: int, d_out: int, width: int, rho: float, alpha: float, K: int,
                 seeds, rank_ratio: float = 0.25, device=None):
        super().__init__()
        self.width, self.rho, self.alpha, self.K = width, float(rho), float(alpha), int(K)
        self.seeds = [int(s) for s in seeds]
        r = max(1, int(round(rank_ratio * width)))
        members = []
        for seed in self.seeds:
            gen = torch.Generator().manual_seed(seed)
            members.append({
                "B": _normal(gen, (d_in, width), 1 / math.sqrt(d_in)),
                "W": _orthogonal(gen, width), "b": torch.zeros(width),
                "V": _normal(gen, (r, width), math.sqrt(2 / width)),
                "U": _normal(gen, (width, r), 1 / math.sqrt(r)),
                "c": torch.zeros(r),
                "R": _normal(gen, (width, d_out), 1 / math.sqrt(width)), "r_b": torch.zeros(d_out),
                "u_W": F.normalize(torch.randn(width, generator=gen, dtype=torch.float64), dim=0)})
        register_members(self, members, device)
        self.exact_sigma = False

    @property
    def n_members(self) -> int:
        return len(self.seeds)

    def shaped(self) -> torch.Tensor:
        """A = W min(1, rho/sigma_max(W)), ``(S, d, d)``."""
        if math.isinf(self.rho):
            return self.W
        if self.exact_sigma or not self.training:
            sigma = sigma_max_exact(self.W)
        else:
            sigma = power_iteration(self.W, self.u_W, 1)
        return spectral_cap(self.W, sigma, self.rho)

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
        return (sigma_max_exact(A) + abs(self.alpha) * LIP["gelu"]
                * sigma_max_exact(self.U.double()) * sigma_max_exact(self.V.double()))


def build_model(spec: ModelSpec | dict, d_in: int, d_out: int, width: int, depth: int, seeds,
                device=None) -> EnsembleNet:
    if isinstance(spec, dict):
        spec = ModelSpec.from_config(spec)
    return EnsembleNet(spec, d_in, d_out, width, depth, seeds, device)
