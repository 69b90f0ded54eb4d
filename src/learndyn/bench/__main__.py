"""Cost benchmarks, one subcommand per stage; prints JSON.

    python -m learndyn.bench theory [--n 16 32 64] [--m 64 128 256] [--depths 1 2 3]
    python -m learndyn.bench train [--widths 32 64 128] [--model structured|mlp] [--repeats 5]
    python -m learndyn.bench noop [--configfile config/config.yaml]
    python -m learndyn.bench tune [--configfile config/config.yaml] [--reference results] [--time-full]
    python -m learndyn.bench plan [--configfile config/paper.yaml] [--calibrate RUN_DIR CONFIG] ...

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

from . import plan, theory, train, tune


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
    return {
        "benchmark": "noop",
        "configfile": args.configfile,
        "median_s": statistics.median(times),
        "times_s": times,
        "all_noop": all(said),
    }


def machine() -> dict:
    import os
    import platform

    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m learndyn.bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="stage", required=True)
    th = sub.add_parser("theory", help="field-space vs weight-space gradient-flow cost")
    th.add_argument("--n", type=int, nargs="+", default=[16, 32, 64, 128])
    th.add_argument("--m", type=int, nargs="+", default=[64, 128, 256, 512])
    th.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3])
    th.add_argument("--d", type=int, default=64, help="input dimension (sphere inputs)")
    th.add_argument("--t", type=float, default=0.5, help="ODE time integrated")
    th.add_argument(
        "--method",
        choices=["rk4", "dopri5"],
        default="rk4",
        help="rk4: the same fixed steps in both spaces (default); dopri5: adaptive",
    )
    th.add_argument("--dt", type=float, default=0.01, help="rk4 step")
    th.add_argument("--rtol", type=float, default=1e-8, help="dopri5 tolerance (atol = rtol/100)")
    th.add_argument("--repeats", type=int, default=5)
    th.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat (CI)")
    th.add_argument("--seeds", type=int, nargs="+", default=[0])
    th.add_argument("--threads", type=int, default=2)
    th.add_argument("--device", default="auto")
    th.set_defaults(func=theory.run)
    tr = sub.add_parser(
        "train", help="batched ensemble vs the torch.func ensemble (and per-seed loop); FLOP/s vs GEMM"
    )
    tr.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128])
    tr.add_argument("--model", choices=["structured", "mlp"], default="structured")
    tr.add_argument("--depth", type=int, default=8)
    tr.add_argument("--seeds", type=int, default=10, help="ensemble size (seeds 0..S-1)")
    tr.add_argument("--steps", type=int, default=200)
    tr.add_argument(
        "--eval-every",
        type=int,
        default=0,
        help="steps between evaluations (0: the jobs' train.optim.eval_every of --configfile)",
    )
    tr.add_argument(
        "--eval-samples",
        type=int,
        default=0,
        help="training rows per evaluation (0: the jobs' train.optim.eval_samples of --configfile)",
    )
    tr.add_argument("--configfile", default="config/config.yaml", help="the jobs' evaluation cadence")
    tr.add_argument(
        "--compile-ceiling",
        action="store_true",
        help="per-step times of ours eager, ours under torch.compile and the peer (no evaluations)",
    )
    tr.add_argument("--batch", type=int, default=128)
    tr.add_argument("--repeats", type=int, default=5, help="alternating runs of each (A B A B ...)")
    tr.add_argument("--threads", type=int, default=1, help="intra-op threads (the training jobs use 1)")
    tr.add_argument(
        "--peer-optimizer",
        choices=["best", "fused", "foreach"],
        default="best",
        help="the torch.func peer's AdamW: fused where torch has it (best), or forced",
    )
    tr.add_argument("--loop-peer", action="store_true", help="also time the per-seed loop (slow)")
    tr.add_argument("--no-gemm", action="store_true", help="skip the step-time vs GEMM measurement")
    tr.add_argument(
        "--torch-func-grads",
        choices=["vmap", "autograd"],
        default="autograd",
        help="torch.func peer's gradients: backward of the summed member losses (default) or vmap(grad)",
    )
    tr.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat (CI)")
    tr.set_defaults(func=train.bench)
    plan.add_parser(sub)
    tune.add_parser(sub)
    no = sub.add_parser("noop", help="time a rerun with nothing to do")
    no.add_argument("--configfile", default="config/config.yaml")
    no.add_argument("--repeats", type=int, default=5)
    no.set_defaults(func=bench_noop)
    args = parser.parse_args(argv)
    print(json.dumps({"machine": machine(), **args.func(args)}, indent=1))


if __name__ == "__main__":
    main()
