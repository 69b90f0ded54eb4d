"""The experiments closed_flow, hybrid_flow, identities and gradient_descent of the theory stage,
each a function returning an ``xarray.Dataset`` (truncation: ``hierarchy``).

Data (spec §11 choices, recorded in every dataset's attrs): n training points subsampled
from a data-stage task with ``seed``; inputs projected to the sphere |x| = sqrt(d) so that
x.x/d = 1 (teacher inputs already are; digits are standardised by the data stage first);
targets are the regression target (teacher) or ±1 labels (two-class digits). Networks: equal
hidden widths m, W ~ N(0, 1), readout a_i = ±1, one torch seed per network (``init_network``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from ..data import load_task
from ..io import cf_attrs
from ..runtime import setup_torch, timed
from . import checks, gd
from .fields import coactivation, init_network, training_fields
from .flows import closed_flow_L1, fields_along, hybrid_flow, weight_flow
from .integrate import Settings
from .settings import Job, configure

DT = torch.float64


@dataclass
class Problem:
    """A theory data set: inputs X (n, d) on the sphere and scalar targets y (n,)."""

    name: str
    X: torch.Tensor
    y: torch.Tensor
    choices: dict

    @property
    def n(self):
        return self.X.shape[0]

    @property
    def d(self):
        return self.X.shape[1]


def prepare(
    name: str, params: dict, task_path, threads: int, device_name: str = "auto", n: int | None = None
):
    """``(job, problem)`` of one theory job: its settings (``settings.configure``), torch set up
    for the job's threads and device, and the task's subsampled problem (``n`` points when
    given, e.g. the truncation's second data size, else the job's)."""
    job = configure(name, params)
    device = setup_torch(threads, device_name)
    return job, load_problem(load_task(task_path), job.n if n is None else n, job.subsample_seed, device)


def project_to_sphere(x: np.ndarray) -> np.ndarray:
    """x -> x sqrt(d)/|x|, so that G_{mu mu} = x.x/d = 1 (spec §4 normalisation)."""
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x * np.sqrt(x.shape[1]) / np.where(norm > 0, norm, 1.0)


def load_problem(task, n: int, seed: int, device=None) -> Problem:
    """Subsample n training points of a ``learndyn.data.Task`` and make scalar targets."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(task.x_train), size=n, replace=False))
    x = project_to_sphere(task.x_train[idx])
    if task.kind == "classification":
        if task.n_classes != 2:
            raise ValueError(f"{task.name}: theory targets need two classes, got {task.n_classes}")
        y, target = 2.0 * task.y_train[idx] - 1.0, "labels mapped to -1/+1"
    else:
        y, target = task.y_train[idx, 0], "first regression output"
    choices = {
        "task": task.name,
        "n": n,
        "subsample_seed": seed,
        "input_normalisation": "projected to the sphere |x| = sqrt(d)",
        "target": target,
    }
    return Problem(
        task.name, torch.tensor(x, dtype=DT, device=device), torch.tensor(y, dtype=DT, device=device), choices
    )


# --- helpers ------------------------------------------------------------------------------

_a = cf_attrs


def _np(x):
    return x.detach().cpu().numpy()


def _rel_traj(x, ref, ref0):
    """max over seeds/samples of |x - ref| at each time, divided by max|ref0|. (T,)."""
    return (x - ref).abs().flatten(1).amax(-1) / ref0.abs().max()


def problem_vars(p: Problem) -> dict:
    """Inputs and targets, stored with every dataset so it can be recomputed."""
    return {
        "X": (("sample", "feature"), _np(p.X), _a("input (projected to the sphere)")),
        "y": (("sample",), _np(p.y), _a("target")),
    }


