"""Cost benchmarks, one subcommand per stage; prints JSON.

    python -m learndyn.bench theory [--n 16 32 64] [--m 64 128 256] [--depths 1 2 3]
    python -m learndyn.bench train [--widths 32 64 128 256] [--steps 200] [--repeats 5]
    python -m learndyn.bench noop [--configfile config/config.yaml]

``theory``: wall time of integrating gradient flow in weight space and in field space (the
closed L = 1 system; the hybrid closure for L >= 2) for the same network, same integrator and
tolerances, on a grid of n, m and depth; reports the field/weight cost ratios and the fitted
exponents of wall time vs n and m. Other stages add their own subcommand.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def bench_theory(args) -> dict:
    """Field-space vs weight-space gradient flow of the same network, timed in turn (weight,
    field, weight, field, ...) ``repeats`` times per (depth, n, m); medians and pairwise ratios.

    With ``--method rk4`` (default) both runs take the same fixed steps, so the wall-time ratio
    is the cost of the two formulations per unit of ODE time; with ``dopri5`` the adaptive step
    counts differ between the runs and the per-evaluation ratio is reported as well.
    """
    import statistics

    import numpy as np
    import torch

    from .data import sphere_inputs
    from .device import setup_torch
    from .theory.experiments import fit_exponent, timed
    from .theory.fields import init_network
    from .theory.flows import closed_flow_L1, hybrid_flow, weight_flow
    from .theory.integrate import Settings

    if args.smoke:
        args.n, args.m, args.depths, args.repeats, args.t = [8], [16], [1, 2], 1, 0.05
    device = setup_torch(args.threads, args.device)
    settings = Settings(method=args.method, rtol=args.rtol, atol=args.rtol * 1e-2, dt=args.dt)
    times = torch.tensor([0.0, args.t], dtype=torch.float64)

    rows = []
    for L in args.depths:
        for n in args.n:
            for m in args.m:
                rng = np.random.default_rng(0)
                X = torch.tensor(sphere_inputs(rng, n, args.d), device=device)
                y = torch.tensor(np.sign(rng.standard_normal(n)), device=device)
                Ws, a = init_network(args.seeds, args.d, [m] * L, device)
                field_flow = closed_flow_L1 if L == 1 else hybrid_flow
                w_runs, f_runs = [], []
                for _ in range(args.repeats):
                    w_runs.append(timed(weight_flow, Ws, a, X, y, times, settings))
                    f_runs.append(timed(field_flow, Ws, a, X, y, times, settings))
                t_w = statistics.median(r[1] for r in w_runs)
                t_f = statistics.median(r[1] for r in f_runs)
                ev_w, ev_f = w_runs[-1][0]["stats"].rhs_evals, f_runs[-1][0]["stats"].rhs_evals
                rows.append(dict(depth=L, n=n, m=m, weight_s=t_w, field_s=t_f,
                                 ratio=statistics.median(f[1] / w[1] for w, f in zip(w_runs, f_runs)),
                                 weight_evals=ev_w, field_evals=ev_f,
                                 weight_per_eval_ms=1e3 * t_w / ev_w, field_per_eval_ms=1e3 * t_f / ev_f,
                                 ratio_per_eval=(t_f / ev_f) / (t_w / ev_w)))
                print(json.dumps(rows[-1]), file=sys.stderr)
    exps = {}
    for L in args.depths:
        for key in ("weight_s", "field_s"):
            sub = [r for r in rows if r["depth"] == L]
            if len(args.m) > 1:
                ms = [r for r in sub if r["n"] == args.n[-1]]
                exps[f"L{L}_{key}_vs_m"] = fit_exponent([r["m"] for r in ms], [r[key] for r in ms])[0]
            if len(args.n) > 1:
                ns = [r for r in sub if r["m"] == args.m[-1]]
                exps[f"L{L}_{key}_vs_n"] = fit_exponent([r["n"] for r in ns], [r[key] for r in ns])[0]
    for key in ("weight_s", "field_s"):  # cost vs depth at the largest (n, m)
        ds = [r for r in rows if r["n"] == args.n[-1] and r["m"] == args.m[-1]]
        if len(ds) > 1:
            exps[f"{key}_vs_depth"] = fit_exponent([r["depth"] for r in ds], [r[key] for r in ds])[0]
    le = [r for r in rows if r["n"] <= r["m"]]
    return {"benchmark": "theory", "method": args.method, "dt": args.dt, "d": args.d, "t": args.t,
            "rtol": args.rtol, "seeds": args.seeds, "threads": args.threads,
            "repeats": args.repeats, "rows": rows, "exponents": exps,
            "max_ratio_n_le_m": max([r["ratio"] for r in le], default=None),
            "median_ratio_n_le_m": float(np.median([r["ratio"] for r in le])) if le else None,
            "median_ratio_per_eval_n_le_m": float(np.median([r["ratio_per_eval"] for r in le])) if le else None}


def bench_train(args) -> dict:
    """Batched ensemble vs a per-seed PyTorch loop (DataLoader, loss.item() every step)."""
    from . import bench_train as bt

    if args.smoke:
        args.widths, args.steps, args.repeats = [16], 4, 1
    out = bt.run(widths=args.widths, depth=args.depth, seeds=tuple(range(args.seeds)),
                 steps=args.steps, batch=args.batch, repeats=args.repeats, threads=args.threads)
    return {"benchmark": "train", **out}


def bench_noop(args) -> dict:
    """Wall time of `snakemake --cores all` when nothing is to be done (median of repeats)."""
    import statistics
    import subprocess

    cmd = [sys.executable, "-m", "snakemake", "--cores", "all", "--configfile", args.configfile]
    times, said = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        said.append("Nothing to be done" in proc.stdout + proc.stderr)
    return {"benchmark": "noop", "configfile": args.configfile, "median_s": statistics.median(times),
            "times_s": times, "all_noop": all(said)}


def machine() -> dict:
    import os
    import platform

    import torch

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "torch": torch.__version__, "cuda": torch.cuda.is_available()}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m learndyn.bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="stage", required=True)
    th = sub.add_parser("theory", help="field-space vs weight-space gradient-flow cost")
    th.add_argument("--n", type=int, nargs="+", default=[16, 32, 64, 128])
    th.add_argument("--m", type=int, nargs="+", default=[64, 128, 256, 512])
    th.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3])
    th.add_argument("--d", type=int, default=64, help="input dimension (sphere inputs)")
    th.add_argument("--t", type=float, default=0.5, help="ODE time integrated")
    th.add_argument("--method", choices=["rk4", "dopri5"], default="rk4",
                    help="rk4: the same fixed steps in both spaces (default); dopri5: adaptive")
    th.add_argument("--dt", type=float, default=0.01, help="rk4 step")
    th.add_argument("--rtol", type=float, default=1e-8, help="dopri5 tolerance (atol = rtol/100)")
    th.add_argument("--repeats", type=int, default=5)
    th.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat (CI)")
    th.add_argument("--seeds", type=int, nargs="+", default=[0])
    th.add_argument("--threads", type=int, default=2)
    th.add_argument("--device", default="auto")
    th.set_defaults(func=bench_theory)
    tr = sub.add_parser("train", help="batched ensemble vs per-seed PyTorch loop; FLOP/s vs GEMM")
    tr.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128, 256])
    tr.add_argument("--depth", type=int, default=8)
    tr.add_argument("--seeds", type=int, default=5, help="ensemble size (seeds 0..S-1)")
    tr.add_argument("--steps", type=int, default=200)
    tr.add_argument("--batch", type=int, default=256)
    tr.add_argument("--repeats", type=int, default=5)
    tr.add_argument("--threads", type=int, default=2)
    tr.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat (CI)")
    tr.set_defaults(func=bench_train)
    no = sub.add_parser("noop", help="time a rerun with nothing to do")
    no.add_argument("--configfile", default="config/config.yaml")
    no.add_argument("--repeats", type=int, default=5)
    no.set_defaults(func=bench_noop)
    args = parser.parse_args(argv)
    print(json.dumps({"machine": machine(), **args.func(args)}, indent=1))


if __name__ == "__main__":
    main()
