"""results/README.md lists every file the workflow writes under results/: each output of the
job catalogue, each path a rule file names (literal or as an f-string: figures and paper) and
each dataset of the figure registry."""

from __future__ import annotations

import re
from pathlib import Path

from learndyn.catalogue import RULES
from learndyn.figures import DATASETS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "results" / "README.md").read_text()


def _shape(path: str) -> str:
    """The path with every ``{wildcard}`` as ``{}`` (the rules and the page name them differently)."""
    return re.sub(r"\{[^{}]*\}", "{}", path)


def written_paths() -> set[str]:
    rules = "\n".join(p.read_text() for p in sorted((ROOT / "workflow" / "rules").glob("*.smk")))
    rules += (ROOT / "Snakefile").read_text()
    paths = set(re.findall(r"\"results/([^\"]+)\"", rules))
    paths |= {p.removeprefix("results/") for half in DATASETS.values() for p in half.values()}
    paths |= {p.removeprefix("results/") for rule in RULES.values() for p in rule.outputs.values()}
    return {_shape(p) for p in paths}


def test_every_output_path_is_described():
    listed = _shape(README)
    # a rule's wildcard may stand for more on the page: {key} = {half}/{name}, {flow} = closed_flow
    missing = [
        p
        for p in sorted(written_paths())
        if not re.search("`" + re.escape(p).replace(r"\{\}", r"[^`\s]+?") + "/?`", listed)
    ]
    assert len(written_paths()) > 30
    assert not missing, f"results/README.md does not describe {missing}"
