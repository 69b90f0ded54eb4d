"""Train one (task, model, depth, width) cell: all seeds as one batched ensemble, then measure."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.data import load_task
from learndyn.io import open_dataset, write_netcdf
from learndyn.runtime import setup_torch
from learndyn.train.experiments import CellSettings, run_cell
from learndyn.train.models import save_ensemble

device = setup_torch(snakemake.threads, snakemake.config["device"])
task = load_task(snakemake.input.task)
# the cell's settings, the optimiser at the learning rate tuned on validation
lr = open_dataset(snakemake.input.tune).chosen_lr.item()
cell = CellSettings.from_job(snakemake.params, snakemake.wildcards, lr)
print(f"learning rate {lr} (tuned on validation)", file=sys.stderr)

# train the ensemble and measure it (resumes from the checkpoint if one exists)
ds, model = run_cell(task, cell, device=device)
print(
    f"{task.name}/{cell.model}/L{cell.depth}_W{cell.width}: diverged={ds.diverged.values.ravel().tolist()} "
    f"test metric (kept weights)={ds.final_test_metric.values.ravel().round(4).tolist()}",
    file=sys.stderr,
)
write_netcdf(ds, snakemake.output.cell, config=snakemake.config, seeds=list(cell.seeds))
# the kept weights (and, for the kernel cells, the snapshots along training), for the jobs that
# read trained models (cross-model alignment, kernel bridge)
save_ensemble(model, snakemake.output.model, task=task.name, name=cell.model, lr=lr)
