"""Cost benchmarks (``python -m learndyn.bench theory|train|noop``): ``theory`` field vs weight
space, ``train`` batched ensemble vs a per-seed PyTorch loop, ``noop`` a rerun with nothing to do."""
