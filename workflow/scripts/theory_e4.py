"""E4: gradient descent, one-step error vs eta, exact discrete identities, GD vs GF (e4_gd.nc)."""
import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.data import load_task  # noqa: E402
from learndyn.device import setup_torch  # noqa: E402
from learndyn.io import write_netcdf  # noqa: E402
from learndyn.theory.experiments import eta_slopes, load_problem, run_e4  # noqa: E402
from learndyn.theory.integrate import Settings  # noqa: E402

device = setup_torch(snakemake.threads, snakemake.config["device"])
common, e4 = snakemake.params.common, snakemake.params.e4
problem = load_problem(load_task(snakemake.input.task), common["n"], common["subsample_seed"], device)
ds = run_e4(problem, e4["depths"], e4["width"], common["seeds"], e4["etas"], e4["check_eta"], e4["gd_etas"],
            e4["t_gd"], Settings(**snakemake.params.integrator))
print(f"E4 slopes {eta_slopes(ds)}", file=sys.stderr)
write_netcdf(ds, snakemake.output.ds, config=snakemake.config, seeds=common["seeds"])
