"""Layers of the structured family and the baselines: shapes, gradients, shaping, bounds."""

import copy
import itertools
import math

import pytest
import torch
from torch.nn import functional as F

from learndyn.train import metrics
from learndyn.train.fused import CappedRows, StructuredStack
from learndyn.train.models import build_model
from learndyn.train.spec import LIP, ModelSpec
from learndyn.train.spectral import (
    eigvalsh_batched,
    orthogonal_shaping,
    power_iteration,
    power_vectors,
    spectral_cap,
)
from learndyn.train.tied import TiedNet

SIGMA_TOL = 1e-5  # float32 singular values vs the cap / orthogonal scale
POWER_TOL = 1e-3  # converged power iteration vs SVD (relative)
LIP_TOL = 1e-5  # measured Lipschitz ratio may exceed the bound by float32 rounding only
CONTRACTION_TOL = 1e-6  # float64 ratios of differences >= 1e-8 (metrics.DIFF_FLOOR)
INDEPENDENCE_TOL = 1e-6

VARIANTS = {
    "mlp": {"kind": "mlp"},
    "resmlp": {"kind": "resmlp"},
    "snmlp": {"kind": "snmlp"},
    "snmlp_gain": {"kind": "snmlp", "rho": math.sqrt(2), "init": "orthogonal"},
    "mlp_orth": {"kind": "mlp", "init": "orthogonal"},
    "rezero": {"kind": "rezero", "alpha": 0.0},
    "rezero_open": {"kind": "rezero", "alpha": 0.2},
    "cap": {"kind": "structured"},
    "orth": {"kind": "structured", "shaping": "orthogonal"},
    "mask": {"kind": "structured", "shaping": "mask"},
    "identity": {"kind": "structured", "shaping": "identity"},
    "input_gate": {"kind": "structured", "gate": "input"},
    "fixed_gate": {"kind": "structured", "gate": "fixed", "alpha": 0.3},
    "alpha0": {"kind": "structured", "gate": "fixed", "alpha": 0.0},
    "post": {"kind": "structured", "post_activation": True},
    "rho_half": {"kind": "structured", "rho": 0.5},
}
D_IN, D_OUT, WIDTH, DEPTH, SEEDS = 5, 3, 8, 3, [0, 1]


def _model(spec, seeds=SEEDS, **kw):
    return build_model(spec, D_IN, D_OUT, kw.get("width", WIDTH), kw.get("depth", DEPTH), seeds)


def _grow(model, scale=5.0):
    """Random large weights so caps and bounds are active (not just the init)."""
    gen = torch.Generator().manual_seed(123)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[-1]))


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_shapes_and_gradients(name):
    model = _model(VARIANTS[name])
    x = torch.randn(7, D_IN)
    out, hidden = model(x, return_hidden=True)
    assert out.shape == (len(SEEDS), 7, D_OUT), name
    assert len(hidden) == DEPTH + 1 and all(h.shape == (len(SEEDS), 7, WIDTH) for h in hidden)
    (out.pow(2).sum() + model.regulariser().sum()).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), f"{name}.{pname}"
        # a branch gated by alpha = 0 gets no gradient until the gate moves (rezero's gate does)
        assert p.grad.abs().sum() > 0 or (name in ("alpha0", "rezero") and pname in ("U", "V", "c")), (
            f"{name}.{pname} has zero grad"
        )


@pytest.mark.parametrize("rho", [0.5, 1.0, 2.0])
def test_spectral_cap_caps(rho):
    W = 3.0 * torch.randn(4, 6, 6)
    sigma = torch.linalg.matrix_norm(W.double(), ord=2).float()
    A = spectral_cap(W, sigma, rho)
    s = torch.linalg.svdvals(A.double())[..., 0]
    assert (s <= rho * (1 + SIGMA_TOL)).all(), f"cap exceeded: {s}"
    small = 0.01 * W  # below the cap: unchanged
    A2 = spectral_cap(small, torch.linalg.matrix_norm(small, ord=2), rho)
    torch.testing.assert_close(A2, small)