def network_vars(Ws, a, depth=None) -> dict:
    """Initial weights and readout (first layer, stacked hidden layers) as dataset variables."""
    out = {
        "a": (("seed", "unit"), _np(a), _a("fixed readout a")),
        "W1_init": (("seed", "unit", "feature"), _np(Ws[0]), _a("initial first-layer weights W_1")),
    }
    if len(Ws) > 1:
        out["Wh_init"] = (
            ("seed", "hidden_layer", "unit", "unit_in"),
            _np(torch.stack(Ws[1:], 1)),
            _a("initial weights W_2..W_L"),
        )
    return out


def base_attrs(p: Problem, settings: Settings | None, **extra) -> dict:
    attrs = {f"data_{k}": v for k, v in p.choices.items()}
    attrs.update(
        init="W ~ N(0,1) entrywise, a_i = +-1 Rademacher, torch.Generator(seed)",
        scaling="1/sqrt(fan-in), no biases, loss |r|^2/(2n), Theta(0)=0",
        time_units="ODE time of dW/dt = -grad loss",
    )
    if settings is not None:
        attrs.update(settings.attrs())
    attrs.update(extra)
    return attrs


# --- closed_flow: L = 1 closed (h, r) system vs weight-space flow ------------------------------------


def run_closed_flow(p: Problem, job: Job) -> xr.Dataset:
    """Closed flow (spec §4, §8.1): integrate weight-space GF and the closed (h, r) system, compare.
    ``job``: ``configure("closed_flow")``. Returns residuals (time, seed, sample), errors (time,)."""
    exp, seeds, settings = job.experiment, job.seeds, job.integrator
    width, t_max, n_times = exp.width, exp.t_max, exp.n_times
    times = torch.linspace(0, t_max, n_times, dtype=DT)
    Ws, a = init_network(seeds, p.d, [width], p.X.device)
    wf, t_weight = timed(weight_flow, Ws, a, p.X, p.y, times, settings)
    cf, t_field = timed(closed_flow_L1, Ws, a, p.X, p.y, times, settings)
    Fw = fields_along(wf["W"], a, p.X, p.y)
    r_w = torch.stack([F.r for F in Fw])  # (T, S, n)
    h_w = torch.stack([F.h[0] for F in Fw])
    r_h = torch.stack(
        [(torch.clamp_min(h, 0) * a.unsqueeze(-2)).sum(-1) / math.sqrt(width) - p.y for h in cf["h"]]
    )
    C0, Ct = coactivation(cf["h"][0], a), torch.stack([coactivation(h, a) for h in cf["h"]])
    ds = xr.Dataset(
        {
            "r_weight": (("time", "seed", "sample"), _np(r_w), _a("residual, weight-space flow")),
            "r_field": (("time", "seed", "sample"), _np(cf["r"]), _a("residual, closed (h, r) system")),
            "err_r": (
                ("time",),
                _np(_rel_traj(cf["r"], r_w, r_w[0])),
                _a("relative residual error, closed system vs weight space"),
            ),
            "err_h": (
                ("time",),
                _np(_rel_traj(cf["h"], h_w, h_w[0])),
                _a("relative error of h, closed system vs forward pass of W(t)"),
            ),
            "err_r_readout": (
                ("time",),
                _np(_rel_traj(cf["r"], r_h, r_w[0])),
                _a("relative error, evolved r vs readout of evolved h"),
            ),
            "coactivation_drift": (
                ("time", "seed"),
                _np((Ct - C0).flatten(2).norm(dim=-1) / C0.flatten(1).norm(dim=-1)),
                _a("relative change of co-activation C"),
            ),
            "loss": (("time", "seed"), _np(0.5 * (r_w**2).mean(-1)), _a("training loss")),
            **problem_vars(p),
            **network_vars(Ws, a),
        },
        coords={
            "time": ("time", _np(times), _a("ODE time")),
            "seed": ("seed", list(seeds), _a("network seed")),
        },
    )
    ds.attrs.update(
        base_attrs(
            p,
            settings,
            width=width,
            depth=1,
            wall_weight_s=t_weight,
            wall_field_s=t_field,
            **wf["stats"].attrs("weight_steps_"),
            **cf["stats"].attrs("field_steps_"),
        )
    )
    return ds


