"""Field-space integration against weight-space gradient flow (spec §8.1), same integrator."""

import math

import pytest
import torch

from learndyn.data import make_task
from learndyn.theory.dynamics import (
    MaskPacking,
    closed_rate_L1_filippov,
    conjugate_jump,
    hybrid_initial_state,
    hybrid_rate_filippov,
    ntk_residual,
    weight_rate_filippov,
)
from learndyn.theory.experiments import load_problem
from learndyn.theory.fields import init_network, kernel, preactivations_forward, training_fields
from learndyn.theory.flows import closed_flow_L1, fields_along, hybrid_flow, per_seed, weight_flow
from learndyn.theory.integrate import Layout, Settings, integrate

FLOW_TOL = 1e-7  # relative residual error, field vs weight space at rtol 1e-10
SETTINGS = Settings(rtol=1e-10, atol=1e-12)


def problem(n=16, seed=0):
    """Two digit classes (offline scikit-learn digits) on the sphere, labels ±1."""
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
    Y, _ = integrate(
        lambda t, r, m: -(K @ r.unsqueeze(-1)).squeeze(-1) / X.shape[0], F.r, times[:2], SETTINGS
    )
    assert torch.allclose(r[1], Y[1], rtol=1e-8, atol=1e-12)
    assert r[-1].abs().max() < 1e-6


# --- Filippov sliding modes (spec §1 caveat) ------------------------------------------------
# Hand-built L = 1 problems: d = 2, n = 2, inputs at 120° on the circle |x| = sqrt(2), so
# G = [[1, c], [c, 1]] with c = cos 120° = -1/2. A unit with h_{i1} = 0, a_i = 1, r_1 > 0 and
# G_12 D_{i2} r_2 < 0 is pushed onto h_{i1} = 0 from both sides (ḣ(D=1) < 0 < ḣ(D=0)); the
# equivalent control λ = -G_12 D_{i2} r_2 / (G_11 r_1) = r_2 / (2 r_1) keeps it there.

SLIDE_TOL = 1e-9  # weight vs field and closed forms on a sliding mode
THETA = 2 * math.pi / 3


def circle_inputs():
    return math.sqrt(2) * torch.tensor([[1.0, 0.0], [math.cos(THETA), math.sin(THETA)]], dtype=torch.float64)


def test_sliding_mode_closed_form():
    """One unit, h = (0, 1), y = (-1, 0): it slides on h_1 = 0 for all t. Then r_1 = 1 and
    ṙ_2 = -(1 - c^2) r_2 / n, so r_2(t) = exp(-3t/8), λ(t) = r_2(t)/2 ∈ (0, 1)."""
    X = circle_inputs()
    Ws, a = (
        [torch.tensor([[[0.0, 1 / math.sin(THETA)]]], dtype=torch.float64)],
        torch.ones(1, 1, dtype=torch.float64),
    )
    y = torch.tensor([-1.0, 0.0], dtype=torch.float64)
    times = torch.linspace(0, 3, 7, dtype=torch.float64)
    wf = weight_flow(Ws, a, X, y, times, SETTINGS)
    cf = closed_flow_L1(Ws, a, X, y, times, SETTINGS)
    Fw = fields_along(wf["W"], a, X, y)
    h_w, r_w = torch.stack([F.h[0] for F in Fw]), torch.stack([F.r for F in Fw])
    for name, stats in (("weight", wf["stats"]), ("field", cf["stats"])):
        assert stats.slides == 1 and stats.slide_exits == 0, f"{name}: {stats}"
        assert stats.extra["slide_residual"] < 1e-12, (
            f"{name}: ḣ on the surface {stats.extra['slide_residual']}"
        )
    assert h_w[:, 0, 0, 0].abs().max() < 1e-12, "weight space left the surface h_1 = 0"
    assert cf["h"][:, 0, 0, 0].abs().max() < 1e-12, "field space left the surface h_1 = 0"
    r_exact = torch.stack([torch.ones_like(times), torch.exp(-0.375 * times)], -1)
    assert (r_w[:, 0] - r_exact).abs().max() < SLIDE_TOL, "weight flow vs closed form"
    assert (cf["r"][:, 0] - r_exact).abs().max() < SLIDE_TOL, "closed (h, r) system vs closed form"
    lam = closed_rate_L1_filippov(
        cf["h"][-1],
        cf["r"][-1],
        a,
        X,
        cf["stats"].modes[-1].masks.reshape(1, 2, 1),
        cf["stats"].modes[-1].sliding.reshape(1, 2, 1),
    )[2][0, 0, 0]
    assert abs(lam - 0.5 * math.exp(-0.375 * 3)) < SLIDE_TOL, f"equivalent control λ(3) = {lam}"


