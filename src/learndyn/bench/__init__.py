"""Cost benchmarks (``python -m learndyn.bench theory|train|noop|tune``): ``theory`` field vs
weight space, ``train`` batched ensemble vs a per-seed PyTorch loop, ``noop`` a rerun with
nothing to do, ``tune`` cheap tuning against a full-budget tuning run."""
