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
# the population of architectures (and the common-rate copies) with their cells' effects
population_cells = {
    m: open_dataset(p) for m, p in zip(snakemake.params.population, snakemake.input.population_cells)
}
population = report.population(open_dataset(snakemake.input.endpoints), population_cells, settings)

# the family of tests (Holm within it), its table, the ledger rows and the macros the section quotes
tests = report.family(combined, width, population, settings)
print(tests.to_string(), file=sys.stderr)
# the checks of the between-model rows (continua collapsed or left out, the weight-norm change
# held fixed), outside the family's Holm adjustment
checks = report.checks(combined, width, population, settings, tests)
print(checks.to_string(), file=sys.stderr)
seeds = combined.seed.values.tolist()
write_netcdf(combined, snakemake.output.combined, config=snakemake.config, seeds=seeds)
write_netcdf(
    population, snakemake.output.population, config=snakemake.config, seeds=population.seed.values.tolist()
)
write_netcdf(
    report.tests_dataset(tests, checks), snakemake.output.tests, config=snakemake.config, seeds=seeds
)
report.write_tests_tables(tests, snakemake.output.table, snakemake.output.relations)
report.write_checks_table(tests, checks, snakemake.output.checks)
report.write_claims(tests, checks, settings, snakemake.config["train"], snakemake.output.claims)
values = report.macros(tests, combined, width, population, settings, checks)
report.write_macros_file(values, snakemake.output.macros)
