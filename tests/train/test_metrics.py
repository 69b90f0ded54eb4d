"""Measurements against independent computations, and the claim statistics."""

import numpy as np
import pytest
import torch
from scipy import stats

from learndyn.stats import paired_ci, verdict
from learndyn.train import metrics
from learndyn.train.loop import member_loss, member_metric
from learndyn.train.models import build_model

JAC_TOL = 1e-5  # vmap'd VJP Jacobian vs torch.autograd.functional.jacobian (float32)
GRAD_TOL = 1e-5
HESS_RTOL = 2e-2  # power iteration (many steps) vs the dense Hessian's top eigenvalue
CI_TOL = 1e-10

D_IN, D_OUT, WIDTH, DEPTH = 4, 2, 6, 2


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model({"kind": "structured"}, D_IN, D_OUT, WIDTH, DEPTH, [0, 1]).eval()


def test_batched_jacobian_matches_autograd(model):
    A, alpha = model.shaped().detach(), model.alpha_scalar().detach()
    h = torch.randn(2, 3, WIDTH)
    J = metrics.batched_jacobian(lambda z: model.layer(0, z, A, alpha), h)
    for s in range(2):
        for i in range(3):
            ref = torch.autograd.functional.jacobian(
                lambda v: model.layer(0, v[None, None].expand(2, 1, -1), A, alpha)[s, 0], h[s, i]
            )
            torch.testing.assert_close(J[s, i], ref, atol=JAC_TOL, rtol=JAC_TOL)


def test_gradient_norms_match_per_sample_autograd(model):
    x, y = torch.randn(5, D_IN), torch.randn(5, D_OUT)
    g = metrics.gradient_norms(model, x, y, "regression")
    assert g["grad_h"].shape == (2, DEPTH + 1) and g["grad_W"].shape == (2, DEPTH)
    for s in range(2):
        norms = []
        for i in range(5):
            _, hidden = model(x[i : i + 1], return_hidden=True)
            out = model.readout(hidden[-1])
            (gh,) = torch.autograd.grad(((out[s] - y[i : i + 1]) ** 2).mean(), hidden[1])
            norms.append(gh[s, 0].norm())
        torch.testing.assert_close(g["grad_h"][s, 1], torch.stack(norms).mean(), atol=GRAD_TOL, rtol=GRAD_TOL)
    loss = member_loss(model(x), y, "regression").sum()
    (gW,) = torch.autograd.grad(loss, model.W)
    torch.testing.assert_close(g["grad_W"], gW.flatten(2).norm(dim=-1), atol=GRAD_TOL, rtol=GRAD_TOL)


def test_hessian_power_iteration_matches_dense():
    torch.manual_seed(1)
    m = build_model({"kind": "mlp"}, 3, 1, 3, 1, [0, 1]).eval()
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    lam = metrics.hessian_top_eigenvalue(m, x, y, "regression", iters=300)
    params = list(m.parameters())
    shapes = [p.shape for p in params]
    flat = torch.cat([p.detach().flatten() for p in params])

    def loss_of(v):
        out, i = [], 0
        for s in shapes:
            n = int(np.prod(s))
            out.append(v[i : i + n].view(s))
            i += n
        E, e_b, R, r_b, W, b = out  # parameter order of EnsembleNet (mlp)
        h = x @ E + e_b[:, None]
        h = torch.relu(h @ W[:, 0].mT + b[:, 0, None])
        return member_loss(h @ R + r_b[:, None], y, "regression")

    names = [n for n, _ in m.named_parameters()]
    assert names == ["E", "e_b", "R", "r_b", "W", "b"]
    for s in range(2):
        H = torch.autograd.functional.hessian(lambda v: loss_of(v)[s], flat.double().float())
        ev = torch.linalg.eigvalsh(H.double())
        top = ev[ev.abs().argmax()]
        assert lam[s] == pytest.approx(float(top), rel=HESS_RTOL)


def test_loss_smoothness_known_curves():
    curves = np.array([[4.0, 3.0, 2.0, 1.0], [4.0, 2.0, 3.0, 1.0]])
    tv, rising = metrics.loss_smoothness(curves)
    np.testing.assert_allclose(tv, [1.0, 5.0 / 3.0])
    np.testing.assert_allclose(rising, [0.0, 1.0 / 3.0])


def test_noise_zero_equals_clean(model):
    x, y = torch.randn(20, D_IN), torch.randint(0, D_OUT, (20,))
    clean = member_metric(model(x), y, "classification")
    noisy = metrics.noise_robustness(model, x, y, "classification", [0.0, 0.5])
    torch.testing.assert_close(noisy[:, 0], clean)


def test_fgsm_increases_loss(model):
    x, y = torch.randn(50, D_IN), torch.randn(50, D_OUT)
    clean = member_metric(model(x), y, "regression")
    adv = metrics.fgsm_robustness(model, x, y, "regression", [0.1])[:, 0]
    assert (adv > clean).all()


def test_amplification_of_linear_map_equals_its_gain():
    """For the structure-only model at init, h_1 - h_0 is linear: amplification = ||A E^T d||/||d||."""
    m = build_model({"kind": "structured", "gate": "fixed", "alpha": 0.0}, 3, 1, 4, 1, [0]).eval()
    x, y = torch.randn(1, 3), torch.randn(1, 1)
    amp = metrics.layer_amplification(m, x, y, "regression")
    assert amp.shape == (1, 2, 2)
    E = m.E[0].double()
    gen = torch.Generator().manual_seed(0)
    r = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    expected = (r @ E).norm() / r.norm()
    assert float(amp[0, 0, 0]) == pytest.approx(float(expected), rel=1e-6)


def test_paired_ci_matches_scipy():
    d = np.array([0.3, 0.1, 0.4, 0.2, 0.5])
    mean, low, high, n = paired_ci(d, 0.95)
    ref = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert n == 5 and mean == pytest.approx(d.mean())
    assert (low, high) == pytest.approx(ref, abs=CI_TOL)


def test_verdict_from_ci():
    assert verdict(0.1, 0.3, "higher") == "supported"
    assert verdict(-0.3, -0.1, "higher") == "not supported"
    assert verdict(-0.1, 0.3, "higher") == "inconclusive"
    assert verdict(-0.3, -0.1, "lower") == "supported"
    assert verdict(0.1, 0.3, "lower") == "not supported"
    assert verdict(np.nan, np.nan, "lower") == "inconclusive"


def test_end_to_end_jacobian_chain_rule_matches_autograd(model):
    """spectra(): kappa and ||dF/dx|| from the chained layer Jacobians equal direct autograd."""
    x = torch.randn(3, D_IN)
    sp = metrics.spectra(model, x)
    for s in range(2):
        ref_cond, ref_norm = [], []
        for i in range(3):

            def hidden_map(h0):
                h = h0[None, None].expand(2, 1, -1)
                return model.forward_from(0, h)[s, 0]

            def io_map(xi):
                return model(xi[None])[s, 0]

            h0 = model.embed(x[i : i + 1])[s, 0].detach()
            sv = torch.linalg.svdvals(torch.autograd.functional.jacobian(hidden_map, h0).double())
            ref_cond.append(torch.log10(sv[0] / sv[-1]))
            ref_norm.append(
                torch.linalg.svdvals(torch.autograd.functional.jacobian(io_map, x[i]).double())[0]
            )
        assert float(sp["e2e_logcond"][s]) == pytest.approx(float(torch.stack(ref_cond).mean()), rel=1e-4)
        assert float(sp["io_norm"][s]) == pytest.approx(float(torch.stack(ref_norm).mean()), rel=1e-4)
