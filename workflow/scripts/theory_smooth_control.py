"""The truncation's smooth-activation control: the level-0 (linearised-flow) error where no
mask switches (results/theory/smooth_control.nc)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.io import write_netcdf
from learndyn.theory import experiments, hierarchy, settings

theory, device, task = snakemake.params.theory, snakemake.config["device"], snakemake.input.task
job, problem = experiments.prepare("truncation", theory, task, snakemake.threads, device)

ds = hierarchy.run_smooth_control(problem, settings.smooth_run(job), log=sys.stderr)
write_netcdf(ds, snakemake.output.ds, config=snakemake.config, seeds=job.seeds)