def test_sliding_exit_closed_form():
    """Two units. Unit 1 slides on sample 1 (h_11 = 0); unit 2 is active on sample 1 only and
    drives r_1 = r_1(0) exp(-t/4) down faster than r_2 = r_2(0) exp(-3t/16), so λ = r_2/(2 r_1)
    reaches 1 at t* = 16 ln(2 r_1(0)/r_2(0)): the entry leaves the surface to the side h > 0."""
    X = circle_inputs()
    W = torch.tensor([[[0.0, 1 / math.sin(THETA)], [2.0, -3.0]]], dtype=torch.float64)
    a, y = torch.ones(1, 2, dtype=torch.float64), torch.tensor([0.8, 0.2], dtype=torch.float64)
    F0 = training_fields([W], a, X, y)
    r0 = F0.r[0]
    t_exit = 16 * math.log(2 * r0[0].item() / r0[1].item())
    times = torch.tensor([0.0, 0.5 * t_exit, t_exit - 0.5, t_exit + 0.5, t_exit + 3], dtype=torch.float64)
    wf = weight_flow([W], a, X, y, times, SETTINGS)
    cf = closed_flow_L1([W], a, X, y, times, SETTINGS)
    r_w = torch.stack([F.r for F in fields_along(wf["W"], a, X, y)])
    for name, stats in (("weight", wf["stats"]), ("field", cf["stats"])):
        assert stats.slides == 1 and stats.slide_exits == 1, f"{name}: {stats}"
    before = times < t_exit
    r_exact = torch.stack([r0[0] * torch.exp(-times / 4), r0[1] * torch.exp(-3 * times / 16)], -1)
    assert (r_w[before, 0] - r_exact[before]).abs().max() < SLIDE_TOL, "weight flow vs closed form"
    assert (cf["r"][before, 0] - r_exact[before]).abs().max() < SLIDE_TOL, "closed system vs closed form"
    assert cf["h"][before, 0, 0, 0].abs().max() < 1e-12, "h_11 left the surface before t*"
    assert (cf["h"][~before, 0, 0, 0] > 1e-6).all(), "h_11 did not leave the surface to h > 0 after t*"
    assert (cf["r"] - r_w).abs().max() < SLIDE_TOL, "weight vs field flow across the exit"


@pytest.mark.parametrize("L", [1, 2, 3])
def test_equivalent_control_weight_and_field(L):
    """The same λ from the weight-space and the hybrid field-space solver, and ḣ = 0 on the
    sliding entries by autodiff of the forward pass (masks fixed) along the Filippov Ẇ."""
    X, y = problem(seed=L)
    Ws, a = init_network([0, 1], X.shape[1], [10] * L)
    F = training_fields(Ws, a, X, y)
    hl = Layout(F.h)
    unpack = lambda flat: [m for m in hl.unpack(flat)]
    packing = MaskPacking(hl.pack, unpack)
    masks = hl.pack(F.D)
    gen = torch.Generator().manual_seed(L)
    # a few entries per seed in the first and the top layer whose own mask moves their rate:
    # ∂ḣ^(l)_{i mu}/∂λ_{i mu} = -r_mu Q^(l-1)_{mu mu} β^(l)_{i mu}/n (β^(L) = a/sqrt(m)), which
    # vanishes when the units above are all off (β = 0) or the sample is dead below (Q = 0)
    W0, _, beta0, _ = hybrid_initial_state(Ws, a, X, y)
    ones = [torch.ones_like(h) for h in F.h]
    sens = hl.pack(
        [(beta0[0] if L > 1 else ones[0]) * ones[0]]
        + [0 * x for x in ones[1:-1]]
        + ([(F.phi[L - 1].abs().sum(-1, keepdim=True) > 0) * ones[-1]] if L > 1 else [])
    )
    pick = torch.rand(masks.shape, generator=gen, dtype=torch.float64) < 0.03
    sliding = pick & (sens.abs() > 0.3 * sens.abs().amax(-1, keepdim=True))
    assert sliding.sum(-1).min() > 0, "no sliding entry in some seed"
    D_ref = unpack(torch.where(sliding, torch.zeros_like(masks), masks))
    W_dot, lam_w, res_w = weight_rate_filippov(Ws, a, X, y, D_ref, sliding, packing)
    # field state on the surface: φ = D_ref h (0 on sliding entries), β jumped to D_ref
    F_ref = training_fields(Ws, a, X, y, D_ref)
    beta_ref = conjugate_jump(Ws, F.D, D_ref, beta0, a)
    out = hybrid_rate_filippov(W0, F_ref.h, beta_ref, F_ref.r, a, X, None, D_ref, sliding, packing)
    lam_f, res_f = out[-2], out[-1]
    assert res_w < 1e-12 and res_f < 1e-12, f"residuals {res_w}, {res_f}"
    assert (lam_w - lam_f).abs().max() < 1e-10, "weight- and field-space equivalent controls differ"
    assert torch.equal(lam_w[~sliding], masks[~sliding])
    h_of = lambda *W: torch.cat([h.flatten(1) for h in preactivations_forward(list(W), X, D_ref)[0]], -1)
    _, h_dot = torch.func.jvp(h_of, tuple(Ws), tuple(W_dot))
    scale = h_dot.abs().max()
    assert (h_dot[sliding].abs().max() / scale) < 1e-12, "autodiff ḣ on sliding entries is not 0"


def test_per_seed_matches_vectorised():
    """Seeds integrated one at a time (truncation) give the vectorised trajectories within tolerance."""
    X, y = problem()
    Ws, a = init_network([0, 1], X.shape[1], [12, 12])
    times = torch.linspace(0, 0.5, 3, dtype=torch.float64)
    together = hybrid_flow(Ws, a, X, y, times, SETTINGS, level=1)
    apart = per_seed(hybrid_flow, Ws, a, X, y, times, SETTINGS, level=1)
    assert (apart["r"] - together["r"]).abs().max() < FLOW_TOL, "per-seed vs vectorised frozen-Γ closure"
    assert all(torch.equal(u, v) for u, v in zip(apart["masks"], together["masks"])), "masks at stored times"
    assert apart["stats"].events == together["stats"].events
