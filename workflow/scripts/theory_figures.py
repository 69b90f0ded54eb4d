"""Theory figures: PDFs for the paper, PNG twins for the report."""
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")

from learndyn.io import open_dataset  # noqa: E402
from learndyn.plotting import save_figure  # noqa: E402
from learndyn.theory import figures  # noqa: E402

e1 = {Path(p).stem.removeprefix("e1_"): open_dataset(p) for p in snakemake.input.e1}
e2 = {Path(p).stem.removeprefix("e2_"): open_dataset(p) for p in snakemake.input.e2}
e4, e5, e6 = (open_dataset(snakemake.input[k]) for k in ("e4", "e5", "e6"))
out = snakemake.output
first = next(iter(e1))
save_figure(figures.residual_trajectories(e1[first], e2[first]), out.residuals_pdf, out.residuals_png, config=snakemake.config)
save_figure(figures.error_vs_time(e1, e2, snakemake.params.tolerances["flow"]), out.error_time_pdf, out.error_time_png, config=snakemake.config)
save_figure(figures.truncation_vs_width(e5), out.truncation_pdf, out.truncation_png, config=snakemake.config)
save_figure(figures.gram_drift(e6), out.gram_drift_pdf, out.gram_drift_png, config=snakemake.config)
save_figure(figures.kernel_spectrum(e6), out.spectrum_pdf, out.spectrum_png, config=snakemake.config)
save_figure(figures.eta_scaling(e4), out.eta_scaling_pdf, out.eta_scaling_png, config=snakemake.config)
