"""truncation at one (n, depth): the truncation levels against the true flow over the width grid,
with the drift diagnostics (results/theory/truncation/n{n}_L{depth}.nc)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.io import write_netcdf
from learndyn.theory import experiments, hierarchy, settings

# settings (every override resolved in one place), device, the subsampled problem at this n
n, depth = int(snakemake.wildcards.n), int(snakemake.wildcards.depth)
theory, device, task = snakemake.params.theory, snakemake.config["device"], snakemake.input.task
job, problem = experiments.prepare("truncation", theory, task, snakemake.threads, device, n=n)

ds = hierarchy.run_depth(problem, settings.depth_run(job, depth, n), log=sys.stderr)
write_netcdf(ds, snakemake.output.ds, config=snakemake.config, seeds=job.seeds)
