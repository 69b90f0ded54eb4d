"""hybrid_flow: hybrid field closure vs weight-space gradient flow, L = 1..4 (hybrid_flow_{task}.nc)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.io import write_netcdf  # noqa: E402
from learndyn.theory import experiments  # noqa: E402

# settings (every override resolved in one place), device, the subsampled problem
theory, device, task = snakemake.params.theory, snakemake.config["device"], snakemake.input.task
job, problem = experiments.prepare("hybrid_flow", theory, task, snakemake.threads, device)

ds = experiments.run_hybrid_flow(problem, job)
print(f"hybrid_flow {problem.name}: max err_r per depth {ds.err_r.max('time').values}", file=sys.stderr)
write_netcdf(ds, snakemake.output.ds, config=snakemake.config, seeds=job.seeds)
