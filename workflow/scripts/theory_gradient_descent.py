"""E4: gradient descent: one-step error vs eta, exact discrete identities, GD vs GF."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.data import load_task  # noqa: E402
from learndyn.io import write_netcdf  # noqa: E402
from learndyn.runtime import setup_torch  # noqa: E402
from learndyn.theory import experiments  # noqa: E402
from learndyn.theory.report import eta_slopes  # noqa: E402
from learndyn.theory.settings import configure  # noqa: E402

# settings (every override resolved in one place), device, the subsampled problem
job = configure("gradient_descent", snakemake.params.theory)
exp = job.experiment
device = setup_torch(snakemake.threads, snakemake.config["device"])
problem = experiments.load_problem(load_task(snakemake.input.task), job.n, job.subsample_seed, device)

ds = experiments.run_e4(
    problem, exp.depths, exp.width, job.seeds, exp.etas, exp.check_eta, exp.gd_etas, exp.t_gd, job.integrator
)
print(f"E4 slopes {eta_slopes(ds)}", file=sys.stderr)
write_netcdf(ds, snakemake.output.ds, config=snakemake.config, seeds=job.seeds)
