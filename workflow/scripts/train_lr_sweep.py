"""Learning-rate sweep of one (task, model): (lr, seed) members trained as one ensemble."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.data import load_task
from learndyn.io import write_netcdf
from learndyn.runtime import setup_torch
from learndyn.train.experiments import SweepSettings, run_lr_sweep

device = setup_torch(snakemake.threads, snakemake.config["device"])
job = SweepSettings.from_job(snakemake.params, snakemake.wildcards)

task = load_task(snakemake.input.task)
ds = run_lr_sweep(task, job, device=device)
print(f"stable lr per seed: {ds.stable_lr.values.ravel().tolist()}", file=sys.stderr)
write_netcdf(ds, snakemake.output.sweep, config=snakemake.config, seeds=list(job.sweep.seeds))
