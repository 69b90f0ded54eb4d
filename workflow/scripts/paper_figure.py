"""One figure of either half (registered in learndyn.figures): PDF for the paper, PNG for the report."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.figures import draw, lookup  # noqa: E402
from learndyn.io import open_dataset, open_per_task  # noqa: E402
from learndyn.plotting import save_figure, set_style  # noqa: E402

figure = lookup(snakemake.wildcards.half, snakemake.wildcards.figure)
per_task = snakemake.params.per_task
datasets = {
    key: open_per_task(snakemake.input[key], key)
    if key in per_task
    else open_dataset(snakemake.input[key][0])
    for key in figure.inputs
}
set_style()
save_figure(
    draw(figure, datasets, snakemake.params.settings),
    snakemake.output.pdf,
    snakemake.output.png,
    config=snakemake.config,
)