# --- hybrid_flow: L = 1..4 hybrid closure vs weight-space flow ---------------------------------------


def run_hybrid_flow(p: Problem, job: Job) -> xr.Dataset:
    """Hybrid flow (spec §5, §8.1): hybrid field closure (h, β, r; W co-integrated) vs weight-space
    GF. ``job``: ``configure("hybrid_flow")``. Returns residuals (depth, time, seed, sample), errors."""
    exp, seeds, settings = job.experiment, job.seeds, job.integrator
    depths, width, t_max, n_times = exp.depths, exp.width, exp.t_max, exp.n_times
    times = torch.linspace(0, t_max, n_times, dtype=DT)
    per_depth = []
    for L in depths:
        Ws, a = init_network(seeds, p.d, [width] * L, p.X.device)
        wf, t_weight = timed(weight_flow, Ws, a, p.X, p.y, times, settings)
        hf, t_field = timed(hybrid_flow, Ws, a, p.X, p.y, times, settings)
        Fw = fields_along(wf["W"], a, p.X, p.y)
        # forward/backward pass of the co-integrated weights with the integrator's reference masks
        # (0 on sliding entries), the masks the field state β belongs to
        Fh = fields_along(hf["W"], a, p.X, p.y, masks=hf["masks"])
        r_w = torch.stack([F.r for F in Fw])
        err_h = max(
            _rel_traj(hf["h"][l], torch.stack([F.h[l] for F in Fh]), Fh[0].h[l]).max().item()
            for l in range(L)
        )
        err_b = max(
            [
                _rel_traj(hf["masks"][l] * hf["beta"][l], torch.stack([F.b[l] for F in Fh]), Fh[0].b[l])
                .max()
                .item()
                for l in range(L - 1)
            ],
            default=0.0,
        )
        err_W = max(_rel_traj(hf["W"][l], wf["W"][l], wf["W"][l][0]).max().item() for l in range(L))
        ws, hs = wf["stats"], hf["stats"]
        Hvars = {
            "r_weight": (("time", "seed", "sample"), _np(r_w), _a("residual, weight-space flow")),
            "r_hybrid": (("time", "seed", "sample"), _np(hf["r"]), _a("residual, hybrid field closure")),
            "err_r": (
                ("time",),
                _np(_rel_traj(hf["r"], r_w, r_w[0])),
                _a("relative residual error, hybrid closure vs weight space"),
            ),
            "err_h_forward": ((), err_h, _a("max relative error of h, fields vs forward pass of W(t)")),
            "err_b_forward": ((), err_b, _a("max relative error of b, fields vs backward pass of W(t)")),
            "err_W": ((), err_W, _a("max relative error of co-integrated W vs weight-space W")),
            "loss": (("time", "seed"), _np(0.5 * (r_w**2).mean(-1)), _a("training loss")),
            "wall_weight": ((), t_weight, _a("wall time, weight-space integration", "s")),
            "wall_field": ((), t_field, _a("wall time, hybrid field integration", "s")),
            "switch_events": ((), hs.events, _a("mask switches located (hybrid run)")),
            "slides": (("space",), [ws.slides, hs.slides], _a("entries that entered a sliding mode")),
            "sliding_steps": (
                ("space",),
                [ws.sliding_steps, hs.sliding_steps],
                _a("steps taken on a sliding mode"),
            ),
            "slide_residual": (
                ("space",),
                [ws.extra["slide_residual"], hs.extra["slide_residual"]],
                _a("max |dh/dt| on sliding entries / max |dh/dt| (equivalent control)"),
            ),
        }
        net = network_vars(Ws, a)
        Hvars["a"], Hvars["W1_init"] = net["a"], net["W1_init"]
        ds = xr.Dataset(
            Hvars,
            coords={
                "time": ("time", _np(times), _a("ODE time")),
                "seed": ("seed", list(seeds), _a("network seed")),
                "space": ("space", ["weight", "field"], _a("flow")),
            },
        )
        if "Wh_init" in net:  # pad hidden layers to depth max(depths)-1
            W = np.full((len(seeds), max(depths) - 1, width, width), np.nan)
            W[:, : L - 1] = net["Wh_init"][1]
            ds["Wh_init"] = (
                ("seed", "hidden_layer", "unit", "unit_in"),
                W,
                _a("initial weights W_2..W_L (NaN-padded)"),
            )
        per_depth.append(ds.expand_dims(depth=[L]))
    out = xr.concat(
        per_depth, dim="depth", join="outer", data_vars="all", coords="different", compat="equals"
    )
    out["depth"].attrs.update(_a("number of trained hidden layers L"))
    for k, v in problem_vars(p).items():
        out[k] = v
    out.attrs.update(base_attrs(p, settings, width=width))
    return out


