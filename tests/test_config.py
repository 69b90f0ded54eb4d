"""Bad configs fail before any job runs, with one line naming the offending field.

Every case is checked twice: through ``learndyn.config`` (fast, exact message) and through
``snakemake --dry-run`` on a copy of the workflow (exit status, one ``config error`` line,
nothing written).
"""

from __future__ import annotations

import copy
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from learndyn.config import check_references, explain, load_schema

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = load_schema(ROOT / "workflow/schemas/config.schema.yaml")
QUICK = yaml.safe_load((ROOT / "config/quick.yaml").read_text())


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
    # the bridge (kernel lens)
    ("bridge-unknown-model", setter("bridge.models", ["structured", "nosuchmodel"]), "bridge.models"),
    ("bridge-model-not-trained", setter("bridge.models", ["structured", "mlp_matched"]), "bridge.models[1]"),
    ("bridge-no-structured", setter("bridge.models", ["mlp", "struct_alpha0"]), "bridge.models"),
    ("bridge-unknown-task", setter("bridge.task", "digits01"), "bridge.task"),
    ("bridge-width-study", setter("bridge.width_study", "nosuchstudy"), "bridge.width_study"),
    ("bridge-n-one", setter("bridge.n", 1), "bridge.n"),
    ("bridge-snapshot-zero", setter("bridge.snapshot_every", 0), "bridge.snapshot_every"),
    ("bridge-unknown-key", setter("bridge.colour", 1), "colour"),
]


def case_ids():
    return [c[0] for c in BAD_CONFIGS]


def mutated(mutation):
    cfg = copy.deepcopy(QUICK)
    mutation(cfg)
    return cfg


def validation_lines(cfg):
    problem = explain(cfg, SCHEMA)
    return [problem] if problem else check_references(cfg)


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


def test_there_are_at_least_30_bad_configs():
    assert len(BAD_CONFIGS) >= 30, f"only {len(BAD_CONFIGS)} bad configs"


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
