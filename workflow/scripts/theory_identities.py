"""E3: identities at random and trained points (results/theory/identities_{task}.nc)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.data import load_task  # noqa: E402
from learndyn.io import write_netcdf  # noqa: E402
from learndyn.runtime import setup_torch  # noqa: E402
from learndyn.theory import experiments  # noqa: E402
from learndyn.theory.settings import configure  # noqa: E402

# settings (every override resolved in one place), device, the subsampled problem
job = configure("identities", snakemake.params.theory)
exp = job.experiment
device = setup_torch(snakemake.threads, snakemake.config["device"])
problem = experiments.load_problem(load_task(snakemake.input.task), job.n, job.subsample_seed, device)

ds = experiments.run_e3(
    problem, exp.depths, exp.width, job.seeds, exp.train_eta, exp.train_steps, exp.fd_delta
)
print(ds.error.max(["depth", "point"]).to_series().to_string(), file=sys.stderr)
write_netcdf(ds, snakemake.output.ds, config=snakemake.config, seeds=job.seeds)
