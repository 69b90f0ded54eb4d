"""Combine every training cell, LR sweep and the fixed-point study into tidy datasets."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.io import open_dataset, write_netcdf
from learndyn.train.collect import (
    combine_cells,
    combine_lr_sweeps,
    combine_spectra,
    combine_tunes,
    label_coords,
)

train = snakemake.params.train
cells = [open_dataset(p) for p in snakemake.input.cells]
out = dict(config=snakemake.config, seeds=train["seeds"])

write_netcdf(combine_cells(cells), snakemake.output.cells, **out)
write_netcdf(combine_spectra(cells, train["depth"], train["width"]), snakemake.output.spectra, **out)
write_netcdf(combine_lr_sweeps([open_dataset(p) for p in snakemake.input.sweeps]), snakemake.output.lr, **out)
write_netcdf(label_coords(open_dataset(snakemake.input.fixed_point)), snakemake.output.fp, **out)
write_netcdf(combine_tunes([open_dataset(p) for p in snakemake.input.tunes]), snakemake.output.tune, **out)
