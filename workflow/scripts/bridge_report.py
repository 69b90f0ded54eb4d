"""The bridge family: paired tests, Holm, exponents, rank correlations; table and macros."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.bridge import report
from learndyn.bridge.settings import BridgeSettings
from learndyn.io import open_dataset, write_netcdf

settings = BridgeSettings.from_params(snakemake.params.bridge)
models = snakemake.params.models

# every trajectory with the training half's per-seed effects of the same cells
trajectories = {m: open_dataset(p) for m, p in zip(models, snakemake.input.trajectories)}
cells = {m: open_dataset(p) for m, p in zip(models, snakemake.input.cells)}
combined = report.combine(trajectories, cells, settings)
width = open_dataset(snakemake.input.width)

# the family of tests (Holm within it), its table and the macros the section quotes
tests = report.family(combined, width, settings)
print(tests.to_string(), file=sys.stderr)
seeds = combined.seed.values.tolist()
write_netcdf(combined, snakemake.output.combined, config=snakemake.config, seeds=seeds)
write_netcdf(report.tests_dataset(tests), snakemake.output.tests, config=snakemake.config, seeds=seeds)
report.write_tests_table(tests, snakemake.output.table)
values = report.macros(tests, combined, width, settings)
report.write_macros_file(values, snakemake.output.macros)