def test_capped_model_operators_below_rho():
    for spec in (VARIANTS["cap"], VARIANTS["mask"], VARIANTS["rho_half"]):
        model = _model(spec)
        _grow(model)
        model.eval()
        s = torch.linalg.svdvals(model.shaped().double())[..., 0]
        assert (s <= model.spec.rho * (1 + SIGMA_TOL)).all(), f"{spec}: {s.max()}"


def test_power_iteration_matches_svd():
    W = torch.randn(3, 10, 7, dtype=torch.float64)
    u = torch.nn.functional.normalize(torch.randn(3, 10, dtype=torch.float64), dim=-1)
    est = power_iteration(W, u, iters=200)
    ref = torch.linalg.svdvals(W)[..., 0]
    torch.testing.assert_close(est, ref, rtol=POWER_TOL, atol=0)


@pytest.mark.parametrize("rho", [0.7, 1.0])
def test_orthogonal_all_singular_values_equal_rho(rho):
    W = torch.randn(2, 9, 9, dtype=torch.float64)
    sv = torch.linalg.svdvals(orthogonal_shaping(W, rho))
    torch.testing.assert_close(sv, torch.full_like(sv, rho), atol=1e-10, rtol=0)
    model = _model({"kind": "structured", "shaping": "orthogonal", "rho": rho})
    _grow(model)
    sv = torch.linalg.svdvals(model.shaped().double())
    torch.testing.assert_close(sv, torch.full_like(sv, rho), atol=SIGMA_TOL, rtol=0)


def test_mask_is_banded():
    model = _model(VARIANTS["mask"])
    A = model.shaped()
    i, j = torch.meshgrid(torch.arange(WIDTH), torch.arange(WIDTH), indexing="ij")
    outside = (i - j).abs() > max(1, round(model.spec.mask_band * WIDTH))
    assert (A[..., outside] == 0).all()


@pytest.mark.parametrize("name", [n for n in sorted(VARIANTS) if n != "input_gate"])
def test_measured_lipschitz_below_bound_p1(name):
    """P1: ||f_l(h) - f_l(h')|| <= (||A_l|| L_out + |alpha_l| L_phi) ||h - h'|| on random pairs."""
    model = _model(VARIANTS[name])
    _grow(model, 2.0)
    bound = model.eval().layer_bounds()["bound_upper"]  # (S, L)
    gen = torch.Generator().manual_seed(0)
    for l in range(DEPTH):
        h = 3 * torch.randn(len(SEEDS), 256, WIDTH, generator=gen)
        h2 = h + torch.randn(h.shape, generator=gen) * torch.rand(len(SEEDS), 256, 1, generator=gen)
        ratio = metrics.lipschitz_ratio(model, l, h, h2).max(-1).values.double()
        assert (ratio <= bound[:, l] * (1 + LIP_TOL)).all(), f"{name} layer {l}: {ratio} > {bound[:, l]}"


@pytest.mark.parametrize("name", ["cap", "orth", "fixed_gate", "rho_half", "identity"])
def test_jacobian_singular_values_within_p2(name):
    """P2: s_l - eps_l <= sigma_min(J_l) <= sigma_max(J_l) <= ||A_l|| + eps_l (autograd J)."""
    model = _model(VARIANTS[name]).eval()
    b = model.layer_bounds()
    A, alpha = model.shaped().detach(), model.alpha_scalar().detach()
    h = torch.randn(len(SEEDS), 16, WIDTH)
    for l in range(DEPTH):
        J = metrics.batched_jacobian(lambda z: model.layer(l, z, A, alpha), h)
        sv = torch.linalg.svdvals(J.double())
        assert (sv[..., 0].max(-1).values <= b["bound_upper"][:, l] * (1 + LIP_TOL)).all(), name
        lower = b["bound_lower"][:, l]
        ok = torch.isfinite(lower)
        assert (sv[..., -1].min(-1).values[ok] >= lower[ok] * (1 - LIP_TOL) - LIP_TOL).all(), name


