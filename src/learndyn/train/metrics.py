"""Measurements of spec structured-layers.md §5 on batched ensembles.

All functions take an ``EnsembleNet`` with ``S`` members and return tensors with a leading
member axis ``(S, ...)``. Measurements run in eval mode (exact sigma_max in the shaping
operator instead of the training-time power-iteration estimate) and leave the weights as
they were.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch.func import vjp, vmap

from .constants import AMPLIFICATION_NORM, DIFF_FLOOR, FIXED_POINT_TOL, rank_rtol
from .loop import member_loss, member_metric


class evaluating:
    """Context: eval mode (exact sigma) and restored mode afterwards."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.was = self.model.training
        self.model.eval()
        return self.model

    def __exit__(self, *exc):
        self.model.train(self.was)


JACOBIAN_CHUNK = 32  # basis vectors per vmap chunk: bounds memory at large widths


def batched_jacobian(f, h: torch.Tensor) -> torch.Tensor:
    """Per-sample Jacobians of a map acting row-wise: ``f: (S, n, a) -> (S, n, b)``.

    Returns ``J (S, n, b, a)`` with J[s, i] = d f(h)[s, i] / d h[s, i]. One vector-Jacobian
    product per output coordinate, vectorised with ``torch.func.vmap`` in chunks.
    """
    with torch.no_grad():  # no graph back to the weights (it would keep every J alive)
        out, vjp_fn = vjp(f, h)
        b = out.shape[-1]
        basis = torch.eye(b, dtype=out.dtype, device=out.device)[:, None, None, :].expand(b, *out.shape)
        (J,) = vmap(vjp_fn, chunk_size=JACOBIAN_CHUNK)(basis.contiguous())  # (b, S, n, a)
    return J.permute(1, 2, 0, 3)


# --- gradient flow ---------------------------------------------------------------------


def gradient_norms(model, x: torch.Tensor, y: torch.Tensor, kind: str) -> dict[str, torch.Tensor]:
    """Per-layer gradient norms (spec §5), without touching ``.grad`` of the weights.

    ``grad_h (S, L+1)``: mean over samples of ||d loss_i / d h_l|| (per-sample loss gradient).
    ``grad_W (S, L)``: ||d L / d W_l||_F of the batch-mean loss (NaN without a matrix W).
    """
    with evaluating(model):
        out, hidden = model(x, return_hidden=True)
        for h in hidden:
            h.retain_grad()
        B = out.shape[1]
        loss = member_loss(out, y, kind)  # (S,) batch means
        weights = [model.W] if hasattr(model, "W") else []
        grads = torch.autograd.grad(loss.sum() * B, hidden + weights)
    grad_h = torch.stack([g.norm(dim=-1).mean(-1) for g in grads[: len(hidden)]], dim=1)
    if weights:
        grad_W = grads[-1].flatten(2).norm(dim=-1) / B  # (S, L)
    else:
        grad_W = torch.full((model.n_members, model.depth), float("nan"))
    return {"grad_h": grad_h.detach(), "grad_W": grad_W.detach()}


def hessian_top_eigenvalue(model, x, y, kind: str, iters: int = 10, seed: int = 0) -> torch.Tensor:
    """Top Hessian eigenvalue of each member's training loss by power iteration on
    Hessian-vector products ``(S,)``. The ensemble loss is a sum over members, so its Hessian
    is block diagonal and one power iteration serves all members (normalised per member).
    """
    with evaluating(model):
        params = [p for p in model.parameters() if p.requires_grad]
        loss = member_loss(model(x), y, kind).sum()
        grads = torch.autograd.grad(loss, params, create_graph=True)
        gen = torch.Generator().manual_seed(seed)
        v = [torch.randn(p.shape, generator=gen).to(p) for p in params]

        def member_norm(vs):
            return torch.sqrt(sum(t.flatten(1).pow(2).sum(1) for t in vs))  # (S,)

        def normalise(vs):
            n = member_norm(vs).clamp_min(1e-30)
            return [t / n.view(-1, *([1] * (t.dim() - 1))) for t in vs]

        v = normalise(v)
        lam = torch.zeros(model.n_members)
        for i in range(iters):
            Hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=i < iters - 1)
            lam = sum((a * b).flatten(1).sum(1) for a, b in zip(v, Hv))  # Rayleigh quotient
            v = normalise([t.detach() for t in Hv])
    return lam.detach()


# --- spectra and Jacobians -----------------------------------------------------------


