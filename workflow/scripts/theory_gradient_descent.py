"""gradient_descent: one-step error vs eta, exact discrete identities, GD vs GF."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.io import write_netcdf  # noqa: E402
from learndyn.theory import experiments  # noqa: E402

# settings (every override resolved in one place), device, the subsampled problem
theory, device, task = snakemake.params.theory, snakemake.config["device"], snakemake.input.task
job, problem = experiments.prepare("gradient_descent", theory, task, snakemake.threads, device)

ds = experiments.run_gradient_descent(problem, job)
print(ds, file=sys.stderr)  # the slopes and checks are theory_summary's
write_netcdf(ds, snakemake.output.ds, config=snakemake.config, seeds=job.seeds)
