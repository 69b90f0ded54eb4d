"""Merge every stage's macros into results/paper/macros.tex, plus the provenance and title macros."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")

from learndyn.io import write_text
from learndyn.latex import (
    macro_block,
    merge_macro_files,
    provenance_macros,
)

stage_texts = [Path(p).read_text() for p in snakemake.input.stages]
text = merge_macro_files(stage_texts + [macro_block(provenance_macros(snakemake.params.title), prefix="LD")])
write_text(text, snakemake.output.macros)
