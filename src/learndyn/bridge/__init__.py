"""The bridge: the structured layers of the training half seen through the training-set kernel of
the theory half (issue 15).

* ``cells``        which trained cells the bridge reads (no torch import)
* ``settings``     the bridge's settings (no torch import)
* ``kernel``       the empirical kernel of a trained member, by layer and path (torch.func)
* ``metrics``      drift, velocity, alignment, effective rank, shares, kernel regression
* ``experiments``  one job -> one dataset: a cell along training, the width study
* ``report``       the bridge family: paired tests, Holm, exponents, rank correlations, table, macros
* ``figures``      the bridge figures
"""

# The kernel's paths in the order every table and figure shows them (torch-free, for the report).
PATH_ORDER = ("embedding", "linear", "correction", "gate", "readout")
