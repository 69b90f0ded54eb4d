"""Every kernel of the bridge: the cells followed along training (every seed, every snapshot, the
kept weights), the width study (initial against kept weights) and the endpoints of the population
of architectures and of the common-rate copies (initial against kept and last weights)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.bridge.experiments import run_endpoints, run_trajectory, run_width
from learndyn.bridge.settings import BridgeSettings
from learndyn.data import load_task
from learndyn.io import write_netcdf
from learndyn.runtime import setup_torch
from learndyn.train.models import load_ensemble, load_trajectory

settings = BridgeSettings.from_params(snakemake.params.bridge)
setup_torch(snakemake.threads, "cpu")  # float64 kernels of n x n: the CPU is the right device
task = load_task(snakemake.input.task)

# along training: kernels, drift, alignment, shares and the kernel regression of the trained outputs
for name, path, out in zip(
    snakemake.params.models, snakemake.input.trajectory_models, snakemake.output.trajectories
):
    model, trajectory = load_ensemble(path)[0], load_trajectory(path)
    ds = run_trajectory(task, model, trajectory, settings)
    print(f"{name}: drift at the kept weights {ds.drift_kept.values.round(3).tolist()}", file=sys.stderr)
    write_netcdf(ds, out, config=snakemake.config, seeds=model.seeds)

# the width study: K_0 rebuilt from the seeds against the kernel of the kept weights
widths = [(m, int(w)) for m, w in snakemake.params.cells]
models = {cell: load_ensemble(path)[0] for cell, path in zip(widths, snakemake.input.width_models)}
ds = run_width(task, models, settings)
print(ds.drift.median("seed").to_pandas().round(3).to_string(), file=sys.stderr)
write_netcdf(ds, snakemake.output.width, config=snakemake.config, seeds=ds.seed.values.tolist())

# the population of architectures and the common-rate copies: init against kept and last weights
paths = dict(zip(snakemake.params.endpoints, snakemake.input.endpoint_models))
ends = {m: (load_ensemble(p)[0], load_trajectory(p)) for m, p in paths.items()}
ds = run_endpoints(task, ends, settings)
print(ds.drift_tn_last.median("seed").to_pandas().round(4).to_string(), file=sys.stderr)
write_netcdf(ds, snakemake.output.endpoints, config=snakemake.config, seeds=ds.seed.values.tolist())
