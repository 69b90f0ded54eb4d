"""Bad configs fail before any job runs, with one line naming the offending field.

Every case is checked twice: through ``learndyn.config`` (fast, exact message) and through
``snakemake --dry-run`` on a copy of the workflow (exit status, one ``config error`` line,
nothing written).
"""

from __future__ import annotations

import copy
import itertools
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from learndyn.config import (
    check_memory,
    check_references,
    device_params,
    explain,
    load_schema,
    memory_field,
)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "workflow/schemas/config.schema.yaml"
SCHEMA = load_schema(SCHEMA_FILE)
QUICK = yaml.safe_load((ROOT / "config/quick.yaml").read_text())
NAN, INF = float("nan"), float("inf")
BIG = 10**9  # beyond every size maximum of the schema
GIB = 2**30


def setter(path, value):
    """A mutation that sets config[path] = value (path dotted; ints index lists)."""

    def apply(cfg):
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node = cfg
        for key in parents:
            node = node[key]
        node[last] = value

    return apply


def both(*mutations):
    """A mutation that applies each of ``mutations`` in turn."""

    def apply(cfg):
        for mutation in mutations:
            mutation(cfg)

    return apply


def deleter(path):
    def apply(cfg):
        *parents, last = path.split(".")
        node = cfg
        for key in parents:
            node = node[key]
        del node[last]

    return apply


