"""The structured stack as one autograd node with a hand-written backward (training speed).

``structured_stack_forward`` is the plain forward of L structured layers; ``StructuredStack`` the
same as one autograd node; ``CappedRows`` builds [cap(W_l); V_l] with its gradient. Both are
checked against autograd of the unfused layers in ``tests/train/test_models.py``.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .spectral import bilinear_sigma, spectral_cap


def structured_stack_forward(
    h: torch.Tensor, AV: torch.Tensor, bc: torch.Tensor, Ua: torch.Tensor, saved: tuple | None = None
) -> torch.Tensor:
    """L structured layers h_l = A_l h + b_l + alpha_l U_l gelu(V_l h + c_l) (spec §2.2), given
    the shaped A_l = S(W_l) and the gate folded into U_l, with the two matmuls that read h
    fused into one.

    ``h (S, B, d)``; ``AV (S, L, d + r, d)`` = [A_l; V_l] stacked by rows; ``bc (S, L, d + r)``
    = [b_l; c_l]; ``Ua (S, L, d, r)`` = alpha_l U_l. Returns h_L.

    ``saved``: for the backward pass, preallocated layer-major buffers ``(H, PRE, Z)`` of shapes
    ``(L, S, B, d)``, ``(L, S, B, r)``, ``(L, S, B, r)``: layer l reads its input h_{l-1} from
    ``H[l]`` (the caller fills ``H[0]``), writes its output into ``H[l + 1]`` and keeps
    V_l h + c_l and gelu(.) in ``PRE[l]`` and ``Z[l]``, so the backward pass forms every layer's
    weight gradient in one batched matmul.
    """
    d, L = h.shape[-1], AV.shape[1]
    H, PRE, Z = saved if saved is not None else (None, None, None)
    for l in range(L):
        if saved is not None:
            h = H[l]
        P = torch.baddbmm(bc[:, l, None], h, AV[:, l].mT)  # (S, B, d + r): [A h + b, V h + c]
        # contiguous: GELU and its backward run 7-8x slower on a strided view of P (they leave
        # the vectorised kernel), and the copy costs a few microseconds
        if saved is None:
            z = F.gelu(P[..., d:].contiguous())
            h = torch.baddbmm(P[..., :d], z, Ua[:, l].mT)
            continue
        z = torch.ops.aten.gelu.out(PRE[l].copy_(P[..., d:]), out=Z[l])
        if l + 1 < L:
            torch.baddbmm(P[..., :d], z, Ua[:, l].mT, out=H[l + 1])
        else:
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

    Per layer, with g = dLoss/dh_l ``(S, B, d)`` and G_l = [g, gelu'(pre) * (g Ua_l)]
    ``(S, B, d + r)``:  dh_{l-1} = G_l AV_l, and after the loop, for all layers at once,
    dAV_l = G_l^T h_{l-1},  dbc_l = sum_B G_l,  dUa_l = g_l^T z_l (g_l = the first d columns of
    G_l). Four matmuls per layer instead of the six that autograd runs on the unfused layer;
    the two weight gradients are each one batched matmul over all (layer, member) pairs (the same
    numbers as per layer; at width 128 on 2 threads 3.5 ms instead of 4.4 ms per step for the
    two). Checked against autograd of the unfused layers in the tests. Once
    differentiable: second-order uses (Hessian-vector products) take the unfused path.
    """

    @staticmethod
    def forward(ctx, h, AV, bc, Ua):
        S, L, m, d = AV.shape
        H = h.new_empty(L, *h.shape)  # h_0 .. h_{L-1}, the layers' inputs
        PRE, Z = h.new_empty(L, *h.shape[:-1], m - d), h.new_empty(L, *h.shape[:-1], m - d)
        H[0] = h
        out = structured_stack_forward(h, AV, bc, Ua, (H, PRE, Z))
        ctx.save_for_backward(AV, Ua, H, PRE, Z)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        AV, Ua, H, PRE, Z = ctx.saved_tensors
        S, L, m, d = AV.shape
        G = g.new_empty(L, *g.shape[:-1], m)  # G_l for every layer, (L, S, B, m)
        gelu_grad = torch.ops.aten.gelu_backward.grad_input
        for l in reversed(range(L)):
            G[l, ..., :d] = g
            # written into its columns of G (no temporary and copy); the matmuls keep contiguous
            # operands (on a strided slice bmm loops over the batch: 20 more ops per layer)
            gelu_grad(torch.bmm(g, Ua[:, l]), PRE[l], grad_input=G[l, ..., d:])
            g = torch.bmm(G[l], AV[:, l])
        flat = G.flatten(0, 1)  # (L S, B, m)
        gAV = torch.bmm(flat.mT, H.flatten(0, 1)).view(L, S, m, d)
        gUa = torch.bmm(flat[..., :d].mT, Z.flatten(0, 1)).view(L, S, d, m - d)
        gbc = G.sum(2)
        return g, gAV.transpose(0, 1), gbc.transpose(0, 1), gUa.transpose(0, 1)
