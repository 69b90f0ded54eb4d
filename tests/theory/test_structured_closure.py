"""The fixed-readout structured network of the theory half (``theory.structured``) and the report
of its level-0 closure (``theory.structured_report``): the Hadamard-form kernel against the
autodiff Jacobian product, the conjugate-recursion gradient against autodiff, the weight flow
against a second integrator, and the exponent fit / paired verdicts on synthetic data."""

import math

import numpy as np
import pytest
import torch
import xarray as xr

from learndyn.theory.integrate import Settings
from learndyn.theory.structured import (
    Architecture,
    cap_excess,
    init_structured,
    jacobian_autograd,
    structured_fields,
    structured_gradient,
    structured_kernel,
)
from learndyn.theory.structured_closure import smooth_flow
from learndyn.theory.structured_report import comparison_rows, model_exponents

KERNEL_TOL = 1e-10  # Hadamard-form kernel vs autodiff J J^T (float64, relative)
GRAD_TOL = 1e-12  # conjugate-recursion gradient vs autodiff
FLOW_TOL = 1e-6  # dopri5 vs rk4 residuals (relative to max |r(0)|)
DT = torch.float64


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread (two spinning threads on a loaded machine cost 40x)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    gen = torch.Generator().manual_seed(3)
    X = torch.randn(10, 6, generator=gen, dtype=DT)
    X = X * math.sqrt(6) / X.norm(dim=1, keepdim=True)  # on the sphere, as the theory data
    y = torch.sign(torch.randn(10, generator=gen, dtype=DT))
    return X, y


@pytest.mark.parametrize("depth,alpha", [(2, 0.1), (3, 0.7), (2, 0.0)])
def test_kernel_equals_autodiff_jacobian_product(data, depth, alpha):
    X, y = data
    params, a = init_structured(Architecture(depth, 12, alpha), [0, 1], X.shape[1])
    params = [p + 0.1 * torch.randn_like(p) for p in params]  # away from the orthogonal init
    K = structured_kernel(structured_fields(params, a, X, y, alpha), alpha)
    J = jacobian_autograd(params, a, X, y, alpha)
    err = (K - J @ J.transpose(-1, -2)).abs().max() / K.abs().max()
    assert err < KERNEL_TOL
    assert torch.allclose(K, K.transpose(-1, -2), atol=0, rtol=0)


@pytest.mark.parametrize("alpha", [0.3, 0.0])
def test_gradient_equals_autodiff(data, alpha):
    X, y = data
    params, a = init_structured(Architecture(3, 10, alpha), [4], X.shape[1])
    grads = structured_gradient(structured_fields(params, a, X, y, alpha), params, alpha)
    leaves = [p.clone().requires_grad_(True) for p in params]
    loss = 0.5 * (structured_fields(leaves, a, X, y, alpha).r ** 2).mean()
    for g, g_ref in zip(grads, torch.autograd.grad(loss, leaves)):
        assert (g - g_ref).abs().max() <= GRAD_TOL * max(g_ref.abs().max().item(), 1.0)


def test_alpha_zero_is_the_deep_linear_network(data):
    """alpha = 0: f = a . A_L ... A_2 E x / (sqrt(m) sqrt(d)), a closed form of the linear path."""
    X, y = data
    params, a = init_structured(Architecture(3, 8, 0.0), [2], X.shape[1])
    E, W2, W3 = params[0][0], params[1][0], params[4][0]
    f = (a[0] @ (W3 / math.sqrt(8)) @ (W2 / math.sqrt(8)) @ E @ X.T) / math.sqrt(8 * X.shape[1])
    assert torch.allclose(structured_fields(params, a, X, y, 0.0).f[0], f, rtol=1e-13, atol=1e-13)


