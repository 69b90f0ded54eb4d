"""learndyn: learning dynamics of structured layers and closed training-set dynamics.

Modules, one per topic:
    data         task generators and the on-disk task format
    device       device/thread selection (``device: auto``)
    provenance   git commit, config hash, package versions for every artifact
    io           netCDF writing with metadata checks and atomic replace
    plotting     seaborn styling and figure saving
    latex        LaTeX macros and tables generated from results
"""

__version__ = "0.1.0"
