"""Theory cost benchmark: field-space vs weight-space gradient flow of the same network."""

from __future__ import annotations

import json
import statistics
import sys

import numpy as np
import torch

from ..data import sphere_inputs
from ..runtime import setup_torch, timed
from ..stats import fit_exponent
from ..theory.fields import init_network
from ..theory.flows import closed_flow_L1, hybrid_flow, weight_flow
from ..theory.integrate import Settings


def run(args) -> dict:
    """Field-space vs weight-space gradient flow of the same network, timed in turn (weight,
    field, weight, field, ...) ``repeats`` times per (depth, n, m); medians and pairwise ratios.

    With ``--method rk4`` (default) both runs take the same fixed steps, so the wall-time ratio
    is the cost of the two formulations per unit of ODE time; with ``dopri5`` the adaptive step
    counts differ between the runs and the per-evaluation ratio is reported as well.
    """
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
                rows.append(
                    dict(
                        depth=L,
                        n=n,
                        m=m,
                        weight_s=t_w,
                        field_s=t_f,
                        ratio=statistics.median(f[1] / w[1] for w, f in zip(w_runs, f_runs)),
                        weight_evals=ev_w,
                        field_evals=ev_f,
                        weight_per_eval_ms=1e3 * t_w / ev_w,
                        field_per_eval_ms=1e3 * t_f / ev_f,
                        ratio_per_eval=(t_f / ev_f) / (t_w / ev_w),
                    )
                )
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
    return {
        "benchmark": "theory",
        "method": args.method,
        "dt": args.dt,
        "d": args.d,
        "t": args.t,
        "rtol": args.rtol,
        "seeds": args.seeds,
        "threads": args.threads,
        "repeats": args.repeats,
        "rows": rows,
        "exponents": exps,
        "max_ratio_n_le_m": max([r["ratio"] for r in le], default=None),
        "median_ratio_n_le_m": float(np.median([r["ratio"] for r in le])) if le else None,
        "median_ratio_per_eval_n_le_m": float(np.median([r["ratio_per_eval"] for r in le])) if le else None,
    }
