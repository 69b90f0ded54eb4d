"""closed_flow: L = 1 closed (h, r) system vs weight-space gradient flow
(results/theory/closed_flow_{task}.nc)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.io import write_netcdf  # noqa: E402
from learndyn.theory import experiments  # noqa: E402

# settings (every override resolved in one place), device, the subsampled problem
theory, device, task = snakemake.params.theory, snakemake.config["device"], snakemake.input.task
job, problem = experiments.prepare("closed_flow", theory, task, snakemake.threads, device)

ds = experiments.run_closed_flow(problem, job)
print(f"closed_flow {problem.name}: max err_r {float(ds.err_r.max()):.2e}", file=sys.stderr)
write_netcdf(ds, snakemake.output.ds, config=snakemake.config, seeds=job.seeds)
