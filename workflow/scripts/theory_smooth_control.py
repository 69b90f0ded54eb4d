"""The truncation's control: the level-0 (linearised-flow) error for a smooth activation, where no mask
switches (results/theory/smooth_control.nc)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.io import write_netcdf  # noqa: E402
from learndyn.theory import experiments, hierarchy  # noqa: E402

theory, device, task = snakemake.params.theory, snakemake.config["device"], snakemake.input.task
job, problem = experiments.prepare("truncation", theory, task, snakemake.threads, device)
exp, smooth = job.experiment, job.experiment.smooth

ds = hierarchy.run_smooth_control(
    problem,
    smooth["depths"],
    smooth["widths"],
    job.seeds,
    exp.horizon["loss_drop"],
    exp.horizon["t_max"],
    exp.n_times,
    job.integrator,
    smooth.get("activation", "gelu"),
    log=sys.stderr,
)
ds.attrs.update(experiments.base_attrs(problem, job.integrator))
write_netcdf(ds, snakemake.output.ds, config=snakemake.config, seeds=job.seeds)
