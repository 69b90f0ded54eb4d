"""Claims table (effect, CI, verdict per claim and baseline), summary table T-1 and macros."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.io import open_dataset, write_netcdf  # noqa: E402
from learndyn.latex import write_macros, write_table  # noqa: E402
from learndyn.train import report  # noqa: E402
from learndyn.train.claims import Context, claims_table  # noqa: E402

train = snakemake.params.train
cells, lr, fp = (open_dataset(snakemake.input[k]) for k in ("cells", "lr", "fp"))

# claims: paired effects with confidence intervals and verdicts, one registered function each
claims = claims_table(Context(cells, train, lr, fp))
print(claims.to_string(), file=sys.stderr)
write_netcdf(
    report.claims_dataset(claims), snakemake.output.claims, config=snakemake.config, seeds=train["seeds"]
)
write_table(
    report.claims_latex_frame(claims, train["claims"]["confidence"]),
    snakemake.output.table,
    column_format="lp{4.4cm}lcllrl",
)

# T-1, the ablation table and the numbers the section quotes
write_table(report.summary_frame(cells, train), snakemake.output.summary, column_format="llllllllrr")
write_table(
    report.summary_frame(cells, train, "ablation"), snakemake.output.ablation, column_format="llllllllrr"
)
write_macros(report.claims_macros(claims, cells, train, fp), snakemake.output.macros, prefix="Train")
