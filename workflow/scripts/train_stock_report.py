"""The project's MLP baseline against the stock references: the comparison dataset (with the
(task, baseline) pairs that trail the stock MLP), the paper's table and macros."""

import sys

sys.stderr = open(snakemake.log[0], "w")

import xarray as xr

from learndyn.io import open_dataset, write_netcdf
from learndyn.latex import write_macros, write_table
from learndyn.train.stock import StockConfig
from learndyn.train.stock_report import (
    compare,
    comparison_dataset,
    excluded,
    gate_check,
    gate_sentences,
    headline,
    headline_macros,
    linear_reach_macros,
    macros,
    table,
)

train = snakemake.params.train
parts = [open_dataset(p) for p in snakemake.input.stock]
combined = xr.combine_by_coords(
    parts, join="outer", compat="no_conflicts", data_vars="all", combine_attrs="drop_conflicts"
)
cells = open_dataset(snakemake.input.cells)
df = compare(cells, combined, train)
gates = gate_check(cells, combined, train)  # ReZero against the linear classifier, and its gates
print(gates.to_string(), file=sys.stderr)
print(df.to_string(), file=sys.stderr)
print(f"train.claims.exclude entries: {excluded(df)}", file=sys.stderr)
write_netcdf(comparison_dataset(df), snakemake.output.comparison, config=snakemake.config)
write_table(table(df), snakemake.output.table)
# the structured network against the stock models: the paper's headline on the stock tasks
heads = headline(cells, combined, train)
print(heads.to_string(), file=sys.stderr)
values = macros(df, combined, StockConfig.from_train(train)) | {"RezeroSentences": gate_sentences(gates)}
values |= headline_macros(heads) | linear_reach_macros(cells, combined, train)
write_macros(values, snakemake.output.macros, prefix="Stock")
