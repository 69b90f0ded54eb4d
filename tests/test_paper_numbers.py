"""No typed numbers in the paper: the values of the configuration reach the text through
macros built from the config (an edited config moves them), and the sections type no number in
scientific notation outside an explicit allow-list of constants that are not settings."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from learndyn.latex import fmt_value, macro_block, number_word, plural
from learndyn.train.report import config_macros, fraction_of

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = sorted((ROOT / "paper" / "sections").glob("*.tex"))
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())

# Typed numbers the sections may keep, each with the reason it is not a setting of the config.
# (section, the number as typed, where the value lives or why it is a constant)
ALLOWED = {
    ("structured.tex", r"10^{-15}"): "float64 rounding of the P2 slack (a property of the format)",
    ("bridge.tex", r"10^{-10}"): "tests/test_bridge.py THEORY_TOL (a test tolerance, not a setting)",
    ("bridge.tex", r"10^{-11}"): "tests/test_bridge.py PARTS_TOL (a test tolerance, not a setting)",
    ("theory.tex", "0.15"): "tests/theory/test_hierarchy.py slope tolerance (a test, not a setting)",
}
# the test-suite constants the allowed numbers quote: (section, typed) -> (file, pattern)
QUOTED_TEST_CONSTANTS = {
    ("bridge.tex", r"10^{-10}"): ("tests/test_bridge.py", r"^THEORY_TOL = 1e-10\b"),
    ("bridge.tex", r"10^{-11}"): ("tests/test_bridge.py", r"^PARTS_TOL = 1e-11\b"),
    ("theory.tex", "0.15"): ("tests/theory/test_hierarchy.py", r"< 0\.15\b"),
}

# 10^{-3}, 10^-3, 10^{3}, 1e-4, 1.0e-4, 2\times10^{...}
SCIENTIFIC = re.compile(r"(?:\d+(?:\.\d+)?\s*\\times\s*)?10\^\{?-?\d+\}?|\b\d+(?:\.\d+)?[eE][-+]?\d+\b")
# a decimal number in running text (not a layout length such as width=0.8\linewidth)
DECIMAL = re.compile(r"(?<![\w.=\\{])\d+\.\d+(?![\w.]*\\(?:linewidth|textwidth|columnwidth))")


def _text(path: Path) -> str:
    """The section without comments."""
    return "\n".join(re.sub(r"(?<!\\)%.*", "", line) for line in path.read_text().splitlines())


def _typed_numbers(text: str) -> list[str]:
    return [m.group(0) for m in SCIENTIFIC.finditer(text)] + [m.group(0) for m in DECIMAL.finditer(text)]


def test_sections_exist():
    assert {p.name for p in SECTIONS} >= {"structured.tex", "theory.tex", "bridge.tex"}


@pytest.mark.parametrize("section", SECTIONS, ids=lambda p: p.name)
def test_no_typed_scientific_numbers(section):
    """Every number in scientific notation (and every decimal) in the text is a macro, or an
    allowed constant."""
    found = [n for n in _typed_numbers(_text(section)) if (section.name, n) not in ALLOWED]
    assert not found, f"{section.name}: typed numbers {found}; use a macro built from the config"


def test_scanner_catches_typed_values():
    text = r"rate $10^{-3}$, decay 1e-4, $\lambda=3\times10^{-5}$, gate $0.1$; width=0.8\linewidth"
    assert _typed_numbers(text) == ["10^{-3}", "1e-4", r"3\times10^{-5}", "0.1"]
    assert _typed_numbers(r"$\lambda_\phi=\TrainRegPhi$ and $\sqrt2$, $L=2$, 1-2-5 grid") == []


def test_allowed_numbers_are_used_and_quote_the_tests():
    """The allow-list stays small and true: every entry occurs in its section, and the test-suite
    constants it quotes still have that value."""
    for section, typed in ALLOWED:
        assert typed in _typed_numbers(_text(ROOT / "paper" / "sections" / section)), (section, typed)
    for key, (file, pattern) in QUOTED_TEST_CONSTANTS.items():
        assert key in ALLOWED
        assert re.search(pattern, (ROOT / file).read_text(), re.M), (key, file, pattern)


# --- the macros follow the config ---------------------------------------------------------------


def _train(**edits) -> dict:
    cfg = copy.deepcopy(CONFIG["train"])
    for path, value in edits.items():
        node = cfg
        *head, last = path.split(".")
        for k in head:
            node = node[k]
        node[last] = value
    return cfg


def test_weight_decay_macro_follows_the_config():
    base = config_macros(_train())
    assert base["WeightDecay"] == fmt_value(CONFIG["train"]["optim"]["weight_decay"])
    edited = config_macros(_train(**{"optim.weight_decay": 3.0e-5}))
    assert edited["WeightDecay"] == r"3\times10^{-5}"
    assert r"\newcommand{\TrainWeightDecay}{3\times10^{-5}}" in macro_block(edited, prefix="Train")
    # the text quotes the macro, so it follows the edit
    assert r"\TrainWeightDecay" in (ROOT / "paper" / "sections" / "structured.tex").read_text()
    # nothing else moved
    assert {k for k in base if base[k] != edited[k]} == {"WeightDecay"}


@pytest.mark.parametrize(
    "key, value, macro, expected",
    [
        ("models.structured.reg", 1.0e-3, "RegPhi", "10^{-3}"),
        ("models.structured.alpha", 0.3, "AlphaInit", "0.3"),
        ("models.structured.rho", 2.0, "CapRho", "2"),
        ("models.structured.u_init_std", 1.0e-2, "UInitVar", "10^{-4}"),
        ("models.structured.rank_ratio", 0.5, "RankRatio", "d/2"),
        ("models.structured.power_iters", 2, "PowerIters", "two power iterations"),
        ("optim.batch_size", 64, "BatchSize", 64),
        ("optim.steps", 500, "Steps", 500),
        ("claims.alpha", 0.01, "HolmAlpha", "0.01"),
        ("tune.lrs", [1.0e-4, 0.1], "TuneLrs", "$10^{-4}$, $0.1$"),
    ],
)
def test_config_macros_follow_the_config(key, value, macro, expected):
    assert config_macros(_train(**{key: value}))[macro] == expected


@pytest.mark.parametrize(
    "macro",
    [
        "WeightDecay",
        "RegPhi",
        "AlphaInit",
        "CapRho",
        "UInitVar",
        "RankRatio",
        "MaskBand",
        "PowerIters",
        "AmplificationNorm",
        "GeluLip",
        "MaxSweepWidth",
        "BatchSize",
        "Steps",
    ],
)
def test_structured_section_quotes_the_config_macros(macro):
    assert macro in config_macros(_train())
    assert "\\Train" + macro in (ROOT / "paper" / "sections" / "structured.tex").read_text()


def test_config_macros_of_the_defaults():
    m = config_macros(_train())
    quoted = (m["RegPhi"], m["AlphaInit"], m["UInitVar"], m["RankRatio"])
    assert quoted == ("10^{-4}", "0.1", "10^{-6}", "d/4")
    assert m["PowerIters"] == "one power iteration"


# --- the formatting helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x, text",
    [
        (1e-4, "10^{-4}"),
        (3e-4, r"3\times10^{-4}"),
        (1.0e-3, "10^{-3}"),
        (2.5e-10, r"2.5\times10^{-10}"),
        (0.1, "0.1"),
        (0.3 + 0.6, "0.9"),
        (1.129, "1.129"),
        (128, "128"),
        (1.0, "1"),
        (0.0, "0"),
        (-1e-4, "-10^{-4}"),
        (float("inf"), r"\infty"),
    ],
)
def test_fmt_value_types_config_values_exactly(x, text):
    assert fmt_value(x) == text


def test_fraction_of():
    assert fraction_of(0.25, "d") == "d/4"
    assert fraction_of(1.0, "d") == "d"
    assert fraction_of(0.3, "d") == r"0.3\,d"


@pytest.mark.parametrize(
    "n, noun, text",
    [
        (1, "sliding entry", "1 sliding entry"),
        (2, "sliding entry", "2 sliding entries"),
        (0, "sliding entry", "0 sliding entries"),
        (1, "located switch", "1 located switch"),
        (3, "located switch", "3 located switches"),
        (2, "seed", "2 seeds"),
        (2, "day", "2 days"),
    ],
)
def test_plural(n, noun, text):
    assert plural(n, noun) == text


def test_plural_words():
    assert plural(1, "power iteration", words=True) == "one power iteration"
    assert plural(3, "model", words=True) == "three models"
    assert number_word(12) == "12"
