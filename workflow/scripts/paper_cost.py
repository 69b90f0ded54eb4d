"""Per-stage compute-cost table and macros from the benchmark files (paper appendix)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.benchmarks import cost_macros, cost_table, read_benchmarks
from learndyn.io import write_text
from learndyn.latex import write_macros, write_table

jobs = read_benchmarks(snakemake.input.benchmarks)
write_text(jobs.to_csv(index=False), snakemake.output.jobs)
write_table(cost_table(jobs), snakemake.output.table, precision=1, column_format="lrrrrr")
write_macros(cost_macros(jobs), snakemake.output.macros, prefix="Compute")