# (case id, mutation, text the error line must contain: the field name)
BAD_CONFIGS = [
    ("unknown-top-key", setter("epochs", 3), "epochs"),
    ("device-nonsense", setter("device", "gpu"), "device"),
    ("device-type", setter("device", 1), "device"),
    ("no-data", deleter("data"), "data"),
    ("no-tasks", setter("data.tasks", {}), "data.tasks"),
    ("tasks-not-mapping", setter("data.tasks", ["teacher"]), "data.tasks"),
    ("task-bad-name", setter("data.tasks.Bad-Name", {"generator": "teacher"}), "Bad-Name"),
    ("unknown-generator", setter("data.tasks.teacher.generator", "imagenet"), "data.tasks.teacher.generator"),
    ("missing-generator", deleter("data.tasks.teacher.generator"), "data.tasks.teacher"),
    ("n-train-zero", setter("data.tasks.teacher.n_train", 0), "data.tasks.teacher.n_train"),
    ("n-train-negative", setter("data.tasks.teacher.n_train", -5), "data.tasks.teacher.n_train"),
    ("n-train-float", setter("data.tasks.teacher.n_train", 10.5), "data.tasks.teacher.n_train"),
    ("n-test-string", setter("data.tasks.teacher.n_test", "many"), "data.tasks.teacher.n_test"),
    ("d-zero", setter("data.tasks.teacher.d", 0), "data.tasks.teacher.d"),
    ("width-zero", setter("data.tasks.teacher.width", 0), "data.tasks.teacher.width"),
    ("depth-zero", setter("data.tasks.deep_teacher.depth", 0), "data.tasks.deep_teacher.depth"),
    ("noise-negative", setter("data.tasks.spirals.noise", -0.1), "data.tasks.spirals.noise"),
    (
        "gamma-negative",
        setter("data.tasks.linear_correction.gamma", -1),
        "data.tasks.linear_correction.gamma",
    ),
    ("turns-zero", setter("data.tasks.spirals.turns", 0), "data.tasks.spirals.turns"),
    ("seed-negative", setter("data.tasks.teacher.seed", -1), "data.tasks.teacher.seed"),
    ("unknown-task-key", setter("data.tasks.teacher.colour", "red"), "colour"),
    ("classes-one", setter("data.tasks.digits01.classes", [0]), "data.tasks.digits01.classes"),
    (
        "classes-out-of-range",
        setter("data.tasks.digits01.classes", [0, 12]),
        "data.tasks.digits01.classes[1]",
    ),
    ("classes-duplicate", setter("data.tasks.digits01.classes", [1, 1]), "data.tasks.digits01.classes"),
    (
        "fashion-missing-path",
        setter("data.tasks.fashion", {"generator": "fashion_mnist", "path": "/nonexistent/fmnist"}),
        "data.tasks.fashion.path",
    ),
    (
        "fashion-empty-path",
        setter("data.tasks.fashion", {"generator": "fashion_mnist", "path": ""}),
        "data.tasks.fashion.path",
    ),
    (
        "fashion-unknown-source",
        setter("data.tasks.fashion_mnist_2k.source", "ftp"),
        "data.tasks.fashion_mnist_2k.source",
    ),
    # sweeps and the cross-model alignment
    ("train-study-bad-measure", setter("train.studies.depth.measure", "lots"), "train.studies.depth.measure"),
    (
        "train-study-seeds-not-subset",
        setter("train.studies.depth.seeds", [0, 77]),
        "train.studies.depth.seeds",
    ),
    ("train-no-alignment", deleter("train.alignment"), "alignment"),
    (
        "train-tune-from-untuned",
        setter("train.studies.ablation.tune_from", "mlp_orth"),
        "train.studies.ablation.tune_from",
    ),
    ("train-align-unknown-task", setter("train.alignment.task", "imagenet"), "train.alignment.task"),
    (
        "train-align-cell-not-trained",
        setter(
            "train.alignment.families.structured",
            ["structured/L4_W32", "structured/L99_W32"],
        ),
        "train.alignment.families.structured[1]",
    ),
    (
        "train-align-not-parallel",
        setter("train.alignment.families.unconstrained", ["mlp/L4_W32", "mlp/L8_W32", "mlp/L2_W32"]),
        "train.alignment.families",
    ),
    ("train-align-one-family", deleter("train.alignment.families.unconstrained"), "train.alignment.families"),
    (
        "train-align-bad-cell-name",
        setter("train.alignment.families.structured", ["structured", "mlp"]),
        "structured",
    ),
    ("paper-unknown-key", setter("paper.colour", "red"), "colour"),
    ("paper-title-type", setter("paper.title", 3), "paper.title"),
    ("train-not-mapping", setter("train", 5), "train"),
    ("theory-not-mapping", setter("theory", [1]), "theory"),
    ("train-retired-tasks", setter("train.tasks", ["spirals"]), "train.tasks"),
    (
        "train-study-unknown-task",
        setter("train.studies.main.tasks", ["imagenet"]),
        "train.studies.main.tasks",
    ),
    ("train-sweep-unknown-task", setter("train.lr_sweep.tasks", ["imagenet"]), "train.lr_sweep.tasks"),
    (
        "train-fixed-point-unknown-task",
        setter("train.fixed_point.task", "imagenet"),
        "train.fixed_point.task",
    ),
    ("train-empty-seeds", setter("train.seeds", []), "train.seeds"),
    ("train-duplicate-seeds", setter("train.seeds", [0, 0]), "train.seeds"),
    ("train-depth-zero", setter("train.depth", 0), "train.depth"),
    ("train-width-negative", setter("train.width", -32), "train.width"),
    ("train-unknown-model-kind", setter("train.models.mlp.kind", "transformer"), "train.models.mlp.kind"),
    (
        "train-unknown-shaping",
        setter("train.models.structured.shaping", "banana"),
        "train.models.structured.shaping",
    ),
    ("train-optimizer", setter("train.optim.optimizer", "lbfgs"), "train.optim.optimizer"),
    ("train-retired-optim-lr", setter("train.optim.lr", 1e-3), "train.optim.lr"),
    ("train-fixed-point-lr-zero", setter("train.fixed_point.lr", 0), "train.fixed_point.lr"),
    ("train-steps-zero", setter("train.optim.steps", 0), "train.optim.steps"),
    ("train-batch-string", setter("train.optim.batch_size", "big"), "train.optim.batch_size"),
    ("train-unknown-optim-key", setter("train.optim.nesterov", True), "nesterov"),
    # the fair protocol: tuning, validation, selection, matched baselines, claims
    ("train-one-seed", setter("train.seeds", [0]), "train.seeds"),
    ("train-no-tune", deleter("train.tune"), "tune"),
    ("train-tune-empty-lrs", setter("train.tune.lrs", []), "train.tune.lrs"),
    ("train-tune-lr-zero", setter("train.tune.lrs", [0.0, 1e-3]), "train.tune.lrs[0]"),
    ("train-tune-no-seeds", deleter("train.tune.seeds"), "train.tune"),
    (
        "train-tune-seeds-overlap",
        setter("train.tune.seeds", [QUICK["train"]["seeds"][0], 1000]),
        "train.tune.seeds",
    ),
    ("train-validation-fraction-one", setter("train.validation.fraction", 1.0), "train.validation.fraction"),
    ("train-validation-unknown-key", setter("train.validation.stratify", True), "stratify"),
    ("train-select", setter("train.optim.select", "best_test"), "train.optim.select"),
    ("train-unknown-model-init", setter("train.models.mlp.init", "xavier"), "train.models.mlp.init"),
    (
        "train-match-unknown-model",
        setter("train.models.mlp_wide", {"kind": "mlp", "match_params": "nosuchmodel"}),
        "train.models.mlp_wide.match_params",
    ),
    (
        "train-match-itself",
        setter("train.models.mlp_wide", {"kind": "mlp", "match_params": "mlp_wide"}),
        "train.models.mlp_wide.match_params",
    ),
    (
        "train-match-chain",
        both(
            setter("train.models.mlp_wide", {"kind": "mlp", "match_params": "structured"}),
            setter("train.models.mlp_wider", {"kind": "mlp", "match_params": "mlp_wide"}),
        ),
        "train.models.mlp_wider.match_params",
    ),
    (
        "train-claims-unknown-baseline",
        setter("train.claims.baselines", ["mlp", "nosuchmodel"]),
        "train.claims",
    ),
    ("train-claims-no-baselines", setter("train.claims.baselines", []), "train.claims.baselines"),
    ("train-claims-alpha-one", setter("train.claims.alpha", 1.0), "train.claims.alpha"),
    (
        "train-claims-tolerance-negative",
        setter("train.claims.match_tolerance", -0.01),
        "train.claims.match_tolerance",
    ),
    ("train-claims-removed-key", setter("train.claims.fixed_point_alpha", 0.3), "fixed_point_alpha"),
    ("train-lr-sweep-duplicate-seeds", setter("train.lr_sweep.seeds", [1, 1]), "train.lr_sweep.seeds"),
    (
        "train-fixed-point-seed-negative",
        setter("train.fixed_point.seeds", [-1]),
        "train.fixed_point.seeds[0]",
    ),
    ("theory-unknown-task", setter("theory.tasks", ["nosuchtask"]), "theory.tasks"),
    ("theory-n-zero", setter("theory.n", 0), "theory.n"),
    ("theory-empty-seeds", setter("theory.seeds", []), "theory.seeds"),
    ("theory-rtol-negative", setter("theory.integrator.rtol", -1e-8), "theory.integrator.rtol"),
    ("theory-depth-zero", setter("theory.hybrid_flow.depths", [0]), "theory.hybrid_flow.depths[0]"),
    ("theory-width-zero", setter("theory.truncation.widths", [0, 64]), "theory.truncation.widths[0]"),
    ("theory-unknown-key", setter("theory.closed_flow.colour", 1), "colour"),
    ("theory-truncation-level-3", setter("theory.truncation.levels", [0, 3]), "theory.truncation.levels[1]"),
    (
        "theory-truncation-widths-decreasing",
        setter("theory.truncation.widths", [64, 32]),
        "theory.truncation.widths",
    ),
    (
        "theory-truncation-horizon-zero",
        setter("theory.truncation.horizon.t_max", 0.0),
        "theory.truncation.horizon.t_max",
    ),
    (
        "theory-truncation-loss-drop-one",
        setter("theory.truncation.horizon.loss_drop", 1.0),
        "theory.truncation.horizon.loss_drop",
    ),
    (
        "theory-truncation-horizon-rule-unknown",
        setter("theory.truncation.horizon.rule", "per_width"),
        "theory.truncation.horizon.rule",
    ),
    (
        "theory-truncation-depth-seeds-length",
        setter("theory.truncation.depth_seeds", [10]),
        "theory.truncation.depth_seeds",
    ),
    (
        "theory-truncation-depth-seeds-too-many",
        setter("theory.truncation.depth_seeds", [10, 10, 40]),
        "theory.truncation.depth_seeds",
    ),
    (
        "theory-truncation-level-seeds-zero",
        setter("theory.truncation.level_seeds", 0),
        "theory.truncation.level_seeds",
    ),
    (
        "theory-truncation-smooth-depth-not-run",
        setter("theory.truncation.smooth", {"activation": "gelu", "depths": [4], "widths": [32, 64]}),
        "theory.truncation.smooth.depths",
    ),
    # the bridge (kernel lens)
    ("bridge-unknown-model", setter("bridge.models", ["structured", "nosuchmodel"]), "bridge.models"),
    ("bridge-model-not-trained", setter("bridge.models", ["structured", "mlp_matched"]), "bridge.models[1]"),
    ("bridge-no-structured", setter("bridge.models", ["mlp", "struct_alpha0"]), "bridge.models"),
    ("bridge-unknown-task", setter("bridge.task", "digits01"), "bridge.task"),
    ("bridge-width-study", setter("bridge.width_study", "nosuchstudy"), "bridge.width_study"),
    ("bridge-n-one", setter("bridge.n", 1), "bridge.n"),
    ("bridge-snapshot-zero", setter("bridge.snapshot_every", 0), "bridge.snapshot_every"),
    ("bridge-unknown-key", setter("bridge.colour", 1), "colour"),
    ("bridge-population-small", setter("bridge.min_units", 100), "bridge.min_units"),
    (
        "bridge-population-study",
        setter("bridge.population_studies", ["nosuchstudy"]),
        "bridge.population_studies",
    ),
    ("bridge-common-not-copy", setter("bridge.common_rate.mlp", "snmlp_common"), "bridge.common_rate.mlp"),
    (
        "bridge-common-not-followed",
        setter("bridge.common_rate", {"resmlp": "mlp_common"}),
        "bridge.common_rate",
    ),
    ("bridge-ablation-untrained", setter("bridge.ablations", ["struct_mask"]), "bridge.ablations[0]"),
    ("bridge-min-units-two", setter("bridge.min_units", 2), "bridge.min_units"),
    (
        "bridge-continuum-unknown",
        setter("bridge.continua", {"gate": ["structured", "struct_mask"]}),
        "bridge.continua.gate",
    ),
    # no NaN or infinity anywhere (YAML .nan/.inf pass "type: number" and every range test)
    ("nan-fixed-point-lr", setter("train.fixed_point.lr", NAN), "train.fixed_point.lr"),
    ("nan-tune-lr", setter("train.tune.lrs", [NAN, 1e-3]), "train.tune.lrs[0]"),
    ("inf-lr-sweep-lr", setter("train.lr_sweep.lrs", [0.1, INF]), "train.lr_sweep.lrs[1]"),
    ("nan-model-rho", setter("train.models.structured.rho", NAN), "train.models.structured.rho"),
    ("nan-claims-alpha", setter("train.claims.alpha", NAN), "train.claims.alpha"),
    (
        "inf-claims-fixed-point-rho",
        setter("train.claims.fixed_point_rho", INF),
        "train.claims.fixed_point_rho",
    ),
    ("nan-measure-sigma", setter("train.measure.noise_sigmas", [0.0, NAN]), "train.measure.noise_sigmas[1]"),
    ("nan-fixed-point-rho", setter("train.fixed_point.rhos", [0.5, NAN, INF]), "train.fixed_point.rhos[1]"),
    ("minus-inf-fixed-point-rho", setter("train.fixed_point.rhos", [-INF, INF]), "train.fixed_point.rhos[0]"),
    ("inf-task-noise", setter("data.tasks.spirals.noise", INF), "data.tasks.spirals.noise"),
    ("inf-theory-t-max", setter("theory.closed_flow.t_max", INF), "theory.closed_flow.t_max"),
    ("nan-theory-rtol", setter("theory.integrator.rtol", NAN), "theory.integrator.rtol"),
    ("nan-bridge-ridge", setter("bridge.ridge", NAN), "bridge.ridge"),
    # wrong types: an integer written as a float, a string, a boolean
    ("train-width-float", setter("train.width", 32.0), "train.width"),
    ("theory-n-string", setter("theory.n", "16"), "theory.n"),
    ("bridge-n-bool", setter("bridge.n", True), "bridge.n"),
    ("theory-seeds-float", setter("theory.seeds", [0.0, 1.0]), "theory.seeds["),
    # sizes beyond what a machine can hold, in every section
    (
        "theory-closed-flow-width-huge",
        setter("theory.closed_flow.width", 1_000_000),
        "theory.closed_flow.width",
    ),
    ("theory-hybrid-width-huge", setter("theory.hybrid_flow.width", BIG), "theory.hybrid_flow.width"),
    ("theory-identities-width-huge", setter("theory.identities.width", BIG), "theory.identities.width"),
    ("theory-gd-width-huge", setter("theory.gradient_descent.width", BIG), "theory.gradient_descent.width"),
    (
        "theory-truncation-width-huge",
        setter("theory.truncation.widths", [16, BIG]),
        "theory.truncation.widths[1]",
    ),
    (
        "theory-smooth-width-huge",
        setter("theory.truncation.smooth.widths", [16, BIG]),
        "theory.truncation.smooth.widths[1]",
    ),
    (
        "theory-gram-width-huge",
        setter("theory.truncation.gram_max_width", BIG),
        "theory.truncation.gram_max_width",
    ),
    (
        "theory-truncation-seeds-huge",
        setter("theory.truncation.seeds", list(range(1000))),
        "theory.truncation.seeds",
    ),
    ("theory-n-times-huge", setter("theory.closed_flow.n_times", BIG), "theory.closed_flow.n_times"),
    ("theory-t-max-huge", setter("theory.hybrid_flow.t_max", 1e9), "theory.hybrid_flow.t_max"),
    ("theory-dt-tiny", setter("theory.integrator.dt", 1e-12), "theory.integrator.dt"),
    (
        "theory-gd-eta-tiny",
        setter("theory.gradient_descent.gd_etas", [1e-12, 0.1]),
        "theory.gradient_descent.gd_etas[0]",
    ),
    ("train-fixed-point-width-huge", setter("train.fixed_point.width", 1_000_000), "train.fixed_point.width"),
    ("train-fixed-point-k-huge", setter("train.fixed_point.K", BIG), "train.fixed_point.K"),
    ("train-steps-huge", setter("train.optim.steps", BIG), "train.optim.steps"),
    ("train-batch-huge", setter("train.optim.batch_size", BIG), "train.optim.batch_size"),
    ("train-eval-samples-huge", setter("train.optim.eval_samples", BIG), "train.optim.eval_samples"),
    ("train-probe-samples-huge", setter("train.measure.probe_samples", BIG), "train.measure.probe_samples"),
    ("train-lr-sweep-steps-huge", setter("train.lr_sweep.steps", BIG), "train.lr_sweep.steps"),
    ("train-tune-steps-huge", setter("train.tune.steps", BIG), "train.tune.steps"),
    ("task-teacher-width-huge", setter("data.tasks.teacher.width", BIG), "data.tasks.teacher.width"),
    (
        "task-deep-teacher-depth-huge",
        setter("data.tasks.deep_teacher.depth", BIG),
        "data.tasks.deep_teacher.depth",
    ),
    ("bridge-bootstrap-huge", setter("bridge.bootstrap", BIG), "bridge.bootstrap"),
    ("bridge-n-test-huge", setter("bridge.n_test", BIG), "bridge.n_test"),
    # negative sizes
    ("theory-closed-flow-width-negative", setter("theory.closed_flow.width", -1), "theory.closed_flow.width"),
    ("train-fixed-point-width-negative", setter("train.fixed_point.width", -8), "train.fixed_point.width"),
    ("train-eval-every-negative", setter("train.optim.eval_every", -1), "train.optim.eval_every"),
    ("bridge-n-test-negative", setter("bridge.n_test", -1), "bridge.n_test"),
    (
        "theory-truncation-n-times-negative",
        setter("theory.truncation.n_times", -2),
        "theory.truncation.n_times",
    ),
    # names that must refer to defined tasks, models, studies and cells
    ("theory-unknown-main-task", setter("theory.main_task", "nope"), "theory.main_task"),
    ("theory-unknown-flow-task", setter("theory.flow_tasks", ["nope"]), "theory.flow_tasks[0]"),
    ("train-sweep-unknown-model", setter("train.lr_sweep.models", ["nosuchmodel"]), "train.lr_sweep.models"),
    (
        "train-claims-unknown-structured",
        setter("train.claims.structured", "nosuchmodel"),
        "train.claims.structured",
    ),
    (
        "train-study-unknown-model",
        setter("train.studies.main.models", ["structured", "nosuchmodel"]),
        "train.studies.main.models",
    ),
    (
        "train-align-unknown-model",
        setter("train.alignment.families.structured", ["nosuch/L4_W32", "structured/L8_W32"]),
        "train.alignment.families.structured[0]",
    ),
    # within every maximum, but more memory than any machine of this project has
    (
        "memory-theory-closed-flow",
        both(
            setter("theory.closed_flow.width", 4096),
            setter("theory.n", 256),
            setter("theory.seeds", list(range(100))),
        ),
        "theory.closed_flow.width",
    ),
    (
        "memory-theory-gradient-descent",
        both(setter("theory.gradient_descent.width", 4096), setter("theory.seeds", list(range(100)))),
        "theory.gradient_descent.width",
    ),
    (
        "memory-train-depth",
        both(setter("train.optim.batch_size", 65536), setter("train.studies.depth.depths", [2, 4, 8, 256])),
        "train.studies.depth.depths",
    ),
    (
        "memory-train-fixed-point",
        both(setter("train.fixed_point.width", 2048), setter("train.fixed_point.K", 256)),
        "train.fixed_point.width",
    ),
]


