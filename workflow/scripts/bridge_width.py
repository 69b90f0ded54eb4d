"""Kernel drift from the initial to the kept weights for every cell of the width study."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from learndyn.bridge.experiments import BridgeConfig, run_width  # noqa: E402
from learndyn.data import load_task  # noqa: E402
from learndyn.io import write_netcdf  # noqa: E402
from learndyn.runtime import setup_torch  # noqa: E402
from learndyn.train.loop import Validation  # noqa: E402
from learndyn.train.models import load_ensemble  # noqa: E402

settings = snakemake.params.bridge
setup_torch(snakemake.threads, "cpu")
cfg, validation = BridgeConfig.from_config(settings["bridge"]), Validation.from_config(settings["validation"])
task = load_task(snakemake.input.task)
models = {
    (m, int(w)): load_ensemble(p)[0] for (m, w), p in zip(snakemake.params.cells, snakemake.input.models)
}
ds = run_width(task, models, cfg, validation)
print(ds.drift.median("seed").to_pandas().round(3).to_string(), file=sys.stderr)
write_netcdf(ds, snakemake.output.width, config=snakemake.config, seeds=ds.seed.values.tolist())
