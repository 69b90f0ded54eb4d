"""The LaTeX log check the paper build is held to (learndyn.latex.log_problems)."""

from learndyn.latex import log_problems

CLEAN = """This is pdfTeX, Version 3.141592653
Underfull \\hbox (badness 10000) in paragraph at lines 3--4
Overfull \\hbox (0.52pt too wide) in paragraph at lines 10--11
Output written on main.pdf (20 pages).
"""


def test_a_clean_log_has_no_problems():
    assert log_problems(CLEAN) == []


def test_each_kind_of_problem_is_reported():
    log = CLEAN + "\n".join(
        [
            "Overfull \\hbox (39.7pt too wide) in paragraph at lines 52--58",
            "Overfull \\vbox (61.7pt too high) has occurred while \\output is active",
            "LaTeX Warning: Reference `tab:missing' on page 3 undefined on input line 12.",
            "Package natbib Warning: Citation `nobody2020' on page 4 undefined on input line 9.",
            "LaTeX Warning: Float too large for page by 61.7pt on input line 200.",
            "! Undefined control sequence.",
            "LaTeX Warning: There were undefined references.",
        ]
    )
    problems = log_problems(log)
    assert len(problems) == 7
    assert problems[0].startswith("Overfull \\hbox (39.7pt")
    assert "undefined reference tab:missing" in problems
    assert "undefined citation nobody2020" in problems
    assert any(p.startswith("Float too large") for p in problems)
    assert "TeX error: Undefined control sequence." in problems


def test_the_overfull_threshold_is_a_parameter():
    log = "Overfull \\hbox (3.0pt too wide) in paragraph at lines 1--2\n"
    assert log_problems(log) and not log_problems(log, max_overfull_pt=5.0)