def case_ids():
    return [c[0] for c in BAD_CONFIGS]


def mutated(mutation):
    cfg = copy.deepcopy(QUICK)
    mutation(cfg)
    return cfg


def with_defaults(cfg):
    """``cfg`` with the schema's defaults filled in, as the workflow sees it."""
    cfg = copy.deepcopy(cfg)
    validate(cfg, str(SCHEMA_FILE))
    return cfg


def validation_lines(cfg):
    """What the workflow checks before any job, in its order: schema (and non-finite numbers),
    cross-references, then the memory of every task and heavy job on this machine."""
    problem = explain(cfg, SCHEMA)
    if problem:
        return [problem]
    return check_references(cfg) or check_memory(with_defaults(cfg))


def test_quick_and_full_configs_are_valid():
    for name in ("quick.yaml", "config.yaml"):
        cfg = yaml.safe_load((ROOT / "config" / name).read_text())
        assert validation_lines(cfg) == [], f"config/{name} is invalid"


@pytest.mark.parametrize(
    "mutation,where",
    [
        (setter("train.tasks", ["spirals"]), "train.studies.*.tasks"),
        (setter("train.optim.lr", 1e-3), "train.fixed_point.lr"),
    ],
    ids=["tasks", "optim-lr"],
)
def test_a_retired_key_says_where_its_setting_went(mutation, where):
    """Keys of earlier versions: one line naming the key and its replacement, not the schema's
    generic "additional properties" message."""
    line = explain(mutated(mutation), SCHEMA)
    assert line.startswith("config error: train.") and where in line and "\n" not in line, line


