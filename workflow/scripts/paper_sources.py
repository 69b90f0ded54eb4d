"""The caption line of every figure and table (rule, script, short SHA-256 of each dataset read),
the appendix table of them and their JSON list (learndyn.links)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.links import Source, write_sources
from learndyn.provenance import git_state

sources = [Source.from_workflow(a) for a in snakemake.params.artefacts]
commit, dirty = git_state()
write_sources(
    sources,
    snakemake.params.repository or None,
    commit,
    snakemake.output.macros,
    snakemake.output.table,
    snakemake.output.json,
)
print(f"{len(sources)} figures and tables linked at {commit} (dirty: {dirty})", file=sys.stderr)