def test_init_is_on_the_cap_and_independent_of_the_other_seeds(data):
    X, _ = data
    arch = Architecture(3, 16, 0.1, rho=0.8)
    params, a = init_structured(arch, [5, 6], X.shape[1])
    alone, a_alone = init_structured(arch, [6], X.shape[1])
    assert all(torch.equal(p[1], q[0]) for p, q in zip(params, alone)) and torch.equal(a[1], a_alone[0])
    assert cap_excess(params, 0.8).max() < 1e-12
    sigma = torch.linalg.svdvals(params[1][0] / 4.0)  # A_2 = W_2 / sqrt(m): every singular value rho
    assert torch.allclose(sigma, torch.full_like(sigma, 0.8), atol=1e-12)
    assert cap_excess([p * 1.1 for p in params], 0.8).min() > 0.09  # a scaled W exceeds the cap


def test_flow_matches_a_second_integrator_and_descends(data):
    X, y = data

    class P:  # the attributes of a theory Problem the flow reads
        pass

    p = P()
    p.X, p.y = X, y
    params, a = init_structured(Architecture(2, 8, 0.5), [0, 1], X.shape[1])
    tau, t_h = np.linspace(0, 1, 5), np.array([1.0, 2.0])
    _, r_dp, _ = smooth_flow(params, a, p, 0.5, t_h, tau, Settings(rtol=1e-10, atol=1e-12))
    _, r_rk, _ = smooth_flow(params, a, p, 0.5, t_h, tau, Settings(method="rk4", dt=4e-3))
    r0 = structured_fields(params, a, X, y, 0.5).r
    assert torch.allclose(r_dp[0], r0, rtol=0, atol=0)
    assert ((r_dp - r_rk).abs().max() / r0.abs().max()) < FLOW_TOL
    loss = 0.5 * (r_dp**2).mean(-1)
    assert (loss[1:] < loss[:-1]).all()


def synthetic(slopes: dict, seeds=12, widths=(16, 32, 64, 128, 256), noise=0.05, shift=None):
    """A structured_closure-shaped dataset with err = c m^p exp(noise) per (model, seed)."""
    rng = np.random.default_rng(0)
    models = ["structured", "linear", "relu"]
    m = np.asarray(widths, float)
    err = np.empty((3, 1, len(widths), seeds, 2))
    common = rng.normal(0, noise, (seeds, len(widths)))  # shared by the models: paired seeds
    for i, model in enumerate(models):
        c = (shift or {}).get(model, 1.0)
        own = rng.normal(0, noise, (seeds, len(widths)))
        err[i, 0, :, :, 1] = (c * m[None] ** slopes[model] * np.exp(common + own)).T
        err[i, 0, :, :, 0] = 0.0
    return xr.Dataset(
        {"err": (("model", "depth", "width", "seed", "tau"), err)},
        coords={
            "model": models,
            "depth": [2],
            "width": list(widths),
            "seed": range(seeds),
            "tau": [0.0, 1.0],
        },
        attrs={"data_task": "synthetic", "horizon_rule": "per_run"},
    )


def test_exponent_fit_recovers_a_known_slope():
    ds = synthetic({"structured": -1.0, "linear": -1.0, "relu": -0.5})
    ex = model_exponents(ds)
    for model, p in (("structured", -1.0), ("relu", -0.5)):
        e = ex[(model, 2)]
        assert e.low <= p <= e.high and abs(e.mean - p) < 0.05 and e.n_seeds == 12


def test_paired_verdicts_follow_the_data():
    ds = synthetic({"structured": -1.0, "linear": -1.0, "relu": -0.5}, shift={"relu": 2.0})
    df = comparison_rows(ds)
    rows = df[(df.model == "structured") & (df.baseline == "relu")]
    assert (rows.verdict == "supported").all()  # lower error at every width, steeper exponent
    assert (rows.test_unit == "seed").all() and (rows.n_units == 12).all()
    same = df[(df.model == "structured") & (df.baseline == "linear") & (df.width == "all")]
    assert (same.verdict == "inconclusive").all()  # equal exponents: no difference claimed
    assert (df.p_holm >= df.p).all()