def pseudo_condition(sv: torch.Tensor, rtol: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pseudo-condition number on the active subspace of a spectrum ``sv (..., k)``.

    ``sv`` holds singular values along the last axis, descending. Active = s > rtol * s_max,
    ``rtol`` by default the float64 numerical-rank threshold ``constants.rank_rtol(k)`` = k *
    eps(float64); kappa_+ = s_max / (smallest active s). Returns ``(log10 kappa_+, active
    fraction)``, each of shape ``sv.shape[:-1]``: log10 kappa_+ is never clipped (it is <
    -log10(rtol) by construction) and the active fraction (number active / k) lies in (0, 1]. A zero
    spectrum (s_max == 0) has no active subspace: NaN and 0. Non-finite spectra give NaN, NaN.

    Why: a rank-deficient Jacobian (e.g. of a ReLU network) has s_min = 0 and an infinite plain
    condition number; kappa_+ measures the conditioning on the directions the map propagates.
    """
    sv = sv.double()
    rtol = rank_rtol(sv.shape[-1]) if rtol is None else rtol
    s_max = sv[..., 0]
    active = sv > rtol * s_max[..., None]
    smallest = torch.where(active, sv, torch.full_like(sv, torch.inf)).min(-1).values
    logcond = torch.log10(s_max / smallest)
    frac = active.sum(-1).double() / sv.shape[-1]
    logcond = torch.where(s_max > 0, logcond, torch.full_like(logcond, torch.nan))
    finite = torch.isfinite(sv).all(-1)
    nan = torch.full_like(logcond, torch.nan)
    return torch.where(finite, logcond, nan), torch.where(finite, frac, nan)


@torch.no_grad()
def _detached_operators(model):
    return model.shaped().detach(), model.alpha_scalar().detach()


def spectra(
    model, x: torch.Tensor, rtol: float | None = None, per_layer: bool = True
) -> dict[str, torch.Tensor]:
    """Spectral quantities of the shaped operators and the layer Jacobians (spec §5).

    ``A_sv (S, L, d)`` singular values of A_l = S(W_l); ``J_sv (S, L, d)`` those of the layer
    Jacobians J_l = d h_l / d h_{l-1}, averaged over the ``n`` inputs ``x (n, d_in)``;
    ``J_sigma_sup (S, L)`` the largest sigma_max(J_l) over the inputs (a lower estimate of the
    layer's Lipschitz constant, compared with P1); bounds P1/P2 per layer; ``e2e_logcond (S,)``
    the mean over inputs of log10 kappa_+(d h_L / d h_0), the pseudo-condition number on the
    active subspace, and ``e2e_rank (S,)`` the mean active fraction of its spectrum (see
    :func:`pseudo_condition`, threshold ``rtol``: by default the float64 numerical rank's; every
    Jacobian is computed in float64 on a float64 copy of the model, so the threshold is not
    a float32 rounding floor). Inputs where the Jacobian is exactly
    zero (all ReLU units off) have no kappa_+: they are left out of the ``e2e_logcond`` mean
    (NaN if every input is) and count as rank 0 in ``e2e_rank``; non-finite Jacobians give
    NaN. With ``per_layer=False`` the per-layer Jacobian spectra (``J_sv``, ``J_sigma_sup``, one
    SVD per layer, input and member: the bulk of the cost at depth) are not computed (NaN); the
    end-to-end quantities are. ``io_norm (S,)`` the mean spectral norm
    of d F / d x and ``io_bound (S,)`` the P4 product bound.

    The plain condition number s_max / s_min is infinite for every rank-deficient Jacobian
    (a ReLU MLP zeroes the rows of inactive units), so capping it made all such models read the
    cap: a measurement artefact. kappa_+ ignores the exactly-zero directions and reports the
    conditioning of the map on the directions it does propagate; ``e2e_rank`` reports how many
    directions that is.
    """
    model = _double(model)
    x = x.double()
    with evaluating(model):
        A, alpha = _detached_operators(model)
        with torch.no_grad():
            _, hidden = model(x, return_hidden=True)
        J_sv, J_sup = [], []
        J_e2e = None  # d h_l / d h_0 by the chain rule along the forward pass, (S, n, d, d)
        for l in range(model.depth):
            J = batched_jacobian(lambda h: model.layer(l, h, A, alpha), hidden[l].detach()).double()
            if per_layer:
                sv = torch.linalg.svdvals(J)  # (S, n, d)
                J_sv.append(sv.mean(1))
                J_sup.append(sv[..., 0].max(1).values)
            else:
                J_sv.append(
                    torch.full(J.shape[:1] + J.shape[-1:], float("nan"), dtype=J.dtype, device=J.device)
                )
                J_sup.append(torch.full(J.shape[:1], float("nan"), dtype=J.dtype, device=J.device))
            J_e2e = J if J_e2e is None else J @ J_e2e
        sv_e2e = torch.linalg.svdvals(J_e2e)
        logcond, active = pseudo_condition(sv_e2e, rtol)  # (S, n) each
        dead = sv_e2e[..., 0] == 0  # zero Jacobian (e.g. every ReLU unit off): no kappa_+
        alive = (~dead).sum(1)
        logcond = torch.where(dead, 0.0, logcond).sum(1) / alive  # NaN if no input is alive
        rank = active.mean(1)  # a dead input counts as rank 0
        # dF/dx = R^T (dh_L/dh_0) E^T (row-vector convention h_0 = x E, F = h_L R)
        E, R = model.E.detach().double(), model.R.detach().double()
        J_io = R.mT[:, None] @ J_e2e @ E.mT[:, None]
        io_norm = torch.linalg.matrix_norm(J_io, ord=2).mean(1)
        bounds = model.layer_bounds()
        io_bound = (
            torch.linalg.matrix_norm(E, ord=2)
            * torch.linalg.matrix_norm(R, ord=2)
            * bounds["bound_upper"].prod(-1)
        )
    return {
        "A_sv": torch.linalg.svdvals(A.double()),
        "J_sv": torch.stack(J_sv, 1),
        "J_sigma_sup": torch.stack(J_sup, 1),
        "e2e_logcond": logcond,
        "e2e_rank": rank,
        "io_norm": io_norm,
        "io_bound": io_bound,
        **bounds,
        "alpha": alpha.abs().double(),
    }


def lipschitz_ratio(model, l: int, h: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
    """||f_l(h) - f_l(h')|| / ||h - h'|| per member and pair ``(S, n)`` (for P1 tests)."""
    with evaluating(model), torch.no_grad():
        A, alpha = _detached_operators(model)
        num = (model.layer(l, h, A, alpha) - model.layer(l, h2, A, alpha)).norm(dim=-1)
        return num / (h - h2).norm(dim=-1)


# --- robustness -------------------------------------------------------------------------


def _double(model):
    m = copy.deepcopy(model).double()
    m.eval()
    return m


def noise_robustness(model, x, y, kind, sigmas, seed: int = 0) -> torch.Tensor:
    """Test metric under Gaussian input noise ``(S, n_sigma)``; the same noise draw for every
    member and model (paired comparisons)."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(x.shape, generator=gen).to(x)
    with evaluating(model), torch.no_grad():
        return torch.stack([member_metric(model(x + s * z), y, kind) for s in sigmas], 1)


def fgsm_robustness(model, x, y, kind, epsilons) -> torch.Tensor:
    """Test metric under FGSM x + eps sign(grad_x loss), per member ``(S, n_eps)``."""
    with evaluating(model):
        xs = x.expand(model.n_members, -1, -1).clone().requires_grad_(True)
        loss = member_loss(model(xs), y, kind).sum()
        (g,) = torch.autograd.grad(loss, xs)
        with torch.no_grad():
            return torch.stack([member_metric(model(xs + e * g.sign()), y, kind) for e in epsilons], 1)


def layer_amplification(model, x, y, kind, seed: int = 0) -> torch.Tensor:
    """||h_l(x + delta) - h_l(x)|| / ||delta|| averaged over inputs, ``(S, 2, L+1)`` for a
    random direction (index 0) and the loss-gradient direction (index 1), ||delta|| = 1e-3,
    computed in float64."""
    m = _double(model)
    x = x.double()
    xs = x.expand(m.n_members, -1, -1).clone().requires_grad_(True)
    (g,) = torch.autograd.grad(member_loss(m(xs), y if kind != "regression" else y.double(), kind).sum(), xs)
    gen = torch.Generator().manual_seed(seed)
    r = torch.randn(x.shape, generator=gen, dtype=torch.float64).expand_as(g)
    out = []
    with torch.no_grad():
        _, h_clean = m(x, return_hidden=True)
        for direction in (r, g):
            delta = AMPLIFICATION_NORM * direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-300)
            _, h_pert = m(xs.detach() + delta, return_hidden=True)
            out.append(
                torch.stack(
                    [(hp - hc).norm(dim=-1).mean(-1) / AMPLIFICATION_NORM for hp, hc in zip(h_pert, h_clean)],
                    1,
                )
            )
    return torch.stack(out, 1)


def matched_robustness(
    clean_a: np.ndarray, robust_a: np.ndarray, clean_b: np.ndarray, robust_b: np.ndarray, tolerance: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Difference of accuracy drops under a perturbation at matched clean accuracy.

    ``clean_*``/``robust_*`` are per-seed curves ``(n_seed, n_eval)`` over evaluation points
    (e.g. checkpoints) of clean accuracy and accuracy under a perturbation, for models a and b
    paired by seed. Why: a model that fits the clean data less well typically also loses less
    under perturbation, so comparing final robustness confounds robustness with clean accuracy.
    Instead, per seed, the target is the lower of the two final clean accuracies; each model is
    read at the evaluation point whose clean accuracy is closest to the target (ties: the later
    point), and

        effect = (robust_a - clean_a)[idx_a] - (robust_b - clean_b)[idx_b]

    (positive: a drops less than b). A seed is NaN with indices -1 when either final clean
    accuracy is NaN, when either model has no point within ``tolerance`` of the target, or when
    the drops at the matched points are not finite.

    Returns ``(effect (n_seed,), idx_a (n_seed,), idx_b (n_seed,))``.
    """
    ca, ra, cb, rb = (
        np.atleast_2d(np.asarray(v, dtype=float)) for v in (clean_a, robust_a, clean_b, robust_b)
    )
    target = np.minimum(ca[:, -1], cb[:, -1])  # np.minimum propagates NaN
    rows = np.arange(ca.shape[0])

    def match(clean):
        with np.errstate(invalid="ignore"):
            dist = np.abs(clean - target[:, None])
        dist = np.where(np.isfinite(dist), dist, np.inf)
        n = clean.shape[1]
        idx = n - 1 - np.argmin(dist[:, ::-1], axis=1)  # argmin takes the first: reversed = the later point
        return idx, dist[rows, idx] <= tolerance

    idx_a, ok_a = match(ca)
    idx_b, ok_b = match(cb)
    effect = (ra - ca)[rows, idx_a] - (rb - cb)[rows, idx_b]
    ok = ok_a & ok_b & np.isfinite(target) & np.isfinite(effect)
    return (
        np.where(ok, effect, np.nan),
        np.where(ok, idx_a, -1).astype(int),
        np.where(ok, idx_b, -1).astype(int),
    )


# --- optimisation smoothness -------------------------------------------------------------


def loss_smoothness(curve: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(total-variation ratio, fraction of rising steps) of loss curves ``(S, T)``.

    TV ratio = sum_t |L_{t+1} - L_t| / |L_T - L_0|: 1 for a monotone curve, larger the more
    the loss oscillates. Rising fraction = share of t with L_{t+1} > L_t.
    """
    d = np.diff(curve, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tv = np.abs(d).sum(-1) / np.abs(curve[..., -1] - curve[..., 0])
        rising = (d > 0).mean(-1)
    bad = ~np.isfinite(curve).all(-1)
    return np.where(bad, np.nan, tv), np.where(bad, np.nan, rising)


# --- stable learning rate -----------------------------------------------------------------


def chance_loss(y_train, kind: str) -> float:
    """Training loss of the best constant predictor, the level a collapsed run sits at.

    Classification (``y`` integer labels ``(n,)``): the entropy in nats of the empirical class
    distribution, i.e. the cross-entropy of always predicting the class frequencies (ln K for K
    balanced classes). Regression (``y`` float ``(n, k)``): the MSE of always predicting the
    mean, ``((y - y.mean(0))**2).mean()`` (mean over outputs of the variance). Accepts torch
    tensors or numpy arrays.
    """
    y = y_train.detach().cpu().numpy() if isinstance(y_train, torch.Tensor) else np.asarray(y_train)
    if kind == "regression":
        y = y.astype(np.float64)
        return float(((y - y.mean(0)) ** 2).mean())
    if kind != "classification":
        raise ValueError(f"unknown task kind {kind!r}")
    counts = np.bincount(y.astype(np.int64).ravel())
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def _stable(diverged, final_loss, initial_loss, chance, margin):
    final = np.asarray(final_loss, dtype=float)
    bound = np.minimum(np.asarray(initial_loss, dtype=float), np.asarray(chance, dtype=float)) * (1 - margin)
    with np.errstate(invalid="ignore"):
        return ~np.asarray(diverged, dtype=bool) & np.isfinite(final) & (final < bound)


def stable_lr(lrs, diverged, final_loss, initial_loss, chance, margin: float = 0.0) -> np.ndarray:
    """Largest stable learning rate per seed ``(n_seed,)``, NaN where no rate is stable.

    ``diverged``, ``final_loss``, ``initial_loss`` are ``(n_lr, n_seed)`` (``initial_loss`` and
    ``chance`` broadcast), ``lrs (n_lr,)``. A run is stable when it did not diverge, its final
    loss is finite and final_loss < min(initial_loss, chance) * (1 - margin).

    Why the chance term: ending below the initial loss is not enough. A run that collapses to a
    constant prediction (loss ln 10 on 10 balanced classes, see :func:`chance_loss`) often ends
    below a poorly scaled initial loss yet has learned nothing; it is not stable training.
    """
    ok = _stable(diverged, final_loss, initial_loss, chance, margin)
    grid = np.asarray(lrs, dtype=float)[:, None] * np.ones(ok.shape)
    best = np.where(ok, grid, -np.inf).max(0)
    return np.where(np.isfinite(best), best, np.nan)


def stable_lr_index(lrs, diverged, final_loss, initial_loss, chance, margin: float = 0.0) -> np.ndarray:
    """Index in the (ascending) lr grid of the largest stable rate per seed ``(n_seed,)``, -1
    where none is stable: the ordinal outcome for a rank/permutation test. Stability as in
    :func:`stable_lr` (not diverged, finite, below both the initial loss and the chance loss:
    collapse to chance is not stable)."""
    ok = _stable(diverged, final_loss, initial_loss, chance, margin)
    grid = np.asarray(lrs, dtype=float)[:, None] * np.ones(ok.shape)
    masked = np.where(ok, grid, -np.inf)
    idx = masked.argmax(0)
    return np.where(ok.any(0), idx, -1).astype(int)


# --- fixed points (spec §3 P3) ------------------------------------------------------------


@torch.no_grad()
def fixed_point_iteration(
    model, x: torch.Tensor, max_iter: int = 500, tol: float = FIXED_POINT_TOL
) -> dict[str, torch.Tensor]:
    """Iterate T(h; x) from h = 0 in float64 for each member and input.

    Returns ``q_hat (S, n)`` = max_k ||h_{k+1}-h_k|| / ||h_k-h_{k-1}|| (over k with
    differences above rounding), ``iterations (S, n)`` until ||h_{k+1}-h_k|| < tol
    (``max_iter`` if never), ``converged (S, n)`` and the final iterate ``h (S, n, d)``.
    """
    m = _double(model)
    A, inj = m.shaped(), m.injection(x.double())
    h = torch.zeros_like(inj)
    prev_diff = None
    q_hat = torch.zeros(inj.shape[:2], dtype=torch.float64)
    iters = torch.full(inj.shape[:2], max_iter, dtype=torch.long)
    for k in range(max_iter):
        h_new = m.step(h, inj, A)
        diff = (h_new - h).norm(dim=-1)
        if prev_diff is not None:
            valid = (prev_diff > DIFF_FLOOR) & (diff > DIFF_FLOOR) & torch.isfinite(diff)
            q_hat = torch.where(valid, torch.maximum(q_hat, diff / prev_diff), q_hat)
        newly = (diff < tol) & (iters == max_iter)
        iters = torch.where(newly, torch.full_like(iters, k + 1), iters)
        h, prev_diff = h_new, diff
        if bool((iters < max_iter).all()) or not bool(torch.isfinite(h).any()):
            break
    converged = iters < max_iter
    return {"q_hat": q_hat, "iterations": iters, "converged": converged, "h": h}


def fixed_point_sensitivity(model, x, sigma: float = 0.05, seed: int = 0, max_iter: int = 500):
    """||h*(x + delta) - h*(x)|| / ||delta|| for Gaussian delta of scale sigma, ``(S, n)``;
    P3 bounds it by ||B||_2 / (1 - q) when q < 1."""
    gen = torch.Generator().manual_seed(seed)
    delta = sigma * torch.randn(x.shape, generator=gen).to(x)
    a = fixed_point_iteration(model, x, max_iter)
    b = fixed_point_iteration(model, x + delta, max_iter)
    return (b["h"] - a["h"]).norm(dim=-1) / delta.double().norm(dim=-1)
