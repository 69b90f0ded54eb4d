"""Cheap tuning against full-budget tuning: ``python -m learndyn.bench tune``.

For every (task, model) tuned in a reference run at the full budget (``REFERENCE/train/tune/
{task}/{model}.nc``), run the tuning of ``--configfile`` (``train.tune``: successive halving,
edge extension) on the reference's own task data and report whether it picks the same rate,
the distance in grid steps, and the cost: training steps summed over members (exact) and CPU
and wall time of the tuning (``--time-full`` also times the full-budget tuning of the same pair
in the same process, for a like-for-like ratio). ``--grid-only`` compares on the reference's
grid (no extension beyond its edges).

A full-budget tuning with two seeds is itself a noisy choice where rates score within the
seeds' spread. ``--replicate DIR``, a second full-budget reference with other tuning seeds,
measures that noise: how often the two references agree with each other (the ceiling for
any tuning not sharing the reference's seeds), how often the cheap choice agrees with the
replicate and with the best rate of the two references pooled (their 4 seeds), and the
regret of every choice, its full-budget score (the median over the seeds of both references)
over the best one's, minus 1.

``--write-full OUT [--tune-seeds ...]`` makes such a reference: the full-budget tuning of every
pair of ``--reference`` (every rate, the whole ``train.optim`` budget, no halving, no
extension) written to ``OUT/train/tune``, with ``OUT/data`` linked to the reference's tasks.
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


def regret(score: np.ndarray, lrs: np.ndarray, chosen: float) -> float:
    """Full-budget regret of the rate ``chosen``: its score over the best finite score of
    ``score`` (over the ascending rates ``lrs``), minus 1; NaN when ``chosen`` is not among
    ``lrs`` (a rate added beyond the reference's grid)."""
    i = np.flatnonzero(np.isclose(lrs, chosen, rtol=1e-6, atol=0))
    finite = score[np.isfinite(score)]
    if len(i) == 0 or len(finite) == 0:
        return float("nan")
    return float(score[i[0]] / finite.min() - 1.0)


def pooled_score(*refs) -> np.ndarray:
    """Median over the tuning seeds of every reference of the lowest validation loss, per rate
    (the references share their rate grid); ``best_val_loss (lr, seed)`` each."""
    lrs = refs[0].lr.values
    for ref in refs[1:]:
        if not np.allclose(ref.lr.values, lrs):
            raise ValueError("the references tried different rates; compare runs of one grid")
    return np.median(np.concatenate([r.best_val_loss.values for r in refs], axis=1), axis=1)


def tune_pair(
    config: dict, reference: Path, task: str, model: str, full: bool = False, grid_only: bool = False
):
    """Run the tuning of ``config`` (``full``: every rate at the whole budget, no extension;
    ``grid_only``: no extension) for one pair on the reference's task file; returns the tuning
    dataset."""
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
    elif grid_only:
        job = dataclasses.replace(job, tune=dataclasses.replace(job.tune, extend=0))
    return run_tune(load_task(reference / "data" / f"{task}.nc"), job)


def run(args) -> dict:
    import torch

    from ..config import load_config_file
    from ..runtime import setup_torch

    setup_torch(args.threads, "cpu")
    config = load_config_file(args.configfile)
    reference = Path(args.reference)
    if args.write_full:
        return write_full(config, reference, Path(args.write_full), args)
    replicate = Path(args.replicate) if args.replicate else None
    rows = []
    for task, model in _pairs(reference, args.tasks, args.models):
        ref = _open(reference / "train" / "tune" / task / f"{model}.nc")
        c0 = time.process_time()
        ds = tune_pair(config, reference, task, model, grid_only=args.grid_only).squeeze()
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
        if replicate is not None:
            rep = _open(replicate / "train" / "tune" / task / f"{model}.nc")
            pooled, lrs = pooled_score(ref, rep), ref.lr.values
            best = float(lrs[np.nanargmin(np.where(np.isfinite(pooled), pooled, np.nan))])
            row |= {
                "pooled_best_lr": best,
                "same_as_pooled": bool(np.isclose(float(ds.chosen_lr), best)),
                "reference_same_as_pooled": bool(np.isclose(float(ref.chosen_lr), best)),
                "replicate_same_as_pooled": bool(np.isclose(float(rep.chosen_lr), best)),
                "replicate_lr": float(rep.chosen_lr),
                "replicate_steps_off": grid_steps(float(ds.chosen_lr), float(rep.chosen_lr), lrs),
                "references_agree": bool(np.isclose(float(rep.chosen_lr), float(ref.chosen_lr))),
                "regret": regret(pooled, lrs, float(ds.chosen_lr)),
                "reference_regret": regret(pooled, lrs, float(ref.chosen_lr)),
                "replicate_regret": regret(pooled, lrs, float(rep.chosen_lr)),
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
        "cpu_s": sum(r["cpu_s"] for r in rows),
        "reference_bench_s": sum(r["reference_bench_s"] for r in rows),
        "grid_only": bool(args.grid_only),
        "rows": rows,
    }
    if replicate is not None and rows:
        out |= {
            "replicate": str(replicate),
            "references_agree_fraction": float(np.mean([r["references_agree"] for r in rows])),
            "same_rate_as_replicate_fraction": float(np.mean([r["replicate_steps_off"] == 0 for r in rows])),
            # against the best rate of both references pooled (4 seeds; each reference is half
            # of that pool, so its own agreement is biased upwards)
            **{
                f"{who}same_as_pooled_fraction": float(np.mean([r[f"{who}same_as_pooled"] for r in rows]))
                for who in ("", "reference_", "replicate_")
            },
        }
        for key in ("regret", "reference_regret", "replicate_regret"):
            v = np.array([r[key] for r in rows], float)
            out[key] = {
                "mean": float(np.nanmean(v)),
                "median": float(np.nanmedian(v)),
                "max": float(np.nanmax(v)),
                "above_1pct": int(np.sum(v > 0.01)),
                "outside_grid": int(np.isnan(v).sum()),
            }
    if args.time_full:
        out["full_wall_s"] = sum(r["full_wall_s"] for r in rows)
        out["wall_ratio"] = out["wall_s"] / out["full_wall_s"]
        out["full_cpu_s"] = sum(r["full_cpu_s"] for r in rows)
        out["cpu_ratio"] = out["cpu_s"] / out["full_cpu_s"]
    return out


def write_full(config: dict, reference: Path, out: Path, args) -> dict:
    """The full-budget tuning of every pair of ``reference`` (``--tasks``/``--models`` filter),
    with ``args.tune_seeds`` (default: the config's) as tuning seeds, each written atomically to
    ``out/train/tune/{task}/{model}.nc``; ``out/data`` links to the reference's task files. A
    pair already written is kept (a killed run resumes)."""
    from ..io import atomic_write

    train = config["train"]
    if args.tune_seeds:
        train["tune"] = {**train["tune"], "seeds": [int(s) for s in args.tune_seeds]}
    (out / "train" / "tune").mkdir(parents=True, exist_ok=True)
    if not (out / "data").exists():
        (out / "data").symlink_to((reference / "data").resolve(), target_is_directory=True)
    rows = []
    for task, model in _pairs(reference, args.tasks, args.models):
        path = out / "train" / "tune" / task / f"{model}.nc"
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        c0 = time.process_time()
        ds = tune_pair(config, reference, task, model, full=True)
        with atomic_write(path, ".nc") as tmp:
            ds.to_netcdf(tmp)
        row = {"task": task, "model": model, "chosen_lr": float(ds.squeeze().chosen_lr)}
        row["cpu_s"] = time.process_time() - c0
        print(row, flush=True)
        rows.append(row)
    return {"benchmark": "tune", "wrote": str(out), "tune_seeds": train["tune"]["seeds"], "rows": rows}


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
    tu.add_argument("--grid-only", action="store_true", help="no extension beyond the grid's edges")
    tu.add_argument("--replicate", default="", help="a second full-budget reference (other tuning seeds)")
    tu.add_argument("--write-full", default="", help="write the full-budget tuning of every pair here")
    tu.add_argument("--tune-seeds", nargs="*", type=int, default=[], help="tuning seeds of --write-full")
    tu.set_defaults(func=run)
