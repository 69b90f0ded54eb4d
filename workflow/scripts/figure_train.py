"""One training-stage figure (F-A ... F-H): PDF for the paper, PNG for the report."""
import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.figures_train import Inputs, make_figure  # noqa: E402
from learndyn.io import open_dataset  # noqa: E402
from learndyn.plotting import save_figure, set_style  # noqa: E402

set_style()
inputs = Inputs(*(open_dataset(snakemake.input[k]) for k in ("cells", "spectra", "lr", "fp")),
                cfg=snakemake.params.train)
save_figure(make_figure(snakemake.wildcards.fig, inputs), snakemake.output.pdf, snakemake.output.png,
            config=snakemake.config)
