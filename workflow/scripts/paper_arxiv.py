"""Pack the paper's arXiv source: main.tex, its sections, the generated tables and macros, the
figures and the compiled bibliography, in one flat folder that compiles with pdflatex alone."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.arxiv import build

# Follow the references of the main file, flatten the paths, write the tarball
members = build(snakemake.input.main, snakemake.params.bbl, snakemake.output.tarball)
print(f"{snakemake.output.tarball}: {len(members)} files", file=sys.stderr)
print("\n".join(members), file=sys.stderr)