def test_the_fixed_point_study_trains_at_its_own_rate_and_the_others_at_none():
    """The default results keep the rate the fixed-point study read from train.optim before."""
    from learndyn.train.experiments import FixedPointConfig

    for name in ("quick.yaml", "config.yaml", "paper.yaml"):
        train = yaml.safe_load((ROOT / "config" / name).read_text())["train"]
        assert "lr" not in train["optim"], name
        assert FixedPointConfig.from_train(train).optim(train).lr == 1.0e-3, name


def test_there_are_at_least_58_bad_configs():
    assert len(BAD_CONFIGS) >= 58, f"only {len(BAD_CONFIGS)} bad configs"


def test_the_paper_profile_is_within_every_maximum():
    """config/paper.yaml, the largest profile, passes the schema's maxima and the references, and
    its largest job fits a 32 GiB machine (the memory check prices it, it does not refuse it)."""
    cfg = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    assert explain(cfg, SCHEMA) is None
    assert check_references(cfg) == []
    assert check_memory(with_defaults(cfg), available=32 * GIB) == []


def test_a_nan_read_from_yaml_is_refused():
    """The accident of the issue: ``lr: .nan`` passed the schema and 27 jobs wrote NaN."""
    cfg = yaml.safe_load((ROOT / "config" / "quick.yaml").read_text().replace("lr: 1.0e-3", "lr: .nan"))
    line = explain(cfg, SCHEMA)
    assert line == "config error: train.fixed_point.lr: nan is not a finite number", line


