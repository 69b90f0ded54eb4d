"""How big each heavy job is: the work size that the cost model (``learndyn.costmodel``) prices,
computed for a job of the catalogue (``learndyn.catalogue``) from the config, its wildcards and
its ``size_args``.

A job's *work* is a size in abstract units that its compute grows with: for training,
members x steps x batch x (multiply-adds per sample of one forward pass); for the theory
integrations, depth x n x m^2 (times what each experiment repeats). Its *ops* count the Python
and kernel-launch work that does not grow with the tensor sizes: steps x (depth + 2) for
training. One ``size_<rule>`` function per benchmarked rule, registered in ``SIZES``.

Importable without torch or pandas (the workflow calls it while building the DAG).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from .sources import FIXED_DIMENSIONS
from .theory.levels import flows_per_run, level_seed_count, seeds_at, widths_at
from .train.grid import cell_levels, cell_seeds
from .train.spec import ModelSpec

DEFAULT_DIMENSION = 32
BYTES = 4  # float32 training
# forward-pass equivalents per sample of a forward + backward pass (the gradient norms, FGSM) and
# of one Hessian-vector product (forward, backward, and their double-backward)
PASSES_GRAD = 3
PASSES_HVP = 6
DEFAULT_N_TRAIN = 1000  # a task without n_train (the digits: 1797 images less the test split)
DEFAULT_N_TEST = 500  # a task without n_test


@dataclass(frozen=True)
class Size:
    """The size of one heavy job: its rule's law key, its benchmark file (the job's name) and
    what its time and memory grow with."""

    law: str  # e.g. "train_cell:full", "theory_truncation"
    bench: str  # benchmark path, benchmarks/<stage>/<...>.tsv
    work: float  # abstract work units (wall time grows with it)
    mem_work: float  # bytes the job's tensors take (memory grows with it)
    chain: str = ""  # the (task, model) whose tune job this job waits for (train cells)
    ops: float = 0.0  # size-independent operations (steps x layers; integrations x time)
    steps: int = 0  # training steps (training jobs)
    shape: str = ""  # the ensemble a training step runs (``shape_key``), for measured step times
    evals: float = 0.0  # evaluation work in multiply-adds (training jobs; ``evaluation_work``)


def size(config: dict, job) -> Size:
    """The size of a heavy job of the catalogue (``learndyn.catalogue.Job`` with a ``bench``)."""
    return globals()[f"size_{job.rule}"](config, job.bench, **job.wildcards, **job.size_args)


# --- training ------------------------------------------------------------------------------------


def task_dims(config: dict, task: str) -> tuple[int, int]:
    """(input dimension, output dimension) of a task from its config entry."""
    spec = config["data"]["tasks"][task]
    d_in = FIXED_DIMENSIONS.get(spec["generator"], spec.get("d", DEFAULT_DIMENSION))
    if spec["generator"] in ("digits", "fashion_mnist"):
        d_out = len(spec.get("classes") or range(10))
    elif spec["generator"] == "spirals":
        d_out = 2
    elif spec["generator"] == "linear_correction":
        d_out = d_in
    else:
        d_out = 1
    return d_in, d_out


def task_kind(config: dict, task: str) -> str:
    """ "classification" or "regression", from the task's generator (as ``task_dims``)."""
    gen = config["data"]["tasks"][task]["generator"]
    return "classification" if gen in ("digits", "fashion_mnist", "spirals") else "regression"


def layer_factor(spec: dict) -> float:
    """Multiply-adds per hidden unit of one layer of the model ``spec`` (a ``train.models``
    entry), relative to a d x d matmul, read from its ``ModelSpec``: 1 for a dense linear path
    (none for a residual identity), plus 2 r / d for a low-rank branch (V and U: 2 d r)."""
    model = ModelSpec.from_config({k: v for k, v in spec.items() if k != "match_params"})
    return (model.operator != "I") + (2 * model.rank_ratio if model.has_branch else 0.0)


def macs_per_sample(spec: dict, d_in: int, d_out: int, width: int, depth: int) -> float:
    """Multiply-adds of one forward pass of one sample (embedding, L layers, read-out)."""
    return d_in * width + depth * layer_factor(spec) * width**2 + width * d_out


