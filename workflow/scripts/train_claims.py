"""Claims table (per claim, baseline and task: paired effect, interval, raw and Holm-adjusted p,
verdict), the protocol, summary and ablation tables, the verdict list and the macros."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.io import (
    open_dataset,
    write_netcdf,
    write_text,
)
from learndyn.latex import write_macros, write_table
from learndyn.train import report
from learndyn.train.claims import Context, claims_table
from learndyn.train.stock_report import exclude_trailing

cells, lr, fp, tune = (open_dataset(snakemake.input[k]) for k in ("cells", "lr", "fp", "tune"))
# a baseline that trails the stock library reference beyond its interval leaves every family
# (train.claims.exclude gains it, with the reason); the stock comparison exists when train.stock
# lists tasks
stock = open_dataset(snakemake.input.stock[0]) if snakemake.input.stock else None
train = exclude_trailing(snakemake.params.train, stock)
print(f"excluded baselines: {train['claims'].get('exclude', [])}", file=sys.stderr)

# the claims ledger: paired effects per task, tests, Holm within each family, verdicts from the
# adjusted p; every table, the forest plot and the macros below read it
ctx = Context(cells, train, lr, fp)
claims = claims_table(ctx)
print(claims.drop(columns=["claim", "measure"]).to_string(), file=sys.stderr)
report.write_ledger(claims, snakemake.output.ledger)
write_netcdf(
    report.claims_dataset(claims), snakemake.output.claims, config=snakemake.config, seeds=train["seeds"]
)
metrics = report.task_metrics(cells)
# the empirical family in two tables of whole claims (a landscape page each)
first, second = report.split_at_claim(report.family_latex_frame(claims, "empirical", metrics))
for frame, path in (
    (first, snakemake.output.table),
    (second, snakemake.output.table_more),
    (report.family_latex_frame(claims, "by_construction", metrics), snakemake.output.construction),
    (report.family_latex_frame(claims, "favourable_task", metrics), snakemake.output.favourable),
):
    write_table(frame, path, column_format=report.column_format(frame), note=report.CLAIMS_NOTE)
frame = report.equivalence_frame(claims)
write_table(frame, snakemake.output.equivalence, column_format=report.equivalence_format(frame))
write_text(report.verdict_list(claims), snakemake.output.verdicts)

# the main effects under the three checkpoint rules
frame = report.checkpoint_frame(ctx)
write_table(
    frame,
    snakemake.output.checkpoints,
    column_format=report.column_format(frame),
    note=report.CHECKPOINT_NOTE,
)

# the protocol (parameters, tuned rates, flattening), T-1, the ablation table, the macros
protocol = report.protocol_frame(cells, tune, train)
write_table(
    protocol,
    snakemake.output.protocol,
    column_format=report.protocol_format(protocol),
    note=report.PROTOCOL_NOTE,
)
for study, path in (("main", snakemake.output.summary), ("ablation", snakemake.output.ablation)):
    summary = report.summary_frame(cells, train, study)
    write_table(summary, path, column_format="lllllllllr", note=report.summary_note(summary))

# trends across depth and width (each model's slope with its interval over seeds)
trends = report.trend_frame(cells, train)
write_table(trends, snakemake.output.trends, column_format="llll" + "r" * (trends.shape[1] - 4))

# cross-model alignment: structured-family pairs vs unconstrained-family pairs, Holm over measures
align = open_dataset(snakemake.input.align)
tests = report.alignment_tests(align, train["claims"]["confidence"], train["claims"]["alpha"])
print(tests.to_string(), file=sys.stderr)
print(report.pair_effects(align).to_string(), file=sys.stderr)
frame = report.alignment_latex_frame(tests, train["claims"]["confidence"])
write_table(frame, snakemake.output.alignment, column_format="l" + "r" * (frame.shape[1] - 2) + "l")

macros = report.claims_macros(claims, cells, train, fp, tune) | report.alignment_macros(tests, align)
write_macros(macros, snakemake.output.macros, prefix="Train")
