"""The stock scikit-learn reference (logistic regression, MLP) on one classification task, every
hyper-parameter chosen on the validation split."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from threadpoolctl import threadpool_limits

from learndyn.data import load_task
from learndyn.io import write_netcdf
from learndyn.train.stock import StockSettings, run_stock

job = StockSettings.from_job(snakemake.params)
with threadpool_limits(snakemake.threads):
    ds = run_stock(load_task(snakemake.input.task), job)
print(ds.test_accuracy.mean("seed").to_series().to_string(), file=sys.stderr)
write_netcdf(ds, snakemake.output.stock, config=snakemake.config, seeds=list(job.seeds))
