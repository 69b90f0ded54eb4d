"""Weight-tied fixed-point study (P3): contraction q_hat against the bound q per (rho, alpha)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.data import load_task
from learndyn.io import write_netcdf
from learndyn.runtime import setup_torch
from learndyn.train.experiments import FixedPointConfig, run_fixed_point

train = snakemake.params.train
device = setup_torch(snakemake.threads, snakemake.config["device"])
study = FixedPointConfig.from_train(train)

task = load_task(snakemake.input.task)
ds = run_fixed_point(task, study, study.optim(train), device=device)
write_netcdf(ds, snakemake.output.fixed_point, config=snakemake.config, seeds=list(study.seeds))
