"""Summary of every check: results/theory/summary.nc, the checks table and the theory macros."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.io import open_dataset, open_per_task, write_netcdf, write_text
from learndyn.latex import write_macros, write_table
from learndyn.theory.report import CHECKS_NOTE, Results, build_summary, checks_format, split_checks
from learndyn.theory.structured_report import ledger_csv

inp = snakemake.input
results = Results(
    closed_flow=open_per_task(inp.closed_flow, "closed_flow"),
    hybrid_flow=open_per_task(inp.hybrid_flow, "hybrid_flow"),
    identities=open_per_task(inp.identities, "identities"),
    gradient_descent=open_dataset(inp.gradient_descent),
    truncation=open_dataset(inp.truncation),
    drift=open_dataset(inp.drift),
    smooth=open_dataset(inp.smooth),
    second=open_dataset(inp.second_n[0]) if inp.second_n else None,
    structured_closure=open_dataset(inp.structured_closure),
)
ds, table, hierarchy, macros, exponents = build_summary(results, snakemake.params.tolerances)
print(table.to_string(), hierarchy.to_string(), sep="\n", file=sys.stderr)
write_netcdf(ds, snakemake.output.summary, config=snakemake.config)
write_text(exponents.to_csv(index=False, float_format="%.6g"), snakemake.output.exponents)
flows, identities = split_checks(table)
for part, path in ((flows, snakemake.output.table), (identities, snakemake.output.identities)):
    write_table(part, path, column_format=checks_format(part), note=CHECKS_NOTE)
write_table(hierarchy, snakemake.output.hierarchy, column_format=r"p{0.25\linewidth}rrllrrrr")
write_macros(macros, snakemake.output.macros, prefix="Theory")
write_text(ledger_csv(results.structured_closure), snakemake.output.structured_ledger)
