"""One theory experiment on one task (its rule's ``params.name``: closed_flow, hybrid_flow,
identities or gradient_descent; results/theory/<name>[_<task>].nc)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.io import write_netcdf
from learndyn.theory import experiments

name, device = snakemake.params.name, snakemake.config["device"]
job, ds = experiments.run(name, snakemake.params.theory, snakemake.input.task, snakemake.threads, device)
print(f"{name}:\n{ds}", file=sys.stderr)
write_netcdf(ds, snakemake.output.ds, config=snakemake.config, seeds=job.seeds)
