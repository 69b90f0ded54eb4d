"""Generate one task and write it as results/data/{task}.nc."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.data import make_task, task_to_dataset
from learndyn.io import write_netcdf

task = make_task(snakemake.wildcards.task, snakemake.params.spec)
print(f"{task.name}: {task.kind}, train {task.x_train.shape}, test {task.x_test.shape}", file=sys.stderr)
write_netcdf(task_to_dataset(task), snakemake.output.task, config=snakemake.config)