def train_work(
    spec: dict, d_in: int, d_out: int, width: int, depth: int, members: int, steps: int, batch: int
) -> tuple[float, float]:
    """(work, memory bytes) of training ``members`` networks of ``spec`` for ``steps`` steps of
    ``batch``."""
    macs = macs_per_sample(spec, d_in, d_out, width, depth)
    work = members * steps * batch * macs
    # parameters (~ one forward pass's multiply-adds per sample): weights, grads, two moments
    mem = members * (4 * macs + 3 * batch * depth * width) * BYTES
    return work, mem


def shape_key(
    spec: dict, kind: str, d_in: int, d_out: int, width: int, depth: int, members: int, batch: int
) -> str:
    """The ensemble one training step runs, as a string (the key of measured step times):
    the model's config entry (without ``match_params``: a matched width counts as the nominal
    one), the task kind, dimensions, members and batch size."""
    model = {k: v for k, v in sorted(spec.items()) if k != "match_params"}
    return json.dumps([model, kind, d_in, d_out, width, depth, members, batch])


def evaluation_work(train: dict, task: dict, steps: int, members: int, macs: float, level: str = "") -> float:
    """Evaluation work of a training job in multiply-adds (the units of ``work``): at each of
    the ``steps // eval_every + 1`` evaluations the loss on ``eval_samples`` training inputs, the
    test split and the validation split; for a grid cell (``level``) also the gradient norms on
    ``probe_samples`` inputs and after training the robustness sweeps on ``robust_samples`` test
    inputs (``noise_sigmas`` forward passes, ``fgsm_eps`` gradient passes); at the full level
    the tracked robustness at every evaluation and the Hessian's ``hessian_iters`` power
    iterations at ``hessian_points`` evaluations. The measurement sizes differ between profiles
    (the quick profile's probes are half the default's), so they enter the work, not a count."""
    o, m = train["optim"], train.get("measure", {})
    n_train = int(task.get("n_train", DEFAULT_N_TRAIN))
    n_val = round(float(train.get("validation", {}).get("fraction", 0.0)) * n_train)
    n_test = int(task.get("n_test", DEFAULT_N_TEST))
    n_eval = steps // int(o.get("eval_every", 100)) + 1
    per_eval = min(int(o.get("eval_samples", 1024)), n_train) + n_test + n_val
    once = 0.0
    if level:
        probe, robust = int(m.get("probe_samples", 256)), min(int(m.get("robust_samples", 512)), n_test)
        per_eval += PASSES_GRAD * probe
        once += robust * (len(m.get("noise_sigmas", ())) + PASSES_GRAD * len(m.get("fgsm_eps", ())))
        if level == "full":
            tracked = 1 + len(m.get("track_sigmas", ())) + PASSES_GRAD * len(m.get("track_eps", ()))
            per_eval += robust * tracked
            once += int(m.get("hessian_points", 0)) * int(m.get("hessian_iters", 0)) * PASSES_HVP * probe
    return members * macs * (n_eval * per_eval + once)


@dataclass(frozen=True)
class Training:
    """What a training job trains: ``members`` networks of ``spec`` (a model's config entry) at
    ``depth`` x ``width`` on ``task`` for ``steps`` steps; ``level`` the grid cell's measurement
    level ("" outside the grid)."""

    task: str
    spec: dict
    depth: int
    width: int
    members: int
    steps: int
    level: str = ""
    chain: str = ""


def training_size(config: dict, law: str, bench: str, job: Training) -> Size:
    """The size of a training job (every training rule's ``size_*`` ends here)."""
    train = config["train"]
    batch = int(train["optim"].get("batch_size", 128))
    d_in, d_out = task_dims(config, job.task)
    macs = macs_per_sample(job.spec, d_in, d_out, job.width, job.depth)
    work, mem = train_work(job.spec, d_in, d_out, job.width, job.depth, job.members, job.steps, batch)
    shape = shape_key(
        job.spec, task_kind(config, job.task), d_in, d_out, job.width, job.depth, job.members, batch
    )
    task = config["data"]["tasks"][job.task]
    evals = evaluation_work(train, task, job.steps, job.members, macs, job.level)
    return Size(law, bench, work, mem, job.chain, job.steps * (job.depth + 2), job.steps, shape, evals)