def test_members_independent_of_ensemble():
    """Member with seed 1 is the same network alone or next to seed 0."""
    for name in ("cap", "mlp", "input_gate"):
        a, b = _model(VARIANTS[name], seeds=[1]), _model(VARIANTS[name], seeds=[0, 1])
        x = torch.randn(4, D_IN)
        a.eval(), b.eval()
        torch.testing.assert_close(a(x)[0], b(x)[1], atol=INDEPENDENCE_TOL, rtol=INDEPENDENCE_TOL)


def test_parameter_count_mlp_closed_form():
    d, L = WIDTH, DEPTH
    expected = D_IN * d + d + L * (d * d + d) + d * D_OUT + D_OUT
    assert _model(VARIANTS["mlp"]).param_count() == expected
    r = round(0.25 * d)
    structured = expected + L * (2 * d * r + r) + L  # + correction U, V, c + gate a
    assert _model(VARIANTS["cap"]).param_count() == structured


def test_regulariser_matches_svd():
    model = _model({"kind": "structured", "reg": 0.01}).eval()
    _grow(model)
    su = torch.linalg.svdvals(model.U.double())[..., 0]
    sv = torch.linalg.svdvals(model.V.double())[..., 0]
    ref = 0.01 * (model.alpha_scalar().double() ** 2 * su**2 * sv**2).sum(-1)
    torch.testing.assert_close(model.regulariser().double(), ref, rtol=1e-4, atol=0)


def test_resmlp_is_identity_plus_correction():
    model = _model(VARIANTS["resmlp"])
    assert torch.equal(model.alpha_scalar(), torch.ones(len(SEEDS), DEPTH))
    assert torch.equal(model.shaped()[0, 0], torch.eye(WIDTH))


