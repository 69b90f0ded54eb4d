"""Identities of the training-set fields against independent computations (spec §8.2-§8.6).

Tiny random networks (n = 6, d = 5, widths 7, 6, 5, 4), float64, fixed seeds.
"""

import math

import numpy as np
import pytest
import torch

from learndyn.data import sphere_inputs
from learndyn.theory import checks, gd
from learndyn.theory import operators as ops
from learndyn.theory.dynamics import closed_rate_L1, hybrid_initial_state, hybrid_rate
from learndyn.theory.fields import (
    coactivation,
    gradient_W,
    init_network,
    input_geometric,
    kernel,
    training_fields,
)

ROUND_OFF = 1e-12  # identities that hold exactly (float64 round-off)
FINITE_DIFF = 1e-8  # rates vs central differences (relative)
SMALL_DRIFT = 1e-11  # matrix-free |Γ - Γ0|^2 at |ΔΓ| ~ 1e-4 |Γ| (extended-precision reference)
WIDTHS = [7, 6, 5, 4]
DEPTHS = [1, 2, 3, 4]


def problem(seed=0, n=6, d=5):
    rng = np.random.default_rng(seed)
    X = torch.tensor(sphere_inputs(rng, n, d))
    y = torch.tensor(rng.standard_normal(n))
    return X, y


def net(L, X, seeds=(0, 1)):
    return init_network(list(seeds), X.shape[1], WIDTHS[:L])


@pytest.mark.parametrize("L", DEPTHS)
def test_kernel_is_autodiff_entk(L):
    X, y = problem()
    Ws, a = net(L, X)
    F = training_fields(Ws, a, X, y)
    K = kernel(F.phi, F.b)
    err = checks.rel_err(K, checks.autodiff_ntk(Ws, a, X, y))
    assert err < ROUND_OFF, f"Q⊙S kernel vs autodiff eNTK: {err}"


def test_kernel_L1_is_G_hadamard_C():
    X, y = problem()
    Ws, a = net(1, X)
    F = training_fields(Ws, a, X, y)
    err = checks.rel_err(input_geometric(X) * coactivation(F.h[0], a), kernel(F.phi, F.b))
    assert err < ROUND_OFF, f"G⊙C vs Q⊙S: {err}"


@pytest.mark.parametrize("L", DEPTHS)
def test_all_identity_checks(L):
    X, y = problem()
    Ws, a = net(L, X)
    res = checks.identity_checks(Ws, a, X, y)
    fd = {
        "rate_r_fd",
        "rate_h_fd",
        "rate_b_fd",
        "rate_b_operator",
        "rate_q_fd",
        "rate_gamma_fd",
        "balancedness_fd",
    }
    for name, err in res.items():
        if math.isnan(err):
            continue
        tol = FINITE_DIFF if name in fd else ROUND_OFF
        assert err < tol, f"{name} (L={L}): {err} >= {tol}"


@pytest.mark.parametrize("L", [2, 3, 4])
def test_pullback_recursion_equals_sandwich(L):
    X, y = problem(1)
    Ws, a = net(L, X)
    D = training_fields(Ws, a, X, y).D
    for j in range(1, L + 1):
        for l in range(1, j + 1):
            err = checks.rel_err(
                ops.pullback_operator(Ws, D, l, j), ops.pullback_operator_sandwich(Ws, D, l, j)
            )
            assert err < ROUND_OFF, f"𝒢({l};{j}) recursion vs J^T Π J: {err}"


@pytest.mark.parametrize("L", DEPTHS)
def test_homogeneity(L):
    X, y = problem(2)
    Ws, a = net(L, X)
    F = training_fields(Ws, a, X, y)
    for l in range(L):
        err = checks.rel_err((F.b[l] * F.h[l]).sum(-1), F.f)
        assert err < ROUND_OFF, f"f = b.h at layer {l + 1}: {err}"


def test_closed_L1_rate_is_pushforward_of_weight_flow():
    X, y = problem(3)
    Ws, a = net(1, X)
    F = training_fields(Ws, a, X, y)
    h_dot, r_dot = closed_rate_L1(F.h[0], F.r, a, X)
    W_dot = -gradient_W(F.phi, F.b, F.r)[0]
    err_h = checks.rel_err(h_dot, X @ W_dot.transpose(-1, -2) / math.sqrt(X.shape[1]))
    err_r = checks.rel_err(r_dot, -(kernel(F.phi, F.b) @ F.r.unsqueeze(-1)).squeeze(-1) / X.shape[0])
    assert err_h < ROUND_OFF and err_r < ROUND_OFF, f"closed L=1 rates: h {err_h}, r {err_r}"


@pytest.mark.parametrize("L", [2, 3])
def test_hybrid_rate_gives_weight_gradient(L):
    X, y = problem(4)
    Ws, a = net(L, X)
    W_dot, *_ = hybrid_rate(*hybrid_initial_state(Ws, a, X, y), a, X)
    F = training_fields(Ws, a, X, y)
    for Wd, g in zip(W_dot, gradient_W(F.phi, F.b, F.r)):
        assert checks.rel_err(Wd, -g) < ROUND_OFF


@pytest.mark.parametrize("L", DEPTHS)
def test_discrete_identities(L):
    X, y = problem(5)
    Ws, a = net(L, X)
    for name, err in checks.discrete_checks(Ws, a, X, y, eta=0.05).items():
        if not math.isnan(err):
            assert err < 1e-10, f"{name} (L={L}): {err}"


@pytest.mark.parametrize("L", [2, 3])
def test_one_step_error_scales_as_eta_squared(L):
    X, y = problem(6)
    Ws, a = net(L, X)
    etas = [1e-2, 1e-3, 1e-4]
    err, switched = checks.one_step_residual_error(Ws, a, X, y, etas)
    assert not switched.any()
    slope = np.polyfit(np.log(etas), np.log(err.amax(-1).numpy()), 1)[0]
    assert abs(slope - 2) < 0.05, f"one-step slope {slope}"


@pytest.mark.parametrize("eta, tol", [(0.3, ROUND_OFF), (1e-4, SMALL_DRIFT)])
def test_gram_norm_matrix_free(eta, tol):
    """Matrix-free drift norm vs the explicit operators, also when Γ barely moves (no cancellation)."""
    X, y = problem(7)
    Ws, a = net(2, X)
    W2 = gd.gd_step(Ws, a, X, y, eta)
    D, D2 = training_fields(Ws, a, X, y).D, training_fields(W2, a, X, y).D
    for l in range(2):
        explicit = ((ops.gram_operator(W2[l], D2[l]) - ops.gram_operator(Ws[l], D[l])) ** 2).sum((1, 2, 3, 4))
        extended = checks.gram_drift_sq_norm_explicit(W2[l], D2[l], Ws[l], D[l])
        assert checks.rel_err(explicit, extended) < 1e-6, "float64 vs extended-precision explicit norm"
        err = checks.rel_err(ops.gram_operator_sq_norm(W2[l], D2[l], Ws[l], D[l]), extended)
        assert err < tol, f"matrix-free |Γ - Γ0|^2 (layer {l + 1}, eta {eta}): {err}"
    full = ((ops.gram_operator(Ws[1], D[1])) ** 2).sum((1, 2, 3, 4))
    assert checks.rel_err(ops.gram_operator_sq_norm(Ws[1], D[1]), full) < ROUND_OFF
