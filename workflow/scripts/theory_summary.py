"""Summary of every check: results/theory/summary.nc, the checks table and the theory macros."""
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")

from learndyn.io import open_dataset, write_netcdf  # noqa: E402
from learndyn.latex import write_macros, write_table  # noqa: E402
from learndyn.theory.report import build_summary  # noqa: E402


def by_task(paths, prefix):
    return {Path(p).stem.removeprefix(prefix): open_dataset(p) for p in paths}


ds, table, macros = build_summary(by_task(snakemake.input.e1, "e1_"), by_task(snakemake.input.e2, "e2_"),
                                  by_task(snakemake.input.e3, "e3_"), open_dataset(snakemake.input.e4),
                                  open_dataset(snakemake.input.e5), snakemake.params.tolerances)
print(table.to_string(), file=sys.stderr)
write_netcdf(ds, snakemake.output.summary, config=snakemake.config)
write_table(table, snakemake.output.table, column_format="llllll")
write_macros(macros, snakemake.output.macros, prefix="Theory")
