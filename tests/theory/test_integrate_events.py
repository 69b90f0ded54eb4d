"""The event handling of the integrator: the dense-output event state (no step recomputed per
event) against the former scheme that recomputes a Dormand-Prince step to every event."""

import dataclasses

import pytest
import torch

from learndyn.data import make_task
from learndyn.theory.dynamics import equivalent_control
from learndyn.theory.experiments import load_problem
from learndyn.theory.fields import init_network
from learndyn.theory.flows import hybrid_flow, weight_flow
from learndyn.theory.integrate import Settings, _dopri_step, dense_output

RTOL = 1e-8  # the truncation experiment's tolerances
SETTINGS = Settings(rtol=RTOL, atol=1e-10)
AGREE = 50 * RTOL  # max |W_dense - W_redo| / max |W|: the two schemes agree to the tolerance


def problem(n=16):
    task = make_task("digits01", {"generator": "digits", "classes": [0, 1], "n_test": 90, "seed": 5})
    p = load_problem(task, n, 0)
    return p.X, p.y


@pytest.mark.parametrize("depth,width", [(1, 64), (2, 32)])
def test_dense_event_state_matches_recomputed_steps(depth, width):
    """Weight flow with many mask switches: same switches, trajectories within the tolerance, and
    fewer right-hand sides."""
    X, y = problem()
    Ws, a = init_network([3], X.shape[1], [width] * depth, X.device)
    times = torch.linspace(0.0, 6.0, 5, dtype=torch.float64)
    redo = weight_flow(Ws, a, X, y, times, dataclasses.replace(SETTINGS, event_state="redo"))
    dense = weight_flow(Ws, a, X, y, times, SETTINGS)
    assert redo["stats"].events > 20  # the comparison crosses many switches
    assert dense["stats"].events == redo["stats"].events
    assert dense["stats"].rhs_evals < 0.8 * redo["stats"].rhs_evals
    for wr, wd in zip(redo["W"], dense["W"]):
        assert float((wr - wd).abs().max() / wr.abs().max()) < AGREE


def test_dense_event_state_in_the_hybrid_closure_with_jumps():
    """Level-1 hybrid flow at L = 2 (conjugate jumps at deeper switches): both schemes agree."""
    X, y = problem()
    Ws, a = init_network([1], X.shape[1], [24, 24], X.device)
    times = torch.linspace(0.0, 3.0, 4, dtype=torch.float64)
    redo = hybrid_flow(Ws, a, X, y, times, dataclasses.replace(SETTINGS, event_state="redo"), level=1)
    dense = hybrid_flow(Ws, a, X, y, times, SETTINGS, level=1)
    assert redo["stats"].events > 5
    assert float((redo["r"] - dense["r"]).abs().max() / redo["r"][0].abs().max()) < AGREE


def test_dense_output_interpolates_a_step_to_fourth_order():
    """y' = -y: the dense output at θ = 0.37 of one step of size h errs by O(h^5)."""

    def rhs(t, y, mode):
        return -y

    y0 = torch.ones(1, 2, dtype=torch.float64)
    errs = []
    for h in (0.2, 0.1):
        _, k, _ = _dopri_step(rhs, 0.0, y0, h, -y0, None)
        z = dense_output(y0, h, k, 0.37)
        errs.append(float((z - torch.exp(torch.tensor(-0.37 * h, dtype=torch.float64))).abs().max()))
    assert errs[0] / errs[1] > 2**4.5  # order >= 4 (local error h^5)
    assert dense_output(y0, 0.1, k, 1.0).sub(_dopri_step(rhs, 0.0, y0, 0.1, -y0, None)[0]).abs().max() < 1e-15


def test_equivalent_control_handles_sliding_sets_of_different_sizes_per_seed():
    """A linear rate ḣ = A D + c per seed: λ solves ḣ_q = 0 on each seed's own sliding set."""
    gen = torch.Generator().manual_seed(0)
    S, Q = 3, 12
    A = torch.randn(S, Q, Q, generator=gen, dtype=torch.float64) + 4 * torch.eye(Q, dtype=torch.float64)
    c = torch.randn(S, Q, generator=gen, dtype=torch.float64)
    masks = (torch.rand(S, Q, generator=gen) > 0.5).to(torch.float64)
    sliding = torch.zeros(S, Q, dtype=torch.bool)
    sliding[0, [1, 7]] = True
    sliding[2, [0, 3, 11]] = True
    masks = masks * ~sliding

    def rate(D):
        return (A @ D.unsqueeze(-1)).squeeze(-1) + c

    D, res = equivalent_control(rate, masks, sliding, 1e-12)
    assert res <= 1e-12
    assert float(rate(D)[sliding].abs().max()) <= 1e-10 * float(rate(D).abs().max())
    assert torch.equal(D[~sliding], masks[~sliding])
