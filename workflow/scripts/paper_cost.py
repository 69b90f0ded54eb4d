"""Compute-cost tables and macros of the paper appendix: the run's cost per stage and per rule
from the benchmark files, and the cost model's plan of the paper profile."""

import sys

sys.stderr = open(snakemake.log[0], "w")

import pandas as pd

from learndyn import costmodel as cm
from learndyn.benchmarks import cost_macros, cost_table, read_benchmarks, rule_table
from learndyn.config import load_config_file
from learndyn.io import write_text
from learndyn.latex import write_macros, write_table

jobs = read_benchmarks(snakemake.input.benchmarks)
write_text(jobs.to_csv(index=False), snakemake.output.jobs)
write_table(cost_table(jobs), snakemake.output.table, precision=1, column_format="lrrrrr")
write_table(
    rule_table(jobs, cm.bench_rules(snakemake.config)),
    snakemake.output.rules,
    precision=1,
    column_format="lrrrrr",
)
laws, steps = cm.load_laws(snakemake.input.laws), cm.load_step_times(snakemake.input.laws)
plan = cm.plan(load_config_file(snakemake.input.plan_config), laws, step_times=steps)
write_table(pd.DataFrame(cm.plan_rows(plan)), snakemake.output.plan, precision=2, column_format="lrrr")
write_macros(cost_macros(jobs) | cm.plan_macros(plan), snakemake.output.macros, prefix="Compute")
