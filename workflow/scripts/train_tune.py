"""Tune the learning rate of one (task, model) on the validation split: (lr, seed) members of
the full training budget as one ensemble at the default depth and width."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.data import load_task  # noqa: E402
from learndyn.io import write_netcdf  # noqa: E402
from learndyn.runtime import setup_torch  # noqa: E402
from learndyn.train.experiments import TuneConfig, run_tune  # noqa: E402
from learndyn.train.loop import Validation  # noqa: E402

train, wc = snakemake.params.train, snakemake.wildcards
device = setup_torch(snakemake.threads, snakemake.config["device"])
tune, validation = TuneConfig.from_train(train), Validation.from_config(train["validation"])

task = load_task(snakemake.input.task)
ds = run_tune(
    task,
    snakemake.params.spec,
    train["depth"],
    train["width"],
    tune,
    tune.optim(train),
    validation,
    device=device,
    model_name=wc.model,
    match_spec=snakemake.params.match,
)
scores = dict(zip(tune.lrs, ds.score.values.tolist()))
edge = " (at the edge of the grid)" if ds.attrs["at_edge"] else ""
print(
    f"{wc.task}/{wc.model}: median lowest validation loss per lr {scores} -> lr {float(ds.chosen_lr)}{edge}",
    file=sys.stderr,
)
write_netcdf(ds, snakemake.output.tune, config=snakemake.config, seeds=list(tune.seeds))
