"""Train one (task, model, depth, width) cell: all seeds as one batched ensemble, then measure."""
import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.data import load_task  # noqa: E402
from learndyn.device import setup_torch  # noqa: E402
from learndyn.io import write_netcdf  # noqa: E402
from learndyn.study import run_cell  # noqa: E402
from learndyn.training import TrainConfig  # noqa: E402

device = setup_torch(snakemake.threads, snakemake.config["device"])
settings = snakemake.params.settings
wc = snakemake.wildcards

# data, model and optimiser settings
task = load_task(snakemake.input.task)
optim = TrainConfig.from_config(settings["optim"])

# train the ensemble and measure it (resumes from the checkpoint if one exists)
ds = run_cell(task, snakemake.params.spec, int(wc.depth), int(wc.width), settings["seeds"], optim,
              settings["measure"], device=device, checkpoint=snakemake.params.checkpoint,
              model_name=wc.model)
print(f"{wc.task}/{wc.model}/L{wc.depth}_W{wc.width}: diverged={ds.diverged.values.tolist()} "
      f"final test metric={ds.test_metric.values[:, -1].tolist()}", file=sys.stderr)

write_netcdf(ds, snakemake.output.cell, config=snakemake.config, seeds=settings["seeds"])
