"""E5/E6: frozen-Gamma and NTK closures vs the true flow over width and depth (truncation.nc),
and the drift of the kernel, co-activation and Gram operators along the same flows (drift.nc)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.io import write_netcdf  # noqa: E402
from learndyn.theory import experiments  # noqa: E402

# settings (every override resolved in one place), device, the subsampled problem
theory, device, task = snakemake.params.theory, snakemake.config["device"], snakemake.input.task
job, problem = experiments.prepare("truncation", theory, task, snakemake.threads, device)
exp = job.experiment

truncation, drift = experiments.run_truncation(
    problem,
    exp.depths,
    exp.widths,
    exp.max_widths,
    job.seeds,
    exp.t_max,
    exp.n_times,
    job.integrator,
    exp.gram_max_width,
)
print(truncation.wall_weight.to_series().to_string(), file=sys.stderr)
write_netcdf(truncation, snakemake.output.truncation, config=snakemake.config, seeds=job.seeds)
write_netcdf(drift, snakemake.output.drift, config=snakemake.config, seeds=job.seeds)
