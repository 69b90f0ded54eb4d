"""Merge every stage's macros into results/paper/macros.tex, plus the provenance and title macros."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")

from learndyn.io import write_text  # noqa: E402
from learndyn.latex import (  # noqa: E402
    macro_block,  # noqa: E402
    merge_macro_files,
    provenance_macros,
)

stage_texts = [Path(p).read_text() for p in snakemake.input.stages]
text = merge_macro_files(stage_texts + [macro_block(provenance_macros(snakemake.params.title), prefix="LD")])
write_text(text, snakemake.output.macros)