def train_steps(train: dict, override: int | None = None) -> int:
    """Training steps of a job: its own ``override`` (a tuning run's ``steps``), else the optimiser's."""
    return int(override or train["optim"].get("steps", 400))


def size_train_cell(
    config: dict, bench: str, task: str, model: str, depth: str, width: str, chain: str
) -> Size:
    train = config["train"]
    cell = (task, model, int(depth), int(width))
    level = cell_levels(train)[cell]
    members = len(cell_seeds(train)[cell])
    job = Training(
        task, train["models"][model], int(depth), int(width), members, train_steps(train), level, chain
    )
    return training_size(config, f"train_cell:{level}", bench, job)


def halving_members(n_rates: int, n_seeds: int, rungs, keep: float) -> int:
    """Mean ensemble size of a tuning run under successive halving (``train.tune`` rungs, keep),
    rounded up: ``n_rates x n_seeds`` members until the first rung, then the kept share of the
    rates. Rates added beyond an edge (``extend``) are not counted (they run only when an edge
    wins)."""
    frac, last, rates, mean = sorted(float(r) for r in rungs), 0.0, n_rates, 0.0
    for r in frac:
        mean += (r - last) * rates
        rates, last = max(1, math.ceil(keep * rates - 1e-9)), r
    mean += (1 - last) * rates
    return max(1, math.ceil(mean * n_seeds - 1e-9))


def size_train_tune(config: dict, bench: str, task: str, model: str) -> Size:
    train, tune = config["train"], config["train"]["tune"]
    rates, seeds = len(tune["lrs"]), len(tune["seeds"])
    members = halving_members(rates, seeds, tune.get("rungs", []), tune.get("keep", 0.5))
    steps = train_steps(train, tune.get("steps"))
    depth, width = int(train["depth"]), int(train["width"])
    job = Training(task, train["models"][model], depth, width, members, steps, chain=f"{task}/{model}")
    return training_size(config, "train_tune", bench, job)


def size_train_lr_sweep(config: dict, bench: str, task: str, model: str) -> Size:
    train, sweep = config["train"], config["train"]["lr_sweep"]
    members = len(sweep["lrs"]) * len(sweep.get("seeds") or train["seeds"])
    depth, width = int(train["depth"]), int(train["width"])
    job = Training(task, train["models"][model], depth, width, members, int(sweep["steps"]))
    return training_size(config, "train_lr_sweep", bench, job)


def size_train_stock(config: dict, bench: str, task: str) -> Size:
    """scikit-learn fits: (grid values x tuning seeds + evaluation seeds) per model; work ~ fits
    x training points x (d_in x the first hidden layer + the hidden layers' products)."""
    train, stock = config["train"], config["train"]["stock"]
    tune_seeds = len(stock.get("seeds") or train["tune"]["seeds"])
    fits = len(stock.get("Cs", [0] * 4)) * tune_seeds + len(train["seeds"])
    fits += len(stock.get("alphas", [0] * 2)) * tune_seeds + len(train["seeds"])
    d_in, _ = task_dims(config, task)
    hidden = [int(h) for h in stock.get("hidden", [256, 128, 100])]
    macs = d_in * hidden[0] + sum(a * b for a, b in zip(hidden, hidden[1:]))
    n = int(config["data"]["tasks"][task].get("n_train", 1500))
    return Size("train_stock", bench, fits * n * macs, n * d_in * 8 * 4, ops=fits)


# the weight-tied model unrolls K steps of one structured layer: timed as a K-layer stack
FIXED_POINT_SPEC = {"kind": "structured", "gate": "fixed", "alpha": 0.1}


def size_train_fixed_point(config: dict, bench: str, task: str) -> Size:
    train, fp = config["train"], config["train"]["fixed_point"]
    members = len(fp["rhos"]) * len(fp["alphas"]) * len(fp.get("seeds") or train["seeds"])
    job = Training(task, FIXED_POINT_SPEC, int(fp["K"]), int(fp["width"]), members, int(fp["steps"]))
    return training_size(config, "train_fixed_point", bench, job)


