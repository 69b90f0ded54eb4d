# Theory stage (closed training-set dynamics). Filled in by the theory work.


def get_theory_paper_files():
    return []


def get_theory_macros():
    return []


def get_theory_benchmarks():
    return []
