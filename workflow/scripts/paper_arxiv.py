"""Pack the paper's arXiv source: the main text and the supplement, their sections, the generated
tables and macros, the figures, the compiled bibliographies and the labels each document reads
from the other (xr), in one flat folder where each compiles with pdflatex alone, and the rule files
and scripts the captions name as ancillary files (anc/)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.arxiv import build
from learndyn.links import ancillary_files, read_sources

# Follow the references of the main file, flatten the paths, add the code the captions name (anc/),
# write the tarball
sources, _ = read_sources(snakemake.input.sources)
members = build(
    [snakemake.input.main, snakemake.input.supplement],
    snakemake.params.build,
    snakemake.output.tarball,
    ancillary_files(sources),
)
print(f"{snakemake.output.tarball}: {len(members)} files", file=sys.stderr)
print("\n".join(members), file=sys.stderr)
