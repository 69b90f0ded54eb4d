"""Measurements against independent computations, and the claim statistics."""

import copy

import numpy as np
import pytest
import torch
from scipy import stats

from learndyn.stats import paired_ci
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


# --- conditioning on the active subspace -------------------------------------------------


def test_pseudo_condition_rank_deficient_spectrum():
    logc, frac = metrics.pseudo_condition(torch.tensor([4.0, 2.0, 1.0, 0.0, 0.0]))
    assert float(logc) == pytest.approx(np.log10(4.0))
    assert float(frac) == pytest.approx(3 / 5)
    logc, frac = metrics.pseudo_condition(torch.tensor([4.0, 2.0, 1e-9]), rtol=1e-6)
    assert float(logc) == pytest.approx(np.log10(4.0 / 2.0))
    assert float(frac) == pytest.approx(2 / 3)


def test_pseudo_condition_full_rank_batch_and_zero():
    sv = torch.tensor([[[5.0, 3.0, 0.5], [2.0, 2.0, 2.0]], [[0.0, 0.0, 0.0], [1.0, 1e-3, 1e-5]]])
    logc, frac = metrics.pseudo_condition(sv)
    assert logc.shape == frac.shape == (2, 2)
    assert float(logc[0, 0]) == pytest.approx(np.log10(5.0 / 0.5))
    assert float(logc[0, 1]) == pytest.approx(0.0)
    assert float(logc[1, 1]) == pytest.approx(5.0)  # all active: equals log10(s_max / s_min)
    np.testing.assert_allclose(frac[0].numpy(), [1.0, 1.0])
    assert float(frac[1, 1]) == 1.0
    assert np.isnan(float(logc[1, 0]))  # s_max == 0: no active subspace


def test_rank_threshold_is_relative_to_float64_precision():
    """The active subspace ends at max(dim) * eps(float64) * s_max: a singular value of 1e-9
    s_max (below the old fixed 1e-6 cut, which capped log10 kappa_+ at 6) counts."""
    from learndyn.train.constants import rank_rtol

    assert rank_rtol(64) == pytest.approx(64 * np.finfo(np.float64).eps)
    sv = torch.tensor([1.0, 1e-3, 1e-9, 1e-16], dtype=torch.float64)
    logc, frac = metrics.pseudo_condition(sv)
    assert float(logc) == pytest.approx(9.0) and float(frac) == 0.75


def test_spectra_relu_mlp_not_capped():
    """A ReLU MLP's end-to-end Jacobian is rank deficient; kappa_+ stays finite below the cap."""
    torch.manual_seed(0)
    m = build_model({"kind": "mlp"}, D_IN, D_OUT, WIDTH, 3, [0, 1, 2]).eval()
    x = torch.randn(8, D_IN)
    sp = metrics.spectra(m, x)
    assert sp["e2e_logcond"].shape == sp["e2e_rank"].shape == (3,)
    assert torch.isfinite(sp["e2e_logcond"]).all() and (sp["e2e_logcond"] < 16).all()
    assert (sp["e2e_rank"] > 0).all() and (sp["e2e_rank"] <= 1).all()
    assert (sp["e2e_rank"] < 1).any()  # some inputs switch units off
    # member 0 has an input with every unit off (zero Jacobian): left out of the kappa_+ mean,
    # rank 0 in the rank mean. Reference from the per-input spectra:
    # (in float64, as spectra computes it: float32 rounding would leave singular values of
    # ~1e-8 s_max where the exact Jacobian has zeros, above the float64 rank threshold)
    m64, x64 = copy.deepcopy(m).double(), x.double()
    refs_c, refs_r = [], []
    for i in range(8):
        J = torch.autograd.functional.jacobian(
            lambda h0: m64.forward_from(0, h0[None, None].expand(3, 1, -1))[0, 0],
            m64.embed(x64[i : i + 1])[0, 0].detach(),
        )
        sv = torch.linalg.svdvals(J)
        logc, frac = metrics.pseudo_condition(sv)
        refs_r.append(float(frac))
        if float(sv[0]) > 0:
            refs_c.append(float(logc))
    assert len(refs_c) < 8  # the dead input is there
    assert float(sp["e2e_logcond"][0]) == pytest.approx(np.mean(refs_c), rel=1e-4)
    assert float(sp["e2e_rank"][0]) == pytest.approx(np.mean(refs_r))


def test_spectra_structured_full_rank(model):
    sp = metrics.spectra(model, torch.randn(3, D_IN))
    torch.testing.assert_close(sp["e2e_rank"], torch.ones(2, dtype=torch.float64))


# --- stable learning rate ------------------------------------------------------------------


