"""The kernel of one trained cell along training: every seed, every snapshot, the kept weights."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.bridge.experiments import BridgeConfig, run_trajectory  # noqa: E402
from learndyn.data import load_task  # noqa: E402
from learndyn.io import write_netcdf  # noqa: E402
from learndyn.runtime import setup_torch  # noqa: E402
from learndyn.train.loop import Validation  # noqa: E402
from learndyn.train.models import load_ensemble, load_trajectory  # noqa: E402

settings = snakemake.params.bridge
setup_torch(snakemake.threads, "cpu")  # float64 kernels of n x n: the CPU is the right device
cfg, validation = BridgeConfig.from_config(settings["bridge"]), Validation.from_config(settings["validation"])

# the trained ensemble (kept weights) and its snapshots along training
task = load_task(snakemake.input.task)
model, meta = load_ensemble(snakemake.input.model)
trajectory = load_trajectory(snakemake.input.model)
print(f"{meta['name']}: {len(trajectory['step'])} snapshots, seeds {model.seeds}", file=sys.stderr)

# kernels, drift, alignment, shares and the kernel regression of the trained outputs
ds = run_trajectory(task, model, trajectory, cfg, validation, settings["batch_size"])
print(ds.drift_kept.to_pandas().round(3).to_string(), file=sys.stderr)
write_netcdf(ds, snakemake.output.trajectory, config=snakemake.config, seeds=model.seeds)