@pytest.mark.parametrize("profile", ["quick.yaml", "config.yaml", "paper.yaml"])
def test_every_heavy_job_names_a_config_field_that_sizes_it(profile):
    """The memory check names the field of the largest job: every heavy job's field exists."""
    from learndyn.catalogue import Catalogue
    from learndyn.config import _lookup

    cfg = with_defaults(yaml.safe_load((ROOT / "config" / profile).read_text()))
    rules = set()
    for job in Catalogue(cfg).jobs:
        if job.bench:
            _lookup(cfg, memory_field(cfg, job))
            rules.add(job.rule)
    assert {"theory_closed_flow", "train_cell", "bridge_kernels"} <= rules


@pytest.mark.parametrize(
    "mutation,field,available",
    [
        (setter("theory.closed_flow.width", 4096), "theory.closed_flow.width", 2 * GIB),
        (setter("bridge.n", 4096), "bridge.n", 8 * GIB),
        (setter("train.fixed_point.width", 2048), "train.fixed_point.width", 1 * GIB),
    ],
    ids=["theory", "bridge", "fixed-point"],
)
def test_the_memory_check_names_the_field_of_the_largest_job(mutation, field, available):
    cfg = with_defaults(mutated(mutation))
    assert check_memory(cfg, available=64 * GIB) == []
    (line,) = check_memory(cfg, available=available)
    assert line.startswith(f"config error: {field}: ") and " GiB in job " in line, line