# --- identities: at random and trained points ---------------------------------------------


def run_identities(p: Problem, job: Job) -> xr.Dataset:
    """Identities (spec §8.2-§8.6): every identity at the random init and after ``train_steps`` GD
    steps. ``job``: ``configure("identities")``. Returns error (depth, point, check)."""
    exp, seeds = job.experiment, job.seeds
    depths, width, train_eta, train_steps = exp.depths, exp.width, exp.train_eta, exp.train_steps
    fd_delta = exp.fd_delta
    rows = np.full((len(depths), 2, len(checks.IDENTITY_CHECKS)), np.nan)
    for i, L in enumerate(depths):
        Ws, a = init_network(seeds, p.d, [width] * L, p.X.device)
        trained = gd.gd_train(Ws, a, p.X, p.y, train_eta, train_steps)
        for j, W in enumerate((Ws, trained)):
            res = checks.identity_checks(W, a, p.X, p.y, fd_delta)
            rows[i, j] = [res[c] for c in checks.IDENTITY_CHECKS]
    ds = xr.Dataset(
        {"error": (("depth", "point", "check"), rows, _a("relative error of the identity"))},
        coords={
            "depth": ("depth", list(depths), _a("number of trained hidden layers L")),
            "point": ["random", "trained"],
            "check": list(checks.IDENTITY_CHECKS),
            "seed": ("seed", list(seeds), _a("network seed")),
        },
    )
    for k, v in problem_vars(p).items():
        ds[k] = v
    ds.attrs.update(
        base_attrs(
            p,
            None,
            width=width,
            train_eta=train_eta,
            train_steps=train_steps,
            fd_delta=fd_delta,
            weights="regenerate with init_network(seeds, d, [width]*L)",
        )
    )
    return ds


# --- gradient_descent ---------------------------------------------------------------------


