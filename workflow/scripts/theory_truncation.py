"""E5/E6: frozen-Gamma and NTK closures vs the true flow over width and depth; drift pictures."""
import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.data import load_task  # noqa: E402
from learndyn.device import setup_torch  # noqa: E402
from learndyn.io import write_netcdf  # noqa: E402
from learndyn.theory.experiments import load_problem, run_truncation  # noqa: E402
from learndyn.theory.integrate import Settings  # noqa: E402

device = setup_torch(snakemake.threads, snakemake.config["device"])
common, e5 = snakemake.params.common, snakemake.params.e5
problem = load_problem(load_task(snakemake.input.task), common["n"], common["subsample_seed"], device)
settings = Settings(**{**snakemake.params.integrator, "rtol": e5["rtol"], "atol": e5["atol"]})
ds5, ds6 = run_truncation(problem, e5["depths"], e5["widths"], e5["max_widths"], common["seeds"], e5["t_max"],
                          e5["n_times"], settings, e5["gram_max_width"])
print(ds5.wall_weight.to_series().to_string(), file=sys.stderr)
write_netcdf(ds5, snakemake.output.e5, config=snakemake.config, seeds=common["seeds"])
write_netcdf(ds6, snakemake.output.e6, config=snakemake.config, seeds=common["seeds"])