def test_the_device_is_a_parameter_of_the_jobs_that_run_on_it():
    """``device`` enters the params of the jobs that run torch on it (only when set: ``auto``,
    the default, leaves the params of the results made before unchanged)."""
    assert device_params({"device": "auto"}) == {}
    assert device_params({"device": "cuda"}) == {"device": "cuda"}
    rules = ROOT / "workflow" / "rules"
    scripts = ROOT / "workflow" / "scripts"
    on_device = sorted(p.stem for p in scripts.glob("*.py") if 'snakemake.config["device"]' in p.read_text())
    assert on_device, "no script reads the device"
    text = "\n".join(p.read_text() for p in rules.glob("*_common.smk"))
    for fn in (
        "get_cell_settings",
        "get_tune_settings",
        "get_lr_sweep_settings",
        "get_fixed_point_settings",
        "get_align_settings",
        "theory_params",
    ):
        body = text.split(f"def {fn}(", 1)[1].split("\ndef ", 1)[0]
        assert "device_params(config)" in body, fn


@pytest.mark.slow
def test_a_device_change_reruns_the_device_dependent_jobs(quick_run):
    """On an up-to-date quick tree, ``--config device=cuda`` reruns every job that runs torch on
    the device (training, theory integrations) and what reads them, not the data."""
    from conftest import snakemake

    assert "Nothing to be done" in snakemake(quick_run, "--dry-run").stdout
    out = snakemake(quick_run, "--dry-run", "--config", "device=cuda").stdout
    table = out.split("Job stats:", 1)[1].strip().splitlines()[2:]  # after the header lines
    rules = {line.split()[0] for line in itertools.takewhile(str.strip, table)} - {"total"}
    expected = {
        "train_tune",
        "train_cell",
        "train_lr_sweep",
        "train_fixed_point",
        "train_align",
        "theory_closed_flow",
        "theory_hybrid_flow",
        "theory_identities",
        "theory_gradient_descent",
        "theory_truncation_depth",
        "theory_smooth_control",
    }
    assert expected <= rules, sorted(expected - rules)
    assert "data_task" not in rules, rules


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=case_ids())
def test_library_names_the_field(case):
    _, mutation, field = case
    lines = validation_lines(mutated(mutation))
    assert len(lines) >= 1, "bad config accepted"
    assert lines[0].startswith("config error: ") and field in lines[0], lines[0]
    assert "\n" not in lines[0]


