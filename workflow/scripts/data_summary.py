"""Table of the generated tasks and the macros the paper quotes about them."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.data import load_task, summary_table
from learndyn.latex import write_macros, write_table

tasks = [load_task(path) for path in snakemake.input.tasks]
write_table(summary_table(tasks), snakemake.output.table)
write_macros({"NumTasks": len(tasks)}, snakemake.output.macros, prefix="Data")
