# Training stage (structured layers vs baselines). Filled in by the training work.


def get_train_paper_files():
    return []


def get_train_macros():
    return []


def get_train_benchmarks():
    return []
