"""Weight-tied fixed-point study (P3): contraction q_hat against the bound q per (rho, alpha)."""
import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.data import load_task  # noqa: E402
from learndyn.device import setup_torch  # noqa: E402
from learndyn.io import write_netcdf  # noqa: E402
from learndyn.study import run_fixed_point  # noqa: E402
from learndyn.training import TrainConfig  # noqa: E402

device = setup_torch(snakemake.threads, snakemake.config["device"])
s = snakemake.params.settings

task = load_task(snakemake.input.task)
ds = run_fixed_point(task, s["fixed_point"], s["seeds"], TrainConfig.from_config(s["optim"]),
                     device=device)
write_netcdf(ds, snakemake.output.fixed_point, config=snakemake.config, seeds=s["seeds"])
