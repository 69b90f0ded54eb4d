"""Structured layers against baselines, trained as batched ensembles (spec: structured-layers.md).

Modules, in the order a cell runs through them (mirrors ``learndyn.theory``):

* ``grid``         which (task, model, depth, width) cells the config asks for (no torch import)
* ``spectral``     sigma_max by power iteration and exactly, the shaping operators S(W) (§2.2)
* ``fused``        the structured stack as one autograd node with a hand-written backward
* ``spec``         ``ModelSpec``: one model of the config, and the properties the network reads
* ``models``       ``EnsembleNet``: the structured layers and baselines as batched ensembles (§2)
* ``tied``         the weight-tied fixed-point model of P3 (§3)
* ``optim``        AdamW / SGD with a learning rate per member, warm-up + cosine schedule
* ``loop``         ``TrainConfig``, losses, batches, checkpoints, ``train_ensemble``
* ``metrics``      every measurement of §5 (gradients, spectra, robustness, smoothness, P3)
* ``constants``    the thresholds of those measurements (no torch import: the report reads them)
* ``alignment``    cross-model representation alignment: CKA, Procrustes, k-NN overlap, probes
* ``experiments``  one job -> one dataset: a cell, the tuning (successive halving), an LR sweep,
                   the fixed-point study
* ``stock``        the stock scikit-learn reference (logistic regression, MLP), fitted (no torch)
* ``stock_report`` the project's MLP baseline against it: comparison, exclusions, table, macros
* ``claims``       the papers' claims as data: a registry of per-seed measurements (§1, §7)
* ``collect``      every cell, sweep and the fixed-point study combined into tidy datasets
* ``report``       the claims table as a dataset, LaTeX tables and macros
* ``figures``      the training figures

Every parameter carries a leading ensemble axis S (one member per seed).
"""
