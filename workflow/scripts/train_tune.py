"""Tune the learning rate of one (task, model) on the validation split: (lr, seed) members of
the full training budget as one ensemble at the default depth and width."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.data import load_task
from learndyn.io import write_netcdf
from learndyn.runtime import setup_torch
from learndyn.train.experiments import TuneSettings, run_tune

device = setup_torch(snakemake.threads, snakemake.config["device"])
job = TuneSettings.from_job(snakemake.params, snakemake.wildcards)

task = load_task(snakemake.input.task)
ds = run_tune(task, job, device=device)
scores = dict(zip(job.tune.lrs, ds.score.values.ravel().tolist()))
edge = " (at the edge of the grid)" if ds.at_edge.item() else ""
lr = ds.chosen_lr.item()
print(
    f"{task.name}/{job.model}: median lowest validation loss per lr {scores} -> lr {lr}{edge}",
    file=sys.stderr,
)
write_netcdf(ds, snakemake.output.tune, config=snakemake.config, seeds=list(job.tune.seeds))