@pytest.mark.parametrize(
    "mutation,names",
    [
        (setter("train.claims.baselines", ["mlp", "nosuchmodel"]), ["'nosuchmodel'", "train.models"]),
        (setter("train.models.mlp_wide", {"kind": "mlp", "match_params": "nosuchmodel"}), ["'nosuchmodel'"]),
        (
            setter("train.tune.seeds", [QUICK["train"]["seeds"][-1], 1000]),
            [str([QUICK["train"]["seeds"][-1]])],
        ),
    ],
    ids=["unknown-baseline", "unknown-match", "seed-overlap"],
)
def test_cross_checks_name_the_offending_value(mutation, names):
    """The cross checks (not the schema) catch these: the line names the value too."""
    cfg = mutated(mutation)
    assert explain(cfg, SCHEMA) is None
    lines = check_references(cfg)
    assert len(lines) == 1 and all(n in lines[0] for n in names), lines


def test_quick_config_has_the_fair_protocol():
    """The checks above mutate these sections; they exist in the quick profile."""
    train = QUICK["train"]
    assert len(train["seeds"]) >= 2 and train["tune"]["lrs"] and train["tune"]["seeds"]
    assert not set(train["tune"]["seeds"]) & set(train["seeds"])
    assert "validation" in train and "match_tolerance" in train["claims"]


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory):
    """Snakefile, rules, schema, profile and paper sources, but no results."""
    import shutil

    dest = tmp_path_factory.mktemp("wf")
    for item in ("Snakefile", "workflow", "config", "profiles", "paper", "src", "data"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / item)
    return dest


def run_dry(workdir: Path, cfg: dict, name: str):
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--dry-run", "--cores", "1", "--configfile", str(path)],
        cwd=workdir,
        capture_output=True,
        text=True,
    )


def test_snakemake_rejects_every_bad_config_before_any_job(workflow_copy):
    before = sorted(p.name for p in workflow_copy.iterdir())
    cases = [(cid, mutated(mut), field) for cid, mut, field in BAD_CONFIGS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda c: run_dry(workflow_copy, c[1], c[0]), cases))
    failures = []
    for (cid, _, field), proc in zip(cases, results):
        lines = [
            ln
            for ln in proc.stderr.splitlines() + proc.stdout.splitlines()
            if ln.startswith("config error: ")
        ]
        if proc.returncode == 0 or len(lines) != 1 or field not in lines[0]:
            failures.append(f"{cid}: exit {proc.returncode}, lines {lines}")
    assert not failures, "\n".join(failures)
    written = {"results", "logs", "benchmarks"} & {p.name for p in workflow_copy.iterdir()}
    assert not written, f"bad configs wrote {written}"
    after = sorted(p.name for p in workflow_copy.iterdir() if not p.name.endswith(".yaml"))
    assert set(after) - set(before) <= {".snakemake"}
