"""Cheap tuning against full-budget tuning: ``python -m learndyn.bench tune``.

For every (task, model) tuned in a reference run at the full budget (``REFERENCE/train/tune/
{task}/{model}.nc``, e.g. a default study's ``results``), run the tuning of ``--configfile``
(``train.tune``: successive halving, edge extension) on the reference's own task data and
report whether it picks the same rate, the distance in grid steps, and the cost: training
steps summed over members (exact) and wall time of the tuning (``--time-full`` also times the
full-budget tuning of the same pair in the same process, alternating, for a like-for-like
ratio; otherwise the reference's benchmark files are the full-budget times).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np


def _pairs(reference: Path, tasks, models) -> list[tuple[str, str]]:
    found = sorted((p.parent.name, p.stem) for p in (reference / "train" / "tune").glob("*/*.nc"))
    return [(t, m) for t, m in found if (not tasks or t in tasks) and (not models or m in models)]


def _bench_seconds(reference: Path, task: str, model: str) -> float:
    """Wall seconds of the reference's tuning job (its Snakemake benchmark file), NaN if absent."""
    path = reference.parent / "benchmarks" / "train" / "tune" / task / f"{model}.tsv"
    if not path.exists():
        return float("nan")
    with open(path) as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return float(rows[-1]["s"]) if rows else float("nan")


def grid_steps(chosen: float, reference: float, grid) -> int:
    """Signed distance of ``chosen`` from ``reference`` in steps of the ascending ``grid`` (rates
    beyond the grid count one step per rate added beyond its edge: ``next_rate``)."""
    from ..train.experiments import next_rate

    g = sorted(float(v) for v in grid)
    lo, hi = list(g), list(g)
    for _ in range(8):  # the grid extended both ways
        lo.insert(0, next_rate(lo[:3], upward=False))
        hi.append(next_rate(hi[-3:], upward=True))
    full = lo[:8] + g + hi[-8:]
    index = {float(f"{v:.6g}"): i for i, v in enumerate(full)}
    return index[float(f"{chosen:.6g}")] - index[float(f"{reference:.6g}")]


def tune_pair(config: dict, reference: Path, task: str, model: str, full: bool = False):
    """Run the tuning of ``config`` (``full``: every rate at the whole budget, no extension)
    for one pair on the reference's task file; returns the tuning dataset."""
    import dataclasses

    from ..data import load_task
    from ..train.experiments import TuneSettings, run_tune

    train = config["train"]
    match = train["models"][model].get("match_params", "")
    params = SimpleNamespace(
        train=train, spec=train["models"][model], match=train["models"][match] if match else {}
    )
    job = TuneSettings.from_job(params, SimpleNamespace(model=model))
    if full:  # every rate for the whole train.optim budget, no halving, no extension
        tune = dataclasses.replace(job.tune, steps=0, rungs=(), extend=0)
        job = dataclasses.replace(job, tune=tune, optim=tune.optim(train))
    return run_tune(load_task(reference / "data" / f"{task}.nc"), job)


def run(args) -> dict:
    import torch

    from ..config import load_config_file
    from ..runtime import setup_torch

    setup_torch(args.threads, "cpu")
    config = load_config_file(args.configfile)
    reference = Path(args.reference)
    rows = []
    for task, model in _pairs(reference, args.tasks, args.models):
        ref = _open(reference / "train" / "tune" / task / f"{model}.nc")
        c0 = time.process_time()
        ds = tune_pair(config, reference, task, model).squeeze()
        cpu = time.process_time() - c0
        row = {
            "task": task,
            "model": model,
            "reference_lr": float(ref.chosen_lr),
            "chosen_lr": float(ds.chosen_lr),
            "steps_off": grid_steps(float(ds.chosen_lr), float(ref.chosen_lr), ref.lr.values),
            "rates_tried": int(ds.sizes["lr"]),
            "member_steps": int(ds.member_steps),
            "reference_member_steps": int(ref.val_loss.size // ref.sizes["eval_step"])
            * int(ref.eval_step.values[-1]),
            "wall_s": float(ds.wall_tune),
            "cpu_s": cpu,
            "reference_bench_s": _bench_seconds(reference, task, model),
        }
        if args.time_full:
            t0, c0 = time.perf_counter(), time.process_time()
            tune_pair(config, reference, task, model, full=True)
            row["full_wall_s"], row["full_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
        print(row, flush=True)
        rows.append(row)
        torch.set_num_threads(args.threads)
    same = [r["steps_off"] == 0 for r in rows]
    off = [abs(r["steps_off"]) for r in rows]
    cost = sum(r["member_steps"] for r in rows) / max(1, sum(r["reference_member_steps"] for r in rows))
    out = {
        "benchmark": "tune",
        "configfile": args.configfile,
        "reference": str(reference),
        "pairs": len(rows),
        "same_rate_fraction": float(np.mean(same)) if rows else float("nan"),
        "max_steps_off": int(max(off, default=0)),
        "member_steps_ratio": cost,
        "wall_s": sum(r["wall_s"] for r in rows),
        "reference_bench_s": sum(r["reference_bench_s"] for r in rows),
        "rows": rows,
    }
    if args.time_full:
        out["full_wall_s"] = sum(r["full_wall_s"] for r in rows)
        out["wall_ratio"] = out["wall_s"] / out["full_wall_s"]
        out["cpu_s"] = sum(r["cpu_s"] for r in rows)
        out["full_cpu_s"] = sum(r["full_cpu_s"] for r in rows)
        out["cpu_ratio"] = out["cpu_s"] / out["full_cpu_s"]
    return out


def _open(path):
    from ..io import open_dataset

    return open_dataset(path).squeeze()


def add_parser(sub) -> None:
    tu = sub.add_parser("tune", help="cheap tuning (successive halving) vs a full-budget tuning run")
    tu.add_argument("--configfile", default="config/config.yaml", help="the tuning settings (train.tune)")
    tu.add_argument("--reference", default="results", help="results directory of a full-budget tuning run")
    tu.add_argument("--tasks", nargs="*", default=[])
    tu.add_argument("--models", nargs="*", default=[])
    tu.add_argument("--threads", type=int, default=1)
    tu.add_argument("--time-full", action="store_true", help="also time the full-budget tuning, same process")
    tu.set_defaults(func=run)
