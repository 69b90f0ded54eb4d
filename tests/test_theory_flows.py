"""Field-space integration against weight-space gradient flow (spec §8.1), same integrator."""
import pytest
import torch

from learndyn.data import make_task
from learndyn.theory.dynamics import ntk_residual
from learndyn.theory.experiments import load_problem
from learndyn.theory.fields import init_network, kernel, training_fields
from learndyn.theory.flows import closed_flow_L1, fields_along, hybrid_flow, weight_flow
from learndyn.theory.integrate import Settings, integrate

FLOW_TOL = 1e-7  # relative residual error, field vs weight space at rtol 1e-10
SETTINGS = Settings(rtol=1e-10, atol=1e-12)


def problem(n=16, seed=0):
    """Two digit classes (offline scikit-learn digits) on the sphere, labels ±1.

    Their strongly correlated inputs keep these small flows out of Filippov sliding modes
    (on nearly orthogonal inputs ReLU units get pinned at h = 0, where the a.e. equations stop).
    """
    task = make_task("digits01", {"generator": "digits", "classes": [0, 1], "n_test": 90, "seed": 5})
    p = load_problem(task, n, seed)
    return p.X, p.y


def r_of(W_traj, a, X, y):
    return torch.stack([F.r for F in fields_along(W_traj, a, X, y)])


def test_integrator_exponential():
    """y' = -y: Dormand-Prince at rtol 1e-10 reproduces exp(-t)."""
    y0 = torch.ones(2, 3, dtype=torch.float64)
    Y, _ = integrate(lambda t, y, m: -y, y0, [0.0, 0.5, 1.0], SETTINGS)
    assert torch.allclose(Y[-1], torch.exp(torch.tensor(-1.0, dtype=torch.float64)) * y0, rtol=1e-9)


def test_closed_L1_matches_weight_flow():
    X, y = problem()
    Ws, a = init_network([0, 1], X.shape[1], [16])
    times = torch.linspace(0, 1.0, 5, dtype=torch.float64)
    r_w = r_of(weight_flow(Ws, a, X, y, times, SETTINGS)["W"], a, X, y)
    cf = closed_flow_L1(Ws, a, X, y, times, SETTINGS)
    err = ((cf["r"] - r_w).abs().max() / r_w[0].abs().max()).item()
    assert err < FLOW_TOL, f"closed (h, r) vs weight GF: {err}"
    assert torch.allclose(r_w[0], training_fields(Ws, a, X, y).r)  # t = 0 gives back the outputs


@pytest.mark.parametrize("L", [2, 3])
def test_hybrid_matches_weight_flow(L):
    X, y = problem(seed=L)
    Ws, a = init_network([0], X.shape[1], [12] * L)
    times = torch.linspace(0, 1.0, 3, dtype=torch.float64)
    r_w = r_of(weight_flow(Ws, a, X, y, times, SETTINGS)["W"], a, X, y)
    hf = hybrid_flow(Ws, a, X, y, times, SETTINGS)
    err = ((hf["r"] - r_w).abs().max() / r_w[0].abs().max()).item()
    assert err < FLOW_TOL, f"hybrid closure vs weight GF (L={L}): {err}"
    Fh = fields_along(hf["W"], a, X, y)
    for l in range(L):
        e = max((hf["h"][l][t] - Fh[t].h[l]).abs().max().item() for t in range(len(times)))
        assert e < FLOW_TOL, f"hybrid h^({l + 1}) vs forward pass of W(t): {e}"


def test_ntk_closure_and_limit():
    """Frozen kernel: r(t) = exp(-K t/n) r0 solves r' = -K r/n; r -> 0 when K is positive definite."""
    X, y = problem()
    Ws, a = init_network([0], X.shape[1], [64])
    F = training_fields(Ws, a, X, y)
    K = kernel(F.phi, F.b)
    times = torch.tensor([0.0, 0.3, 1e4], dtype=torch.float64)
    r = ntk_residual(K, F.r, times)
    Y, _ = integrate(lambda t, r, m: -(K @ r.unsqueeze(-1)).squeeze(-1) / X.shape[0], F.r, times[:2], SETTINGS)
    assert torch.allclose(r[1], Y[1], rtol=1e-8, atol=1e-12)
    assert r[-1].abs().max() < 1e-6