def test_rezero_is_resmlp_with_a_learned_gate():
    """h + alpha U psi(V h + c): resmlp's parameters plus one gate per layer, alpha = beta tanh(a)
    starting at the configured alpha; the branch equals resmlp's (same init) scaled by alpha."""
    resmlp, rezero = _model(VARIANTS["resmlp"]), _model(VARIANTS["rezero_open"])
    assert rezero.param_count() == resmlp.param_count() + DEPTH
    torch.testing.assert_close(rezero.alpha_scalar(), torch.full((len(SEEDS), DEPTH), 0.2))
    assert rezero.spec.learned_gate and rezero.spec.has_correction
    h = torch.randn(len(SEEDS), 6, WIDTH)
    with torch.no_grad():
        for name in ("V", "U", "c"):
            torch.testing.assert_close(getattr(rezero, name), getattr(resmlp, name), rtol=0, atol=0)
        A, a = rezero.shaped(), rezero.alpha_scalar()
        branch = resmlp.layer(0, h, resmlp.shaped(), resmlp.alpha_scalar()) - h
        torch.testing.assert_close(rezero.layer(0, h, A, a) - h, 0.2 * branch, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rho", [0.5, 1.0, math.sqrt(2)])
@pytest.mark.parametrize("init", ["kaiming", "orthogonal"])
def test_snmlp_operator_has_gain_rho(rho, init):
    """A = rho W / sigma_max(W): sigma_max(A) = rho exactly in eval mode (any init, grown
    weights); with orthogonal W every singular value is rho."""
    model = _model({"kind": "snmlp", "rho": rho, "init": init})
    if init == "orthogonal":
        sv = torch.linalg.svdvals(model.eval().shaped().double())
        torch.testing.assert_close(sv, torch.full_like(sv, rho), atol=SIGMA_TOL, rtol=0)
    _grow(model)
    s = torch.linalg.svdvals(model.eval().shaped().double())[..., 0]
    torch.testing.assert_close(s, torch.full_like(s, rho), atol=SIGMA_TOL, rtol=0)
    assert (model.layer_bounds()["bound_upper"] <= rho * (1 + SIGMA_TOL)).all()


def test_orthogonal_init_of_relu_layers_carries_the_gain():
    """init: orthogonal on a ReLU MLP: W = sqrt 2 Q (every singular value sqrt 2)."""
    model = _model(VARIANTS["mlp_orth"])
    assert model.spec.weight_init == "orthogonal"
    sv = torch.linalg.svdvals(model.W.double())
    torch.testing.assert_close(sv, torch.full_like(sv, math.sqrt(2)), atol=SIGMA_TOL, rtol=0)
    assert _model(VARIANTS["mlp"]).spec.weight_init == "kaiming"


@pytest.mark.parametrize("rho,alpha", list(itertools.product([0.5, 0.9], [0.0, 0.2])))
def test_fixed_point_contracts_at_rate_q(rho, alpha):
    """P3: for q < 1, ||h_{k+1} - h_k|| <= q ||h_k - h_{k-1}|| and ||h_k - h*|| <= q^k ||h_0 - h*||."""
    model = TiedNet(4, 2, 6, rho, alpha, K=5, seeds=[0, 1]).eval()
    with torch.no_grad():
        model.U.mul_(0.05)  # a correction small enough for q < 1 at every (rho, alpha) here
    q = model.contraction_bound()
    if not (q < 1).all():
        pytest.skip(f"q = {q} >= 1 at init")
    x = torch.randn(10, 4)
    fp = metrics.fixed_point_iteration(model, x, max_iter=400, tol=1e-13)
    assert fp["converged"].all()
    assert (fp["q_hat"] <= q[:, None] + CONTRACTION_TOL).all(), f"q_hat {fp['q_hat'].max()} > q {q}"
    m = model.double()
    A, inj = m.shaped(), m.injection(x.double())
    h, h_star = torch.zeros_like(inj), fp["h"]
    e0 = (h - h_star).norm(dim=-1)
    for k in range(1, 20):
        h = m.step(h, inj, A)
        assert ((h - h_star).norm(dim=-1) <= q[:, None] ** k * e0 + CONTRACTION_TOL).all(), k


def test_model_spec_rejects_unknown():
    with pytest.raises(ValueError, match="accepted"):
        ModelSpec.from_config({"kind": "structured", "shape": "cap"})
    with pytest.raises(ValueError, match="shaping"):
        ModelSpec.from_config({"kind": "structured", "shaping": "diag"})


def test_gelu_lipschitz_constant():
    z = torch.linspace(-6, 6, 100001, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(torch.nn.functional.gelu(z).sum(), z)
    assert g.abs().max() <= LIP["gelu"] and g.abs().max() > LIP["gelu"] - 1e-3


# --- the fused structured stack -------------------------------------------------------------
FUSED_TOL = 1e-12  # fused stack vs autograd through the per-layer path, float64
FUSED_VARIANTS = ["cap", "rho_half", "fixed_gate", "alpha0", "orth", "mask", "identity"]


def _unfused_copy(model):
    ref = copy.deepcopy(model)
    ref.fused = lambda: False  # the instance attribute shadows the method
    return ref


@pytest.mark.parametrize("name", FUSED_VARIANTS)
def test_fused_training_forward_matches_unfused_layers(name):
    """Loss, every parameter gradient and the power-iteration vectors after a training forward
    through StructuredStack (and CappedRows for the cap) equal those of autograd through the
    per-layer path, in float64, with caps active on all but one layer."""
    model = _model(dict(VARIANTS[name], reg=1e-3)).double()
    _grow(model)
    with torch.no_grad():
        model.W[0, 1].mul_(0.01)  # one inactive cap (sigma < rho)
    model.train()
    ref = _unfused_copy(model)
    assert model.fused() and not ref.fused()
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    x = torch.randn(len(SEEDS), 9, D_IN, dtype=torch.float64, generator=gen)
    results = []
    for m in (model, ref):
        loss = m(x).pow(2).sum() + m.regulariser().sum()
        results.append((loss, torch.autograd.grad(loss, list(m.parameters()))))
    (loss, grads), (loss_ref, grads_ref) = results
    assert loss.item() == pytest.approx(loss_ref.item(), rel=FUSED_TOL)
    for (pname, _), g, g_ref in zip(model.named_parameters(), grads, grads_ref):
        # rounding differences scale with the largest terms of a gradient (up to ~1e9 here), so
        # the absolute tolerance does too: an unscaled 1e-12 failed on ~1 in 10 random inputs
        scale = max(1.0, g_ref.abs().max().item())
        torch.testing.assert_close(g, g_ref, rtol=FUSED_TOL, atol=FUSED_TOL * scale, msg=pname)
    for (bname, b), b_ref in zip(model.named_buffers(), ref.buffers()):
        torch.testing.assert_close(b, b_ref, rtol=0, atol=0, msg=bname)


@pytest.mark.parametrize("name", FUSED_VARIANTS)
def test_fused_eval_forward_matches_unfused_layers(name):
    model = _model(VARIANTS[name]).double()
    _grow(model)
    model.eval()
    ref = _unfused_copy(model)
    x = torch.randn(11, D_IN, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), rtol=FUSED_TOL, atol=FUSED_TOL)


def test_unfused_where_second_order_is_needed():
    """Eval mode with autograd (Jacobians, Hessian-vector products) and non-scalar gates or
    post-activations take the per-layer path."""
    model = _model(VARIANTS["cap"]).eval()
    assert not model.fused()
    with torch.no_grad():
        assert model.fused()
    for name in ("input_gate", "post", "mlp", "resmlp", "rezero", "snmlp"):
        assert not _model(VARIANTS[name]).train().fused(), name


def test_structured_stack_gradcheck():
    """The hand-written backward against finite differences (torch.autograd.gradcheck)."""
    gen = torch.Generator().manual_seed(0)
    S, B, L, d, r = 2, 3, 3, 4, 2

    def rand(*shape, scale=1.0):
        return (scale * torch.randn(shape, generator=gen, dtype=torch.float64)).requires_grad_()

    args = (rand(S, B, d), rand(S, L, d + r, d, scale=0.5), rand(S, L, d + r), rand(S, L, d, r))
    assert torch.autograd.gradcheck(StructuredStack.apply, args)


@pytest.mark.parametrize("rho", [0.5, 50.0])  # cap active for some matrices / for none
def test_capped_rows_gradcheck(rho):
    gen = torch.Generator().manual_seed(1)
    W = torch.randn((2, 3, 4, 4), generator=gen, dtype=torch.float64).requires_grad_()
    V = torch.randn((2, 3, 2, 4), generator=gen, dtype=torch.float64).requires_grad_()
    u = F.normalize(torch.randn((2, 3, 4), generator=gen, dtype=torch.float64), dim=-1)
    v = power_vectors(W.detach(), u, 3)
    assert torch.autograd.gradcheck(lambda W, V: CappedRows.apply(W, V, u, v, rho), (W, V))
    sigma = torch.einsum("slm,slmn,sln->sl", u, W, v)  # u^T W v
    expected = torch.cat([W * torch.clamp(rho / sigma, max=1.0)[..., None, None], V], 2)
    torch.testing.assert_close(CappedRows.apply(W, V, u, v, rho), expected, rtol=0, atol=1e-14)


def test_eigvalsh_batched_matches_torch():
    """The thread-split batch gives the same eigenvalues as one torch.linalg.eigvalsh call,
    and the threads setting is restored."""
    gen = torch.Generator().manual_seed(2)
    M = torch.randn((3, 4, 9, 9), generator=gen, dtype=torch.float64)
    G = M.mT @ M
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.testing.assert_close(eigvalsh_batched(G), torch.linalg.eigvalsh(G), rtol=0, atol=0)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
