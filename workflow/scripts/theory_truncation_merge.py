"""truncation: the depth jobs at the main n merged into truncation.nc (errors, horizons, switching,
costs) and drift.nc (Gram, co-activation and kernel-spectrum drift)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.io import open_dataset, write_netcdf
from learndyn.theory.merge import merge, split

truncation, drift = split(merge([open_dataset(f) for f in snakemake.input.depths]))
print(truncation.err.max("tau").mean("seed").to_series().dropna().to_string(), file=sys.stderr)
write_netcdf(truncation, snakemake.output.truncation, config=snakemake.config)
write_netcdf(drift, snakemake.output.drift, config=snakemake.config)
