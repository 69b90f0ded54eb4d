"""Train one (task, model, depth, width) cell: all seeds as one batched ensemble, then measure."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.data import load_task  # noqa: E402
from learndyn.io import open_dataset, write_netcdf  # noqa: E402
from learndyn.runtime import setup_torch  # noqa: E402
from learndyn.train.experiments import MeasureConfig, run_cell  # noqa: E402
from learndyn.train.loop import TrainConfig, Validation  # noqa: E402
from learndyn.train.models import save_ensemble  # noqa: E402

train, wc = snakemake.params.train, snakemake.wildcards
device = setup_torch(snakemake.threads, snakemake.config["device"])

# data, optimiser at the tuned learning rate, validation split and measurement settings
task = load_task(snakemake.input.task)
lr = float(open_dataset(snakemake.input.tune).chosen_lr)
optim = TrainConfig.from_config(train["optim"]).with_lr(lr)
measure, validation = MeasureConfig.from_train(train), Validation.from_config(train["validation"])
print(f"learning rate {lr} (tuned on validation)", file=sys.stderr)

# train the ensemble and measure it (resumes from the checkpoint if one exists)
ds, model = run_cell(
    task,
    snakemake.params.spec,
    int(wc.depth),
    int(wc.width),
    train["seeds"],
    optim,
    measure,
    validation,
    device=device,
    checkpoint=snakemake.params.checkpoint,
    model_name=wc.model,
    match_spec=snakemake.params.match,
    level=train["level"],
    return_model=True,
    snapshot_every=train.get("snapshot_every", 0),
)
print(
    f"{wc.task}/{wc.model}/L{wc.depth}_W{wc.width}: diverged={ds.diverged.values.tolist()} "
    f"test metric (kept weights)={ds.final_test_metric.values.round(4).tolist()}",
    file=sys.stderr,
)
write_netcdf(ds, snakemake.output.cell, config=snakemake.config, seeds=train["seeds"])
# the kept weights (and, for the kernel cells, the snapshots along training), for the jobs that
# read trained models (cross-model alignment, kernel bridge)
save_ensemble(model, snakemake.output.model, task=wc.task, name=wc.model, lr=lr)
