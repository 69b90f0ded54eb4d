"""E3: identities at random and trained points (results/theory/e3_{task}.nc)."""
import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.data import load_task  # noqa: E402
from learndyn.device import setup_torch  # noqa: E402
from learndyn.io import write_netcdf  # noqa: E402
from learndyn.theory.experiments import load_problem, run_e3  # noqa: E402

device = setup_torch(snakemake.threads, snakemake.config["device"])
common, e3 = snakemake.params.common, snakemake.params.e3
problem = load_problem(load_task(snakemake.input.task), e3["n"], common["subsample_seed"], device)
ds = run_e3(problem, e3["depths"], e3["width"], common["seeds"], e3["train_eta"], e3["train_steps"],
            e3["fd_delta"])
print(ds.error.max(["depth", "point"]).to_series().to_string(), file=sys.stderr)
write_netcdf(ds, snakemake.output.ds, config=snakemake.config, seeds=common["seeds"])
