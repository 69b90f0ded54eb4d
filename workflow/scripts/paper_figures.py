"""Every figure of one half (registered in learndyn.figures), in one job: PDF for the paper, PNG
for the report."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.figures import draw, of_half
from learndyn.io import open_dataset, open_per_task
from learndyn.plotting import save_figure, set_style

per_task = snakemake.params.per_task
read = {
    key: open_per_task(paths, key) if key in per_task else open_dataset(paths[0])
    for key, paths in snakemake.input.items()
    if key != "lib"
}
set_style()
for figure, pdf, png in zip(of_half(snakemake.params.half), snakemake.output.pdf, snakemake.output.png):
    datasets = {key: read[key] for key in figure.inputs}
    save_figure(draw(figure, datasets, snakemake.params.settings), pdf, png, config=snakemake.config)
    print(f"{figure.key}: {pdf}", file=sys.stderr)
