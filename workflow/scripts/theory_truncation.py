"""truncation at one (n, depth): the truncation levels against the true flow over the width grid,
with the drift diagnostics (results/theory/truncation/n{n}_L{depth}.nc)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.io import write_netcdf  # noqa: E402
from learndyn.theory import experiments, hierarchy  # noqa: E402

# settings (every override resolved in one place), device, the subsampled problem at this n
n, depth = int(snakemake.wildcards.n), int(snakemake.wildcards.depth)
theory, device, task = snakemake.params.theory, snakemake.config["device"], snakemake.input.task
job, problem = experiments.prepare("truncation", theory, task, snakemake.threads, device, n=n)
exp = job.experiment

ds = hierarchy.run_depth(
    problem,
    depth,
    exp.widths_at(depth, n),
    job.seeds,
    exp.levels,
    exp.horizon["loss_drop"],
    exp.horizon["t_max"],
    exp.n_times,
    job.integrator,
    exp.gram_max_width,
    exp.floor_max_width if n == job.n else 0,  # the floor runs at the main n only
    log=sys.stderr,
)
ds.attrs.update(
    experiments.base_attrs(
        problem, job.integrator, weights="regenerate with init_network([seed], d, [width]*L)"
    )
)
write_netcdf(ds, snakemake.output.ds, config=snakemake.config, seeds=job.seeds)
