"""E2: hybrid field closure vs weight-space gradient flow, L = 1..4 (results/theory/e2_{task}.nc)."""
import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.data import load_task  # noqa: E402
from learndyn.device import setup_torch  # noqa: E402
from learndyn.io import write_netcdf  # noqa: E402
from learndyn.theory.experiments import load_problem, run_e2  # noqa: E402
from learndyn.theory.integrate import Settings  # noqa: E402

device = setup_torch(snakemake.threads, snakemake.config["device"])
common, e2 = snakemake.params.common, snakemake.params.e2
problem = load_problem(load_task(snakemake.input.task), common["n"], common["subsample_seed"], device)
ds = run_e2(problem, e2["depths"], e2["width"], common["seeds"], e2["t_max"], e2["n_times"],
            Settings(**snakemake.params.integrator))
print(f"E2 {problem.name}: max err_r per depth {ds.err_r.max('time').values}", file=sys.stderr)
write_netcdf(ds, snakemake.output.ds, config=snakemake.config, seeds=common["seeds"])
