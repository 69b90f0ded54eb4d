"""learndyn: the library behind the paper pipeline (``Snakefile``), one module per topic.

Shared modules:

* ``config``      config validation: JSON schema and cross-field checks (run before any job)
* ``settings``    settings dataclasses from the validated config (``from_mapping``, ``ConfigError``)
* ``data``        generated and real tasks (``make_task``, ``load_task``)
* ``sources``     pinned external data: Fashion-MNIST file names, checksums, URLs, reference
* ``io``          netCDF with CF attributes and provenance, atomic writes
* ``integrity``   whether a result file is complete (checked before any job is planned)
* ``provenance``  commit, config hash, versions; the library files a script imports
* ``reproduce``   compare two result trees (determinism, resume, cluster checks)
* ``runtime``     torch device and threads, ``timed``
* ``stats``       paired confidence intervals, verdicts, exponent fits
* ``latex``       number macros, table bodies, the merged macro file
* ``plotting``    figure style, one palette per model and closure, saving with provenance
* ``benchmarks``  Snakemake's benchmark files read: the measured jobs, the compute-cost table
* ``costmodel``   work sizes of every heavy job, cost laws fitted to benchmarks, the plan
* ``figures``     the registry of every figure of the paper (names, inputs, captions); its
                  print checks (``python -m learndyn.figures check results/``)
* ``names``       display names of models, tasks and closures (no pipeline id in print)
* ``legibility``  print-size checks of figures and tables (6 pt text, legends, log axes, ids)
* ``links``       each figure's and table's rule, script and dataset hashes (captions, appendix)
* ``arxiv``       the paper's arXiv source: one flat folder with the .bbl, a reproducible tar.gz
* ``browser``     the HTML report in headless chromium: rendered DOM, checks, screenshot

Packages: ``train`` (structured layers vs baselines), ``theory`` (closed training-set dynamics),
``bridge`` (the trained models through the training-set kernel),
``bench`` (``python -m learndyn.bench``: cost benchmarks and ``plan``, the cost model's CLI).
"""