def size_train_align(config: dict, bench: str) -> Size:
    """Representations compared (each cell against its family partner and against itself at
    another seed, for every seed): probes and Procrustes fits, not sizes, cost (``ops``)."""
    train, align = config["train"], config["train"]["alignment"]
    n_cells = len({c for members in align["families"].values() for c in members})
    n_test = config["data"]["tasks"][align["task"]].get("n_test", DEFAULT_N_TEST)
    work = n_cells**2 * len(train["seeds"]) * n_test
    mem = n_cells * n_test * 256 * BYTES
    return Size("train_align", bench, work, mem, ops=n_cells * len(train["seeds"]))


# --- theory (work ~ depth x n x m^2 x what each one repeats; ops ~ the event-driven integrators'
# steps x layers: each step costs Python and small-tensor overhead per layer that does not grow
# with n or m at these sizes, and the steps grow with the horizon and the mask entries) ------------

# Integrator steps of an event-driven flow (dopri5, every mask switch located) per unit of time
# grow as (mask entries n m L)^EVENT_GROWTH: least squares of log(wall / L) on log(n m L) over the
# 22 per-run wall times (``wall_s``) of the quick profile's truncation jobs (n = 16, L = 1 and 3,
# m = 16..64; 2026-12-05). A calibration on the quick profile alone, checked out of sample on the
# default study (``python -m learndyn.bench plan --calibrate ... --validate ...``).
EVENT_GROWTH = 0.94


def flow_ops(n: int, m: int, depth: int, t: float) -> float:
    """Relative cost of integrating one event-driven flow of ``depth`` layers of width ``m`` on
    ``n`` points to time ``t``: steps t (n m L)^EVENT_GROWTH, each costing L layers' overhead."""
    return depth * t * (n * m * depth) ** EVENT_GROWTH


def size_theory_closed_flow(config: dict, bench: str, task: str) -> Size:
    th = config["theory"]
    cf, seeds = th["closed_flow"], len(th["seeds"])
    w = seeds * int(th["n"]) * cf["width"] ** 2 * cf["t_max"]
    ops = seeds * flow_ops(int(th["n"]), cf["width"], 1, cf["t_max"])
    return Size("theory_closed_flow", bench, w, w * 8, ops=ops)


def size_theory_hybrid_flow(config: dict, bench: str, task: str) -> Size:
    th = config["theory"]
    hf, seeds, depths = th["hybrid_flow"], len(th["seeds"]), sum(int(L) for L in th["hybrid_flow"]["depths"])
    w = seeds * depths * int(th["n"]) * hf["width"] ** 2 * hf["t_max"]
    ops = seeds * sum(flow_ops(int(th["n"]), hf["width"], int(L), hf["t_max"]) for L in hf["depths"])
    return Size("theory_hybrid_flow", bench, w, w * 8, ops=ops)


def size_theory_identities(config: dict, bench: str, task: str) -> Size:
    idt = config["theory"]["identities"]
    depths = sum(int(L) for L in idt["depths"])
    w = depths * idt["n"] ** 2 * idt["width"] ** 2 * (1 + idt["train_steps"])
    return Size("theory_identities", bench, w, w * 8, ops=depths)  # the checks per depth


def size_theory_gradient_descent(config: dict, bench: str) -> Size:
    th = config["theory"]
    gd, seeds = th["gradient_descent"], len(th["seeds"])
    w = seeds * sum(int(L) for L in gd["depths"]) * int(th["n"]) * gd["width"] ** 2
    w *= len(gd["etas"]) + len(gd["gd_etas"])
    # ops: per depth (the seeds run batched) the GD steps to t_gd at every gd_eta
    ops = sum(int(L) for L in gd["depths"]) * gd["t_gd"] * sum(1 / float(e) for e in gd["gd_etas"])
    return Size("theory_gradient_descent", bench, w, w * 8, ops=ops)


