"""No typed numbers and no typed conclusions in the paper: every .tex the main text and the
supplement read (main.tex included) is scanned (``paper_guard``); the values of the configuration
reach the text through macros built from the config (an edited config moves them), and every
verdict through a macro built from the results. The scanner is tested itself: it passes on clean
text and fails when a typed number or a verdict word is added."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from paper_guard import CONCLUSIONS, MAINS, PAPER, conclusion_phrases, paper_files, typed_numbers

from learndyn.latex import fmt_value, macro_block, number_word, plural
from learndyn.train.report import config_macros, fraction_of

ROOT = Path(__file__).resolve().parents[1]
FILES = paper_files()
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())

# Typed numbers a file may keep: (file, the number as typed) -> why it is neither a result nor a
# setting. Test tolerances are never allowed here (they would read as results).
ALLOWED_NUMBERS = {
    ("methods.tex", "60{,}000"): "published size of Fashion-MNIST's training set (the reference's data)",
    ("structured.tex", "60{,}000"): "published size of Fashion-MNIST's training set (the reference's data)",
    ("methods.tex", "256"): "published reference MLP's hidden layers 256-128-100 (Fashion-MNIST benchmark)",
    ("methods.tex", "128"): "published reference MLP's hidden layers 256-128-100 (Fashion-MNIST benchmark)",
    ("methods.tex", "100"): "published reference MLP's hidden layers 256-128-100 (Fashion-MNIST benchmark)",
    ("structured.tex", "128"): "the seed papers' proposed width (their protocol, not ours)",
    ("structured.tex", "512"): "the seed papers' protocol's largest width (their protocol, not ours)",
    ("theory.tex", "5"): "the name of the Dormand--Prince 5(4) scheme (its orders)",
    ("theory.tex", "4"): "the name of the Dormand--Prince 5(4) scheme (its orders)",
}
# Conclusion words a file may keep where they name a defined term, not a finding:
# (file, phrase, the text around it that must follow) -> why
ALLOWED_PHRASES = {
    ("structured.tex", "supported", r"supported\} when the adjusted"): "definition of the verdict",
    ("structured.tex", "supported", r"not supported\} when it points"): "definition of the verdict",
    ("structured.tex", "flattened", r"flattened\} when its best validation"): "definition of the term",
    ("structured.tex", "improved", r"improved by less than \\TrainFlatTol"): "definition of the term",
    ("structured.tex", "supported", r"\(\$\+\$ supported, \$-\$"): "legend of the table's marks",
    ("structured.tex", "supported", r"\$-\$ not supported, \$\\cdot\$"): "legend of the table's marks",
}
TEST_TOLERANCES = ("10^{-10}", "10^{-11}", "0.15", "1e-10", "1e-11")


def _allowed_phrase_hits(path: Path) -> list[str]:
    text = re.sub(r"\s+", " ", path.read_text())
    allowed = [(phrase, ctx) for (name, phrase, ctx) in ALLOWED_PHRASES if name == path.name]
    return [phrase for phrase, ctx in allowed for _ in re.finditer(ctx, text)]


def test_the_guard_covers_every_paper_file():
    names = {p.name for p in FILES}
    assert {"main.tex", "intro.tex", "structured.tex", "theory.tex", "bridge.tex", "discussion.tex"} <= names
    assert FILES[0] == (PAPER / MAINS[0]).resolve(), "main.tex itself is scanned"
    on_disk = {p.resolve() for p in PAPER.rglob("*.tex")}
    assert on_disk <= set(FILES), f"paper sources no document reads: {sorted(on_disk - set(FILES))}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_typed_numbers(path):
    """Every number in the text is a macro built from the results or the config, or an allowed
    constant with its reason."""
    found = [n for n in typed_numbers(path.read_text()) if (path.name, n) not in ALLOWED_NUMBERS]
    assert not found, f"{path.name}: typed numbers {found}; use a macro built from the results or config"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_typed_conclusions(path):
    """Every conclusion sentence is a macro built from a verdict: no conclusion phrase is typed."""
    found = conclusion_phrases(path.read_text())
    for phrase in _allowed_phrase_hits(path):
        found.remove(phrase)
    assert not found, f"{path.name}: typed conclusion phrases {found}; generate the sentence from a verdict"


def test_allow_lists_are_used_and_hold_no_test_tolerance():
    for name, typed in ALLOWED_NUMBERS:
        assert typed in typed_numbers((PAPER / "sections" / name).read_text()), (name, typed)
        assert typed not in TEST_TOLERANCES, f"{typed}: a test tolerance cannot be allowed as typed text"
    for name, phrase, ctx in ALLOWED_PHRASES:
        path = next(p for p in FILES if p.name == name)
        assert re.search(ctx, re.sub(r"\s+", " ", path.read_text())), f"{name}: unused allowance {ctx!r}"
        assert phrase in conclusion_phrases(path.read_text())


CLEAN = r"""\section{Results}\label{sec:results}
The structured model's drift is \BridgeLaziermlpWords{} the MLP's (Fig.~\ref{fig:drift},
Section~\ref{sec:theory}, Eq.~\eqref{eq:kernel}; \citep{jacot2018ntk}); its paired $\log_{10}$ ratio is
$\BridgeLaziermlpEffect$
[$\BridgeLaziermlpLow$, $\BridgeLaziermlpHigh$] over \BridgeSeeds{} seeds at $L=2$,
with $K=\sum_{\ell=1}^L Q^{(\ell-1)}$.
\begin{figure}[t]\centering\includegraphics[width=0.6\linewidth]{bridge/drift_width.pdf}
\caption{Level 0 and levels 1 and 2 against width; SHA-256 pinned.}\label{fig:drift}\end{figure}
{\tiny\setlength{\tabcolsep}{3pt}} \vspace{2mm} % a comment may say 0.15 or is supported
"""


def test_the_scanner_passes_clean_text():
    assert typed_numbers(CLEAN) == []
    assert conclusion_phrases(CLEAN) == []


@pytest.mark.parametrize(
    "added, typed",
    [
        ("the error is 0.15 below", "0.15"),
        ("rate $10^{-3}$ and decay", "10^{-3}"),
        ("decay 1e-4 here", "1e-4"),
        (r"$\lambda=3\times10^{-5}$", r"3\times10^{-5}"),
        ("over 10 seeds", "10"),
        ("at depth 32 it failed", "32"),
        ("on the 2{,}000 images", "2{,}000"),
        ("$d=128$ units", "128"),
        ("a $0.9$ accuracy", "0.9"),
        (r"$87\%$ of runs", "87"),
        ("tolerance $10^{-10}$", "10^{-10}"),
    ],
)
def test_the_scanner_fails_on_a_typed_number(added, typed):
    found = typed_numbers(CLEAN + added + "\n")
    assert typed in found, (added, found)


@pytest.mark.parametrize(
    "added, phrase",
    [
        ("The claim is supported.", "supported"),
        ("This shows a gap.", "shows"),
        ("Spectral normalisation does not make it lazy.", "does not"),
        ("The structured net is lazier.", "lazier"),
        ("It converges faster.", "faster"),
        ("Its exponent is steeper.", "steeper"),
        ("The two are indistinguishable.", "indistinguishable"),
        ("Drift is rank-correlated with accuracy.", "correlated"),
        ("Trained until the curves flatten.", "flatten"),
        ("The model outperforms the MLP.", "outperforms"),
        ("It beats every peer.", "beats"),
        ("Capping improves robustness.", "improves"),
    ],
)
def test_the_scanner_fails_on_a_verdict_word(added, phrase):
    assert phrase in conclusion_phrases(CLEAN + added + "\n")


def test_every_listed_conclusion_is_caught():
    for phrase in CONCLUSIONS:
        assert phrase.lower() in conclusion_phrases(f"Text {phrase} text."), phrase


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
        (
            "tune.seeds",
            [100, 101],
            "TuneScoreWords",
            "the lowest median validation loss over two tuning seeds",
        ),
        ("tune.seeds", [100], "TuneSeedsWords", "one tuning seed"),
        (
            "tune.steps",
            400,
            "TuneScheduleWords",
            "tuning runs take 400 steps (with their own warm-up and cosine decay)",
        ),
        ("tune.steps", 0, "TuneScheduleWords", "tuning runs follow the cells' own schedule of 1000 steps"),
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


def test_halving_words_follow_the_tuning_config():
    from learndyn.train.report import halving_words

    cfg = _train(**{"tune.rungs": [0.4], "tune.keep": 0.4, "tune.steps": 0})
    assert halving_words(cfg) == "after 400 of the 1000 steps the best 2 of the 5 rates run on"
    two = halving_words(_train(**{"tune.rungs": [0.2, 0.6], "tune.keep": 0.5, "tune.steps": 0}))
    assert two == (
        "after 200 of the 1000 steps the best 3 of the 5 rates run on; "
        "after 600 of the 1000 steps the best 2 of the 3 rates run on"
    )
    assert halving_words(_train(**{"tune.rungs": []})) == "every rate runs every step"
