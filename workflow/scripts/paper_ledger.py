"""The paper's one claims ledger: the training half's, the bridge's and the structured closure's
rows concatenated (each half tests its own families)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.ledger import combine, split_descriptive
from learndyn.train.report import write_ledger

parts = {half: paths[0] for half, paths in snakemake.input.items() if half != "lib" and paths}
ledger = combine(parts)
print(ledger.groupby(["half", "family", "verdict"]).size().to_string(), file=sys.stderr)
claims, descriptive = split_descriptive(ledger)
write_ledger(claims, snakemake.output.ledger)
write_ledger(descriptive, snakemake.output.descriptive)
