"""Tune the learning rate of one (task, model) on the validation split: (lr, seed) members as
one ensemble at the default depth and width, by successive halving, the grid extended beyond a
winning edge."""

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
rates = ds.lr.values.tolist()
scores = dict(zip(rates, ds.score.values.ravel().tolist()))
steps = dict(zip(rates, ds.budget.values.ravel().tolist()))
edge = " (at the edge of the rates tried)" if ds.at_edge.item() else ""
lr = ds.chosen_lr.item()
print(
    f"{task.name}/{job.model}: median lowest validation loss per lr {scores}, steps run {steps}, "
    f"{ds.n_extended.item()} rates added beyond the grid -> lr {lr}{edge}",
    file=sys.stderr,
)
write_netcdf(ds, snakemake.output.tune, config=snakemake.config, seeds=list(job.tune.seeds))
