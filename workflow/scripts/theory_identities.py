"""identities: pointwise identities at random and trained points (results/theory/identities_{task}.nc)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.io import write_netcdf  # noqa: E402
from learndyn.theory import experiments  # noqa: E402

# settings (every override resolved in one place), device, the subsampled problem
theory, device, task = snakemake.params.theory, snakemake.config["device"], snakemake.input.task
job, problem = experiments.prepare("identities", theory, task, snakemake.threads, device)

ds = experiments.run_identities(problem, job)
print(ds.error.max(["depth", "point"]).to_series().to_string(), file=sys.stderr)
write_netcdf(ds, snakemake.output.ds, config=snakemake.config, seeds=job.seeds)
