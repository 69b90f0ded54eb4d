"""The theory half's level-0 closure on the structured layer (docs/structured-closure.md): for the
fixed-readout structured network (``structured``), its alpha = 0 linear path (a deep linear
network) and the ReLU network of the theory half (``fields``, ``flows.weight_flow``), the
relative residual error of the kernel frozen at t = 0, r(t) = exp(-K(0) t/n) r(0), against
weight-space gradient flow, per (model, depth, width, seed), to the truncation's horizon.

Horizon (``theory.truncation.horizon``: the truncation study's rule and value, applied to the
ReLU network of the same depth, width and seed, and shared by the three models, so that every
paired comparison is at one ODE time): rule "per_run" (the default) is the time the ReLU run's
level-0 loss has fallen by ``loss_drop``, capped at ``t_max``; rule "shared" is one time per
depth, the median over seeds of that time at the smallest width (capped).

The smooth models integrate all seeds in one dopri5 call in the rescaled time tau = t / t_h
(d theta/d tau = -t_h grad loss, exact for each seed's own t_h); the ReLU runs are the theory
half's event-located Filippov flow, one seed at a time. Checks stored with the data: the
structured kernel against its autodiff Jacobian product J J^T at t = 0 and at the horizon, and
the flow against a second integrator (classical rk4 with ``check_steps`` steps) at the
smallest width.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from ..io import cf_attrs as _a
from ..runtime import timed
from .dynamics import ntk_residual
from .experiments import Problem, base_attrs
from .fields import init_network, kernel, training_fields
from .flows import fields_along, weight_flow
from .hierarchy import loss_drop_horizon, relative_residual_error
from .integrate import Layout, Settings, integrate
from .settings import Job
from .structured import (
    Architecture,
    cap_excess,
    init_structured,
    kernel_jacobian_error,
    structured_fields,
    structured_gradient,
    structured_kernel,
)

DT = torch.float64
MODELS = ("structured", "linear", "relu")  # linear: the structured net with alpha = 0
ORDER = ("relu", "structured", "linear")  # the ReLU run first: its horizon is the three models'


def _np(x):
    return x.detach().cpu().numpy()


def horizon_times(K0, r0, horizon: dict) -> np.ndarray:
    """Each run's horizon under rule "per_run": the time its level-0 loss has fallen by
    ``loss_drop`` (``hierarchy.loss_drop_horizon``), capped at ``t_max``. ``K0`` (S, n, n), ``r0``
    (S, n) -> (S,)."""
    return np.array(
        [
            loss_drop_horizon(_np(K0[s]), _np(r0[s]), horizon["loss_drop"], horizon["t_max"])
            for s in range(len(r0))
        ]
    )


def shared_horizon(p: Problem, depth: int, width: int, seeds, horizon: dict) -> float:
    """Rule "shared": the median over seeds of the ReLU network's level-0 loss-drop time at
    ``width`` (the smallest), capped at ``t_max``: one ODE time for every model of the depth."""
    Ws, a = init_network(list(seeds), p.d, [width] * depth, p.X.device)
    F0 = training_fields(Ws, a, p.X, p.y)
    return float(np.median(horizon_times(kernel(F0.phi, F0.b), F0.r, horizon)))


def smooth_flow(params, a, p: Problem, alpha: float, t_h, tau, settings: Settings):
    """Weight-space flow of the structured network for every seed to its own horizon ``t_h``
    (S,), integrated in tau = t/t_h: d theta/d tau = -t_h grad loss. Returns (params along tau:
    list of (T, S, ., .), residuals (T, S, n), stats)."""
    layout = Layout(params)
    scale = torch.as_tensor(t_h, dtype=DT, device=a.device).unsqueeze(-1)  # (S, 1)

    def rhs(t, state, mode):
        q = layout.unpack(state)
        grads = structured_gradient(structured_fields(q, a, p.X, p.y, alpha), q, alpha)
        return -scale * layout.pack(grads)

    Y, stats = integrate(rhs, layout.pack(params), torch.as_tensor(tau, dtype=DT), settings)
    path = layout.unpack(Y)
    r = torch.stack([structured_fields([q[k] for q in path], a, p.X, p.y, alpha).r for k in range(len(tau))])
    return path, r, stats


def run_smooth(p: Problem, arch: Architecture, seeds, tau, t_h, settings, check_steps):
    """One (smooth model, depth, width) over all seeds to the horizons ``t_h`` (S,): level-0
    error, loss, cap excess (S, T), kernel drift at the horizon (S,), kernel-vs-Jacobian error at
    t = 0 and at the horizon (S,), rk4-vs-dopri5 error (S,; when ``check_steps``), wall time."""
    params, a = init_structured(arch, seeds, p.d, p.X.device)
    F0 = structured_fields(params, a, p.X, p.y, arch.alpha)
    K0 = structured_kernel(F0, arch.alpha)
    (path, r_w, stats), wall = timed(smooth_flow, params, a, p, arch.alpha, t_h, tau, settings)
    times = torch.as_tensor(tau, dtype=DT).unsqueeze(-1) * torch.as_tensor(t_h, dtype=DT)  # (T, S)
    r_0 = torch.stack(
        [ntk_residual(K0[s : s + 1], F0.r[s : s + 1], times[:, s])[:, 0] for s in range(len(seeds))], 1
    )
    end = [q[-1] for q in path]
    K_end = structured_kernel(structured_fields(end, a, p.X, p.y, arch.alpha), arch.alpha)
    out = dict(
        horizon=t_h,
        err=_np(relative_residual_error(r_0, r_w)).T,
        loss=_np(0.5 * (r_w**2).mean(-1)).T,
        cap=np.stack([_np(cap_excess([q[k] for q in path], arch.rho)) for k in range(len(tau))], 1),
        drift=_np((K_end - K0).flatten(1).norm(dim=-1) / K0.flatten(1).norm(dim=-1)),
        jac=np.maximum(
            _np(kernel_jacobian_error(params, a, p.X, p.y, arch.alpha)),
            _np(kernel_jacobian_error(end, a, p.X, p.y, arch.alpha)),
        ),
        wall=wall,
        steps=stats.accepted,
    )
    if check_steps:
        rk4 = Settings(**{**settings.__dict__, "method": "rk4", "dt": 1.0 / check_steps})
        _, r_rk4, _ = smooth_flow(params, a, p, arch.alpha, t_h, tau, rk4)
        out["integrator"] = _np((r_rk4 - r_w).abs().amax((0, 2)) / r_w[0].abs().amax(-1))
    return out


def run_relu(p: Problem, depth: int, width: int, seeds, tau, horizon: dict, t_shared, settings):
    """The theory half's ReLU network at (depth, width), one seed at a time (its event-located
    weight flow): horizons (S,), level-0 error and loss (S, T), kernel drift (S,), wall time."""
    rows = []
    wall = 0.0
    for seed in seeds:
        Ws, a = init_network([seed], p.d, [width] * depth, p.X.device)
        F0 = training_fields(Ws, a, p.X, p.y)
        K0 = kernel(F0.phi, F0.b)
        t_h = t_shared if t_shared is not None else float(horizon_times(K0, F0.r, horizon)[0])
        times = torch.as_tensor(tau * t_h, dtype=DT)
        wf, w = timed(weight_flow, Ws, a, p.X, p.y, times, settings)
        wall += w
        Fw = fields_along(wf["W"], a, p.X, p.y)
        r_w = torch.stack([F.r for F in Fw])  # (T, 1, n)
        K_end = kernel(Fw[-1].phi, Fw[-1].b)
        rows.append(
            dict(
                horizon=t_h,
                err=_np(relative_residual_error(ntk_residual(K0, F0.r, times), r_w)[:, 0]),
                loss=_np(0.5 * (r_w[:, 0] ** 2).mean(-1)),
                drift=float((K_end - K0).norm() / K0.norm()),
            )
        )
    stack = lambda key: np.array([row[key] for row in rows])
    return dict(
        horizon=stack("horizon"), err=stack("err"), loss=stack("loss"), drift=stack("drift"), wall=wall
    )


def run(p: Problem, job: Job, log=None) -> xr.Dataset:
    """Level 0 against the true flow for the three models over depths x widths x seeds
    (``configure("structured_closure")``). Returns a Dataset with coordinates model, depth,
    width, seed, tau (module doc)."""
    exp, seeds, settings = job.experiment, job.seeds, job.integrator
    horizon, tau = exp.horizon_rule, np.linspace(0.0, 1.0, exp.n_times)
    shape = (len(MODELS), len(exp.depths), len(exp.widths), len(seeds))
    var = {k: np.full(shape, np.nan) for k in ("horizon", "drift", "jac")}
    var.update({k: np.full((*shape, len(tau)), np.nan) for k in ("err", "loss", "cap")})
    wall = np.full(shape[:3], np.nan)
    integ = np.full((len(MODELS), len(exp.depths), len(seeds)), np.nan)
    for j, L in enumerate(exp.depths):
        shared = horizon.get("rule", "per_run") == "shared"
        t_shared = shared_horizon(p, L, exp.widths[0], seeds, horizon) if shared else None
        for k, m in enumerate(exp.widths):
            for model in ORDER:
                i = MODELS.index(model)
                if model == "relu":
                    out = run_relu(p, L, m, seeds, tau, horizon, t_shared, settings)
                    t_h = out["horizon"]
                else:
                    alpha = exp.alpha if model == "structured" else 0.0
                    arch = Architecture(L, m, alpha, exp.rho, exp.rank_ratio)
                    check = exp.check_steps if k == 0 else 0
                    out = run_smooth(p, arch, seeds, tau, t_h, settings, check)
                    if check:
                        integ[i, j] = out["integrator"]
                for key in var:
                    if key in out:
                        var[key][i, j, k] = out[key]
                wall[i, j, k] = out["wall"]
                if log is not None:
                    print(
                        f"{model} L={L} m={m}: t_h median {np.median(out['horizon']):.3g}, level 0 median "
                        f"{np.median(out['err'].max(-1)):.2e}, wall {out['wall']:.1f}s",
                        file=log,
                        flush=True,
                    )
    return closure_dataset(p, job, tau, var, wall, integ)


def closure_dataset(p: Problem, job: Job, tau, var: dict, wall, integ) -> xr.Dataset:
    """The experiment's dataset from the arrays of ``run``."""
    exp = job.experiment
    dims = ("model", "depth", "width", "seed")
    ds = xr.Dataset(
        {
            "err": (
                (*dims, "tau"),
                var["err"],
                _a("relative residual error, kernel frozen at t = 0 vs true flow"),
            ),
            "loss": ((*dims, "tau"), var["loss"], _a("training loss of the true flow")),
            "horizon": (dims, var["horizon"], _a("horizon t_h", "ODE time")),
            "cap_excess": (
                (*dims, "tau"),
                var["cap"],
                _a("largest excess of the spectral cap, max_l max(0, sigma_max(A_l)/rho - 1)"),
            ),
            "kernel_drift": (dims, var["drift"], _a("relative kernel change |K(t_h) - K(0)|/|K(0)|")),
            "kernel_jacobian_error": (
                dims,
                var["jac"],
                _a("max |K - J J^T| / max |K| at t = 0 and at t_h (J by autodiff)"),
            ),
            "integrator_error": (
                ("model", "depth", "seed"),
                integ,
                _a("max relative residual difference, rk4 vs dopri5 (smallest width)"),
            ),
            "wall_s": (("model", "depth", "width"), wall, _a("wall time of the weight-space flows", "s")),
        },
        coords={
            "model": ("model", list(MODELS), _a("network (linear: structured with alpha = 0)")),
            "depth": ("depth", list(exp.depths), _a("number of trained weight layers L")),
            "width": ("width", list(exp.widths), _a("hidden width m")),
            "seed": ("seed", list(job.seeds), _a("network seed")),
            "tau": ("tau", tau, _a("time as a fraction of the run's horizon t_h")),
        },
        attrs={
            "alpha": exp.alpha,
            "rho": exp.rho,
            "rank_ratio": exp.rank_ratio,
            "check_steps": exp.check_steps,
            "kernel_tol": exp.kernel_tol,
            "horizon_rule": exp.horizon_rule.get("rule", "per_run"),
            "loss_drop": exp.horizon_rule["loss_drop"],
            "horizon_t_max": exp.horizon_rule["t_max"],
            "structured_init": "E, V, U ~ N(0,1); W_l = sqrt(m) rho O_l (Haar orthogonal); a = +-1",
        },
    )
    weights = "regenerate with theory.structured.init_structured / theory.fields.init_network"
    ds.attrs.update(base_attrs(p, job.integrator, weights=weights))
    return ds