def run_gradient_descent(p: Problem, job: Job) -> xr.Dataset:
    """Gradient descent (spec §3, §4, §8.5): one-step residual error vs η, exact discrete
    identities, GD vs GF. ``job``: ``configure("gradient_descent")``. Returns one_step_error
    (depth, eta, seed), discrete_error (depth, discrete_check), gd_vs_gf_error (depth, gd_eta)."""
    exp, seeds, settings = job.experiment, job.seeds, job.integrator
    depths, width, etas, gd_etas = exp.depths, exp.width, exp.etas, exp.gd_etas
    check_eta, t_gd = exp.check_eta, exp.t_gd
    one_step = np.full((len(depths), len(etas), len(seeds)), np.nan)
    switched = np.zeros_like(one_step)
    disc = np.full((len(depths), len(checks.DISCRETE_CHECKS)), np.nan)
    gd_err = np.full((len(depths), len(gd_etas)), np.nan)
    for i, L in enumerate(depths):
        Ws, a = init_network(seeds, p.d, [width] * L, p.X.device)
        e, s = checks.one_step_residual_error(Ws, a, p.X, p.y, etas)
        one_step[i], switched[i] = _np(e), _np(s)
        res = checks.discrete_checks(Ws, a, p.X, p.y, check_eta)
        disc[i] = [res[c] for c in checks.DISCRETE_CHECKS]
        steps = [max(1, int(round(t_gd / eta))) for eta in gd_etas]
        t_k = sorted({0.0, *(k * eta for k, eta in zip(steps, gd_etas))})  # GF at exactly t = eta k
        wf = weight_flow(Ws, a, p.X, p.y, torch.tensor(t_k, dtype=DT), settings)
        r0 = training_fields(Ws, a, p.X, p.y).r
        for j, eta in enumerate(gd_etas):
            r_gf = training_fields([W[t_k.index(steps[j] * eta)] for W in wf["W"]], a, p.X, p.y).r
            r_gd = training_fields(gd.gd_train(Ws, a, p.X, p.y, eta, steps[j]), a, p.X, p.y).r
            gd_err[i, j] = ((r_gd - r_gf).abs().max() / r0.abs().max()).item()
    ds = xr.Dataset(
        {
            "one_step_error": (
                ("depth", "eta", "seed"),
                one_step,
                _a("one-step residual error |r(t+1) - (I - eta K/n) r(t)| / |r(t)|"),
            ),
            "switched": (("depth", "eta", "seed"), switched, _a("a mask switched during the step (1 = yes)")),
            "discrete_error": (
                ("depth", "discrete_check"),
                disc,
                _a("relative error of the exact GD identity"),
            ),
            "gd_vs_gf_error": (
                ("depth", "gd_eta"),
                gd_err,
                _a("relative residual error of GD vs GF at t = eta k"),
            ),
            **problem_vars(p),
        },
        coords={
            "depth": ("depth", list(depths), _a("number of trained hidden layers L")),
            "eta": ("eta", list(etas), _a("learning rate eta")),
            "gd_eta": ("gd_eta", list(gd_etas), _a("learning rate eta of the GD trajectory")),
            "discrete_check": list(checks.DISCRETE_CHECKS),
            "seed": ("seed", list(seeds), _a("network seed")),
        },
    )
    ds.attrs.update(
        base_attrs(
            p,
            settings,
            width=width,
            check_eta=check_eta,
            t_gd=t_gd,
            weights="regenerate with init_network(seeds, d, [width]*L)",
        )
    )
    return ds


# --- structured_closure: the level-0 closure on the structured layer ------------------------------


def run_structured_closure(p: Problem, job: Job) -> xr.Dataset:
    """Level 0 (kernel frozen at t = 0) vs weight-space flow for the structured network, its
    alpha = 0 linear path and the ReLU network (``structured_closure.run``; it imports this
    module, hence the import here). ``job``: ``configure("structured_closure")``."""
    import sys

    from .structured_closure import run as run_closure

    return run_closure(p, job, log=sys.stderr)


# The experiments one generic job runs (``workflow/scripts/theory_experiment.py``, one rule per
# name from the job catalogue's ``THEORY_EXPERIMENTS``): ``run_<name>(problem, job)``. A new one
# adds its function here, its settings class to ``settings.EXPERIMENTS`` and its catalogue entry.
RUNS = {
    "closed_flow": run_closed_flow,
    "hybrid_flow": run_hybrid_flow,
    "identities": run_identities,
    "gradient_descent": run_gradient_descent,
    "structured_closure": run_structured_closure,
}


def run(
    name: str, params: dict, task_path, threads: int, device_name: str = "auto"
) -> tuple[Job, xr.Dataset]:
    """``(job, dataset)`` of theory experiment ``name`` (a key of ``RUNS``) on the task at
    ``task_path``, with the rule's ``params`` (``configure`` resolves every override)."""
    job, problem = prepare(name, params, task_path, threads, device_name)
    return job, RUNS[name](problem, job)
