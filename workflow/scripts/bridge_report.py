"""The bridge family: paired tests, Holm, exponents, rank correlations; table and macros."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.bridge import report
from learndyn.bridge.settings import BridgeConfig
from learndyn.io import open_dataset, write_netcdf

settings = snakemake.params.bridge
cfg, claims = BridgeConfig.from_config(settings["bridge"]), settings["claims"]
models = snakemake.params.models

# every trajectory with the training half's per-seed effects of the same cells
trajectories = {m: open_dataset(p) for m, p in zip(models, snakemake.input.trajectories)}
cells = {m: open_dataset(p) for m, p in zip(models, snakemake.input.cells)}
combined = report.combine(trajectories, cells, claims)
width = open_dataset(snakemake.input.width)

# the family of tests (Holm within it), its table and the macros the section quotes
tests = report.family(combined, width, claims["structured"], cfg)
print(tests.to_string(), file=sys.stderr)
seeds = combined.seed.values.tolist()
write_netcdf(combined, snakemake.output.combined, config=snakemake.config, seeds=seeds)
write_netcdf(report.tests_dataset(tests), snakemake.output.tests, config=snakemake.config, seeds=seeds)
report.write_tests_table(tests, snakemake.output.table)
values = report.macros(tests, combined, width, cfg, claims["structured"])
report.write_macros_file(values, snakemake.output.macros)
