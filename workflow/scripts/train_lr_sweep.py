"""Learning-rate sweep of one (task, model): (lr, seed) members trained as one ensemble."""
import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.data import load_task  # noqa: E402
from learndyn.device import setup_torch  # noqa: E402
from learndyn.io import write_netcdf  # noqa: E402
from learndyn.study import run_lr_sweep  # noqa: E402
from learndyn.training import TrainConfig  # noqa: E402

device = setup_torch(snakemake.threads, snakemake.config["device"])
s = snakemake.params.settings

task = load_task(snakemake.input.task)
ds = run_lr_sweep(task, snakemake.params.spec, s["depth"], s["width"], s["seeds"], s["lrs"],
                  TrainConfig.from_config(s["optim"]), device=device,
                  model_name=snakemake.wildcards.model)
print(f"stable lr per seed: {ds.stable_lr.values.tolist()}", file=sys.stderr)
write_netcdf(ds, snakemake.output.sweep, config=snakemake.config, seeds=s["seeds"])
