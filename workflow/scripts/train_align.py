"""Cross-model alignment: the last hidden representations of the trained models of the
alignment families on the task's test inputs, compared pairwise at the same seed."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.data import load_task
from learndyn.io import write_netcdf
from learndyn.runtime import setup_torch
from learndyn.train.experiments import AlignConfig, run_alignment
from learndyn.train.models import load_ensemble

train = snakemake.params.train
device = setup_torch(snakemake.threads, snakemake.config["device"])
cfg = AlignConfig.from_train(train)
task = load_task(snakemake.input.task)
models = {
    cell: load_ensemble(path, device)[0] for cell, path in zip(snakemake.params.cells, snakemake.input.models)
}
print(f"alignment of {len(models)} models on {task.name}: {list(models)}", file=sys.stderr)
ds = run_alignment(task, models, cfg, device=device)
print(ds.cka.mean("seed").to_pandas().round(3).to_string(), file=sys.stderr)
write_netcdf(ds, snakemake.output.align, config=snakemake.config, seeds=train["seeds"])
