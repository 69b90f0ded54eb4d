"""``python -m learndyn.bench plan``: what a profile will cost, before running it.

    python -m learndyn.bench plan --configfile config/paper.yaml [--cores 2]
        [--calibrate RUN_DIR CONFIG [--save config/cost_model.json]]
        [--validate RUN_DIR CONFIG] [--write-profile profiles/slurm-paper.yaml] [--json]

The laws come from ``config/cost_model.json`` (fitted on this project's reference machine) or,
with ``--calibrate``, from the ``benchmarks/`` of a run already made in RUN_DIR with CONFIG.
``--validate`` compares the laws' predictions with another run's measured benchmarks, rule by
rule (the sum over a rule's jobs), and reports the median absolute relative error.
Nothing is run: the plan takes seconds.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path

from .. import costmodel as cm
from .. import worksize as ws
from ..benchmarks import measured
from ..config import load_config_file


def measure_train_rate(
    width: int = 128,
    depth: int = 16,
    seeds: int = 5,
    batch: int = 128,
    steps: tuple = (10, 40),
    kind: str = "structured",
) -> float:
    """Seconds per work unit of training (``costmodel.train_work``) on this machine: the step
    time (:func:`time_step`) of a mid-size ensemble over its work per step. About 20 s."""
    from ..runtime import setup_torch

    setup_torch(1, "cpu")
    shape = ws.shape_key({"kind": kind}, "classification", 64, 10, width, depth, seeds, batch)
    return time_step(shape, steps) / ws.train_work({"kind": kind}, 64, 10, width, depth, seeds, 1, batch)[0]


def step_from_times(times: dict[int, list[float]]) -> float:
    """Seconds per step from wall times of short runs, ``{steps: [seconds, ...]}`` for two step
    counts k0 < k1: (min T(k1) - min T(k0)) / (k1 - k0), so set-up and the initial evaluation
    cancel and the minimum drops runs slowed by the machine. When noise makes that difference
    non-positive (a step far shorter than the set-up), min T(k1) / k1: an upper bound, never 0."""
    k0, k1 = sorted(times)
    t0, t1 = min(times[k0]), min(times[k1])
    step = (t1 - t0) / (k1 - k0)
    return step if step > 0 else t1 / k1


def time_step(shape: str, steps: tuple = (2, 6), repeats: int = 2) -> float:
    """Seconds per training step of the ensemble ``shape`` (``costmodel.shape_key``): short runs
    of it on random data of the task's dimensions (no evaluation besides the initial one), after
    one untimed step (first-call costs), ``repeats`` runs at each of the two step counts in turn,
    combined by :func:`step_from_times`. A step costs the same whatever the data, so random
    inputs time it as the real task would. Runs with the caller's torch threads (the workflow's
    jobs use one). One timed pair per ensemble gave a step time of 0 for 1-6 of the 215 shipped
    ensembles, and some 5-12x off; hence the warm-up and the minimum over repeats."""
    import json

    import numpy as np

    from ..data import Task
    from ..train.loop import TaskTensors, TrainConfig, train_ensemble
    from ..train.models import build_model

    spec, kind, d_in, d_out, width, depth, members, batch = json.loads(shape)
    rng = np.random.default_rng(0)
    n = max(4 * batch, 256)
    x = rng.standard_normal((n, d_in))
    y = rng.integers(0, d_out, n) if kind == "classification" else rng.standard_normal((n, d_out))
    n_classes = d_out if kind == "classification" else 0
    data = TaskTensors.from_task(Task("calibration", kind, x, y, x[:64], y[:64], n_classes))

    def run(k):
        model = build_model(spec, d_in, d_out, width, depth, list(range(members)))
        cfg = TrainConfig(steps=k, batch_size=batch, eval_every=k + 1, eval_samples=64, checkpoint_every=0)
        t0 = time.perf_counter()
        train_ensemble(model, data, cfg)
        return time.perf_counter() - t0

    run(1)  # first-call costs: allocator, kernels' first use
    times = {k: [] for k in steps}
    for _ in range(repeats):
        for k in steps:
            times[k].append(run(k))
    return step_from_times(times)


def measure_step_times(
    job_list: list[cm.Job], steps: tuple = (2, 6), log=None, parallel: int = 1
) -> dict[str, float]:
    """:func:`time_step` of every distinct ensemble (``Job.shape``) among ``job_list``, one thread
    each, as the workflow's jobs.

    ``parallel``: timing processes run at once (the ensembles dealt out in turn), so each step is
    timed beside as many others as the workflow runs jobs at once (``--cores``): memory
    bandwidth and caches are shared then, and a step on an idle machine is faster."""
    shapes = sorted({j.shape for j in job_list if j.shape})
    if parallel <= 1:
        return _time_shapes(shapes, steps, log)
    from concurrent.futures import ProcessPoolExecutor

    parts = [shapes[i::parallel] for i in range(parallel)]
    with ProcessPoolExecutor(parallel) as pool:
        results = list(pool.map(_time_shapes, parts, [steps] * parallel))
    return {k: v for r in results for k, v in r.items()}


def _time_shapes(shapes: list[str], steps: tuple, log=None) -> dict[str, float]:
    from ..runtime import setup_torch

    setup_torch(1, "cpu")
    out = {}
    for i, shape in enumerate(shapes):
        out[shape] = time_step(shape, steps)
        if log:
            print(f"step time {i + 1}/{len(shapes)}: {out[shape] * 1e3:.1f} ms {shape}", file=log)
    return out


def calibrate(
    run_dir: str,
    configfile: str,
    train_rate: float | None = None,
    step_times: dict | None = None,
    quantity: str = "wall_s",
) -> dict[str, cm.Law]:
    """Laws fitted on the benchmarks of ``run_dir``, a run of ``configfile``; with
    ``train_rate`` (seconds per work unit, :func:`measure_train_rate`) the training laws take it
    as their compute coefficient; with ``step_times`` (:func:`measure_step_times` of this
    config's jobs) the training laws take each job's measured steps. ``quantity``: ``wall_s`` or
    ``cpu_s`` (``costmodel.fit_laws``)."""
    fixed = {k: train_rate for k in cm.TRAIN_LAWS} if train_rate else None
    return cm.fit_laws(cm.jobs(load_config_file(configfile)), measured(run_dir), fixed, step_times, quantity)


TARGETS = {"train": 0.30, "theory": 0.50}  # median absolute relative error per job, out of sample


def family(law: str) -> str:
    """The group a law key's validation is summarised in: train, theory or bridge."""
    return law.split("_")[0]


def validate(
    laws: dict[str, cm.Law],
    run_dir: str,
    configfile: str,
    step_times: dict | None = None,
    quantity: str = "wall_s",
) -> dict:
    """The laws' predictions against a run's measured benchmarks, job by job.

    ``jobs``: per job its law, predicted and measured wall seconds and relative error
    (predicted / measured - 1). ``rules``: per law key the jobs, the summed predicted and
    measured seconds and their relative error, and the median and worst absolute relative
    error over its jobs (``single``: a one-job rule, reported apart: a law fitted on it in
    sample fits it exactly). ``families``: per group (train, theory, bridge) the median and worst
    absolute relative error over the jobs of its multi-job rules, and of its single-job rules
    apart. ``median_abs_rel_error``: the median over every job."""
    meas = measured(run_dir)
    pred = cm.predict(cm.jobs(load_config_file(configfile)), laws, step_times)
    jobs = [
        {
            "bench": p["bench"],
            "law": p["law"],
            "predicted_s": p["wall_s"],
            "measured_s": meas[p["bench"]][quantity],
            "rel_error": p["wall_s"] / meas[p["bench"]][quantity] - 1,
        }
        for p in pred
        if p["bench"] in meas and math.isfinite(p["wall_s"]) and math.isfinite(meas[p["bench"]][quantity])
    ]
    rules: dict[str, dict] = {}
    for j in jobs:
        r = rules.setdefault(j["law"], {"jobs": 0, "predicted_s": 0.0, "measured_s": 0.0, "errors": []})
        r["jobs"] += 1
        r["predicted_s"] += j["predicted_s"]
        r["measured_s"] += j["measured_s"]
        r["errors"].append(abs(j["rel_error"]))
    for r in rules.values():
        errors = r.pop("errors")
        r["rel_error"] = r["predicted_s"] / r["measured_s"] - 1
        r["median_abs_rel_error"], r["worst_abs_rel_error"] = statistics.median(errors), max(errors)
        r["single"] = r["jobs"] == 1
    families: dict[str, dict] = {}
    for j in jobs:
        f = families.setdefault(family(j["law"]), {"multi": [], "single": []})
        f["single" if rules[j["law"]]["single"] else "multi"].append(abs(j["rel_error"]))
    summary = {}
    for name, f in sorted(families.items()):
        summary[name] = {
            f"{part}_{what}": (fn(f[part]) if f[part] or what == "jobs" else float("nan"))
            for part in ("multi", "single")
            for what, fn in (("jobs", len), ("median", statistics.median), ("worst", max))
        }
        summary[name]["target"] = TARGETS.get(name, float("nan"))
    errors = [abs(j["rel_error"]) for j in jobs]
    return {
        "jobs": jobs,
        "rules": rules,
        "families": summary,
        "median_abs_rel_error": statistics.median(errors) if errors else float("nan"),
    }


def validation_text(v: dict, run: str) -> str:
    """The validation as a table: per rule the summed and per-job errors, then per family."""
    lines = [
        f"validation on {run} (out of sample unless the laws were fitted on it):",
        f"  {'rule':26s} {'jobs':>4s} {'predicted':>10s} {'measured':>10s} {'sum':>6s} "
        f"{'median':>7s} {'worst':>6s}",
    ]
    for key, r in sorted(v["rules"].items(), key=lambda kv: (kv[1]["single"], kv[0])):
        lines.append(
            f"  {key:26s} {r['jobs']:4d} {r['predicted_s']:9.1f}s {r['measured_s']:9.1f}s "
            f"{r['rel_error']:+6.0%} {r['median_abs_rel_error']:7.0%} {r['worst_abs_rel_error']:6.0%}"
            + ("  (single job)" if r["single"] else "")
        )
    for name, f in v["families"].items():
        multi = (
            f"median |error| per job {f['multi_median']:.0%} (worst {f['multi_worst']:.0%}, "
            f"{f['multi_jobs']} jobs of multi-job rules; target {f['target']:.0%})"
            if f["multi_jobs"]
            else "no multi-job rules"
        )
        lines.append(
            f"  {name}: {multi}; single-job rules "
            f"{f['single_median']:.0%} (worst {f['single_worst']:.0%}, {f['single_jobs']} jobs)"
        )
    lines.append(f"  median absolute error over all jobs: {v['median_abs_rel_error']:.0%}")
    return "\n".join(lines)


WEEK_MIN = 7 * 24 * 60  # a request longer than this exceeds most SLURM partitions' limits


def text(result: dict, configfile: str) -> str:
    """The plan as a table (seconds, CPU hours, MiB) with the resources to request."""
    lines = [
        f"plan for {configfile} ({sum(r['jobs'] for r in result['rules'].values())} heavy jobs)",
        f"{'rule':26s} {'jobs':>5s} {'CPU h':>8s} {'longest':>9s} {'peak MiB':>9s}  request",
    ]
    for key, r in sorted(result["rules"].items(), key=lambda kv: -kv[1]["cpu_h"]):
        res = r["resources"]
        lines.append(
            f"{key:26s} {r['jobs']:5d} {r['cpu_h']:8.3f} {r['max_wall_s']:8.0f}s {r['peak_rss_mib']:9.0f}  "
            f"runtime={res['runtime']} min, mem_mb={res['mem_mb']}, threads={res['threads']}"
        )
    lines += [
        f"total CPU: {result['total_cpu_h']:.2f} h; peak RSS of a job: {result['peak_rss_mib']:.0f} MiB",
        f"upper bound (laws in integration steps scaled by n m^2 instead; the requests use it): "
        f"{result['total_cpu_h_upper']:.2f} CPU h, critical path {result['critical_path_h_upper']:.1f} h",
        *[
            f"warning: {key} asks for {r['resources']['runtime'] / 1440:.0f} days at its upper bound, beyond "
            "most partitions' time limit: calibrate it at one large size first, or split its jobs"
            for key, r in sorted(result["rules"].items())
            if r["resources"]["runtime"] > WEEK_MIN
        ],
        f"critical path: {result['critical_path_h'] * 60:.1f} min; "
        f"wall on {result['cores']} cores: {result['wall_h_estimate'] * 60:.1f} min "
        "(max of the critical path and CPU / cores; light rules add about a minute)",
    ]
    return "\n".join(lines)


def run(args) -> dict:
    rate = measure_train_rate() if args.measure_rate else None
    # step times: measured now on this machine (--measure-steps), else those saved with the laws
    steps = {} if args.measure_steps else cm.load_step_times(args.laws)
    if args.measure_steps:
        # the step times of every ensemble the calibration run, the plan and the validation use
        wanted = [cm.jobs(load_config_file(c)) for c in (args.configfile, *(args.calibrate or [])[1:])]
        if args.validate:
            wanted.append(cm.jobs(load_config_file(args.validate[1])))
        jobs = [j for js in wanted for j in js if j.shape not in steps]
        steps |= measure_step_times(jobs, log=sys.stderr, parallel=args.cores)
    quantity = f"{args.time}_s"
    laws = (
        calibrate(*args.calibrate, train_rate=rate, step_times=steps or None, quantity=quantity)
        if args.calibrate
        else cm.load_laws(args.laws)
    )
    if not laws:
        raise SystemExit(f"no cost laws: {args.laws} is missing; pass --calibrate RUN_DIR CONFIG")
    if args.calibrate and args.memory_from:
        laws = cm.with_memory(laws, cm.load_laws(args.memory_from))
    if args.save:
        note = f"fitted on {args.calibrate[0]} ({args.calibrate[1]})" if args.calibrate else ""
        cm.save_laws(laws, args.save, note, steps)
    out = {"configfile": args.configfile}
    if args.configfile:
        result = cm.plan(load_config_file(args.configfile), laws, args.cores, steps)
        out["plan"] = {k: v for k, v in result.items() if k != "jobs"}
        if args.write_profile:
            Path(args.write_profile).write_text(cm.profile_block(result))
        if not args.json:
            print(text(result, args.configfile), file=sys.stderr)
    if args.validate:
        out["validation"] = validate(
            laws, *args.validate, step_times=steps, quantity=f"{args.validate_time}_s"
        )
        if not args.json:
            print(
                validation_text(out["validation"], f"{args.validate[1]} ({args.validate[0]})"),
                file=sys.stderr,
            )
    return out


def add_parser(sub) -> None:
    pl = sub.add_parser("plan", help="predicted cost and SLURM resources of a profile (runs nothing)")
    pl.add_argument("--configfile", default="config/config.yaml", help="the profile to plan")
    pl.add_argument("--laws", default=cm.MODEL_FILE, help="fitted cost laws (JSON)")
    pl.add_argument(
        "--calibrate", nargs=2, metavar=("RUN_DIR", "CONFIG"), help="fit laws on a run's benchmarks"
    )
    pl.add_argument("--save", help="write the laws used to this JSON file")
    pl.add_argument(
        "--memory-from",
        default=cm.MODEL_FILE,
        help="with --calibrate: keep the memory laws of this file (fitted on a run with jobs large enough "
        "for their tensors to show in the resident memory; '' to fit memory on the calibration run)",
    )
    pl.add_argument(
        "--measure-rate",
        action="store_true",
        help="with --calibrate: time two short training runs at a mid size (about 20 s) for the compute rate",
    )
    pl.add_argument(
        "--measure-steps",
        action="store_true",
        help="time a few steps of every training ensemble the configs ask for (seconds each, "
        "--cores at a time, as the workflow runs its jobs; the training laws then use them), "
        "saved with --save",
    )
    pl.add_argument(
        "--validate", nargs=2, metavar=("RUN_DIR", "CONFIG"), help="compare with a run's benchmarks"
    )
    pl.add_argument(
        "--time",
        choices=["cpu", "wall"],
        default="cpu",
        help="fit and validate the jobs' CPU seconds (default: a one-thread job's wall time on a quiet "
        "machine, not inflated by the jobs sharing its cores) or their wall seconds",
    )
    pl.add_argument(
        "--validate-time",
        choices=["cpu", "wall"],
        default="wall",
        help="what --validate compares with: wall seconds (default; Snakemake samples a job's CPU time "
        "every 0.5 s for 15 s, then every 30 s, so a longer job's CPU time is cut short) or CPU seconds",
    )
    pl.add_argument("--cores", type=int, default=2)
    pl.add_argument("--write-profile", help="write a workflow-profile set-resources block (YAML)")
    pl.add_argument("--json", action="store_true", help="print only the JSON")
    pl.set_defaults(func=run)
