"""E1: L = 1 closed (h, r) system vs weight-space gradient flow (results/theory/e1_{task}.nc)."""
import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.data import load_task  # noqa: E402
from learndyn.device import setup_torch  # noqa: E402
from learndyn.io import write_netcdf  # noqa: E402
from learndyn.theory.experiments import load_problem, run_e1  # noqa: E402
from learndyn.theory.integrate import Settings  # noqa: E402

device = setup_torch(snakemake.threads, snakemake.config["device"])
common, e1 = snakemake.params.common, snakemake.params.e1
problem = load_problem(load_task(snakemake.input.task), common["n"], common["subsample_seed"], device)
ds = run_e1(problem, e1["width"], common["seeds"], e1["t_max"], e1["n_times"], Settings(**snakemake.params.integrator))
print(f"E1 {problem.name}: max err_r {float(ds.err_r.max()):.2e}", file=sys.stderr)
write_netcdf(ds, snakemake.output.ds, config=snakemake.config, seeds=common["seeds"])