def size_theory_truncation_depth(config: dict, bench: str, n: str, depth: str) -> Size:
    th = config["theory"]
    tr, n_job, L = th["truncation"], int(n), int(depth)
    horizon = float(tr.get("horizon", {}).get("t_max", 1.0))
    floor = tr["floor_max_width"] if n_job == int(th["n"]) else 0  # floor runs at the main n only
    cap = tr.get("levels_max_width")
    runs = [(m, flows_per_run(tr["levels"], L, m, floor, cap)) for m in widths_at(tr, L, n_job)]
    # every seed of the depth integrates the true flow, the first level_seeds also the levels >= 1
    seeds, with_levels = len(seeds_at(tr, L)), level_seed_count(tr, L)
    flows = [(m, seeds + with_levels * (k - 1)) for m, k in runs]
    w = sum(k * L * n_job * m**2 for m, k in flows)
    ops = sum(k * flow_ops(n_job, m, L, horizon) for m, k in flows)
    # memory: one run at a time; its weight trajectory (W_1 is m x d, deeper layers m x m) and the
    # integrator's stages
    d = task_dims(config, th["main_task"])[0]
    mem = max(m * d + (L - 1) * m**2 + n_job * L * m for m, _ in runs) * (tr["n_times"] + 8) * 8
    return Size("theory_truncation", bench, w, mem, ops=ops)


def size_theory_smooth_control(config: dict, bench: str) -> Size:
    th = config["theory"]
    tr, n = th["truncation"], int(th["n"])
    sm = tr["smooth"]
    horizon = float(tr.get("horizon", {}).get("t_max", 1.0))
    per_depth = [(int(L), len(seeds_at(tr, int(L)))) for L in sm["depths"]]  # paired with ReLU's
    w = sum(s * L * n * m**2 for L, s in per_depth for m in sm["widths"])
    ops = sum(s * L for L, s in per_depth) * len(sm["widths"]) * horizon
    L, m = max(int(L) for L in sm["depths"]), max(sm["widths"])
    mem = (L * m**2 + n * L * m) * (tr["n_times"] + 8) * 8
    return Size("theory_smooth_control", bench, w, mem, ops=ops)


def size_theory_structured_closure(config: dict, bench: str) -> Size:
    """Three models (structured, its linear path, ReLU) over depths x widths x seeds to the
    truncation's horizon: the ReLU runs integrate one seed at a time with located switches (the
    ops), the two smooth models all seeds at once."""
    th = config["theory"]
    sc = th["structured_closure"]  # the schema requires its grid (depths, widths, seeds, n_times)
    n, seeds = int(th["n"]), len(sc["seeds"])
    horizon = float(th["truncation"].get("horizon", {}).get("t_max", 1.0))
    per_width = [(int(L), int(m)) for L in sc["depths"] for m in sc["widths"]]
    w = 3 * seeds * sum(L * n * m**2 for L, m in per_width)
    ops = (seeds + 2) * sum(L for L, _ in per_width) * horizon
    L, m = max(sc["depths"]), max(sc["widths"])
    mem = seeds * (L * 2 * m**2 + n * L * m) * (sc["n_times"] + 8) * 8
    return Size("theory_structured_closure", bench, w, mem, ops=ops)


# --- the bridge ----------------------------------------------------------------------------------


def size_bridge_kernels(
    config: dict, bench: str, trajectory: list, width: list, endpoints: list = ()
) -> Size:
    """Work ~ kernels x n^2 x width x depth (the per-layer Q ⊙ S products; seeds x snapshots
    kernels per ``trajectory`` cell, 2 x seeds per ``width`` cell, 3 x seeds per ``endpoints``
    cell); ops ~ kernels x layers (each layer's product is a few small tensor operations). Cells
    are (task, model, depth, width)."""
    bridge, train = config["bridge"], config["train"]
    n, seeds = int(bridge.get("n", 128)), len(train["seeds"])
    n_eval = int(train["optim"]["steps"]) // int(train["optim"]["eval_every"]) + 1
    snaps = len(range(0, n_eval, int(bridge.get("snapshot_every", 2)))) + 2
    work = sum(seeds * (snaps + 2) * n * n * w * d for _, _, d, w in trajectory)
    work += sum(2 * seeds * n * n * w * d for _, _, d, w in width)
    ops = sum(seeds * (snaps + 2) * d for _, _, d, _ in trajectory)
    ops += sum(2 * seeds * d for _, _, d, _ in width)
    work += sum(3 * seeds * n * n * w * d for _, _, d, w in endpoints)
    ops += sum(3 * seeds * d for _, _, d, _ in endpoints)
    mem = max((n * n * w * d * 8 for _, _, d, w in [*trajectory, *width, *endpoints]), default=0)
    return Size("bridge_kernels", bench, work, mem, ops=ops)