def test_chance_loss_classification_and_regression():
    y = torch.arange(10).repeat(7)
    assert metrics.chance_loss(y, "classification") == pytest.approx(np.log(10))
    assert metrics.chance_loss(np.array([0, 0, 0, 1]), "classification") == pytest.approx(
        -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    )
    yr = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]])  # variances 8/3 and 2
    assert metrics.chance_loss(yr, "regression") == pytest.approx((8 / 3 + 2) / 2)
    assert metrics.chance_loss(torch.tensor(yr, dtype=torch.float32), "regression") == pytest.approx(7 / 3)


def test_stable_lr_rejects_collapse_to_chance():
    lrs = [0.01, 0.1, 1.0]
    chance = np.log(10)
    initial = np.full((3, 3), 5.0)  # poorly scaled init: above chance
    # seed 0: good, good, collapsed (final == chance < initial)
    # seed 1: good, diverged, diverged
    # seed 2: collapsed, collapsed, NaN -> none stable
    final = np.array([[0.5, 0.3, chance], [0.4, 0.2, chance], [chance, np.inf, np.nan]])
    diverged = np.array([[False, False, True], [False, True, False], [False, True, False]])
    np.testing.assert_array_equal(
        metrics.stable_lr(lrs, diverged, final, initial, chance), [0.1, 0.01, np.nan]
    )
    np.testing.assert_array_equal(metrics.stable_lr_index(lrs, diverged, final, initial, chance), [1, 0, -1])
    # the old criterion (final < initial only) would have called seed 0's lr = 1 stable
    assert final[2, 0] < initial[2, 0] and not diverged[2, 0]


def test_stable_lr_margin_and_initial_bound():
    lrs = np.array([0.1, 1.0])
    diverged = np.zeros((2, 1), bool)
    final = np.array([[1.0], [2.0]])
    initial = np.array([[1.5], [1.5]])  # lr 1 ends above its initial loss although below chance
    assert metrics.stable_lr(lrs, diverged, final, initial, 3.0)[0] == 0.1
    # margin 0.5: bound = 1.5 * 0.5 = 0.75, nothing below it
    assert np.isnan(metrics.stable_lr(lrs, diverged, final, initial, 3.0, margin=0.5)[0])
    assert metrics.stable_lr_index(lrs, diverged, final, initial, 3.0, margin=0.5)[0] == -1


# --- robustness at matched clean accuracy ---------------------------------------------------


def test_matched_robustness_hand_built():
    clean_a = np.array([[0.5, 0.7, 0.9], [0.5, 0.8, 0.8], [0.5, 0.6, 0.9], [0.5, 0.6, np.nan]])
    robust_a = np.array([[0.4, 0.6, 0.5], [0.45, 0.7, 0.6], [0.4, 0.5, 0.8], [0.4, 0.5, 0.8]])
    clean_b = np.array([[0.4, 0.6, 0.7], [0.6, 0.75, 0.8], [0.3, 0.4, 0.5], [0.5, 0.6, 0.7]])
    robust_b = np.array([[0.3, 0.5, 0.4], [0.5, 0.6, 0.75], [0.2, 0.3, 0.4], [0.4, 0.5, 0.6]])
    effect, ia, ib = metrics.matched_robustness(clean_a, robust_a, clean_b, robust_b, tolerance=0.05)
    # seed 0: target min(0.9, 0.7) = 0.7 -> a at index 1 (0.7), b at index 2 (0.7)
    #   effect = (0.6 - 0.7) - (0.4 - 0.7) = -0.1 + 0.3 = 0.2
    # seed 1: target 0.8 -> a ties at indices 1, 2: the later one, 2; b at index 2
    #   effect = (0.6 - 0.8) - (0.75 - 0.8) = -0.2 + 0.05 = -0.15
    # seed 2: target min(0.9, 0.5) = 0.5 -> a at index 0 (0.5), b at index 2 (0.5)
    #   effect = (0.4 - 0.5) - (0.4 - 0.5) = 0
    # seed 3: a's final clean accuracy is NaN -> no target
    np.testing.assert_allclose(effect, [0.2, -0.15, 0.0, np.nan], atol=1e-12)
    np.testing.assert_array_equal(ia, [1, 2, 0, -1])
    np.testing.assert_array_equal(ib, [2, 2, 2, -1])


def test_matched_robustness_no_match():
    clean_a = np.array([[0.2, 0.9]])  # nearest to the target 0.6 is 0.9 (distance 0.3)
    clean_b = np.array([[0.5, 0.6]])
    robust_a, robust_b = clean_a - 0.1, clean_b - 0.2
    effect, ia, ib = metrics.matched_robustness(clean_a, robust_a, clean_b, robust_b, tolerance=0.1)
    assert np.isnan(effect[0]) and ia[0] == -1 and ib[0] == -1
    effect, ia, ib = metrics.matched_robustness(clean_a, robust_a, clean_b, robust_b, tolerance=0.35)
    assert effect[0] == pytest.approx(-0.1 + 0.2) and ia[0] == 1 and ib[0] == 1
