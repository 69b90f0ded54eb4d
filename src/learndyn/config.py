"""Config validation against the JSON schema, with one clear line per error.

Snakemake's ``validate`` fills defaults; when it fails, ``explain`` names the offending
field in one line (``config error: train.depths[0]: 0 is less than the minimum of 1``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import jsonschema
import yaml

from .settings import ConfigError
from .sources import (
    FASHION_SHIPPED_DIR,
    FASHION_SOURCE_KEYS,
    FASHION_SOURCES,
    FASHION_SUBSET_FILES,
    FIXED_DIMENSIONS,
)
from .train.spec import ModelSpec


def field_path(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def load_schema(path: str | Path) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


# Keys a config may still carry from an earlier version: where their setting went.
RETIRED_KEYS = {
    ("train", "tasks"): "removed: the studies (train.studies.*.tasks), train.lr_sweep, train.fixed_point, "
    "train.alignment and bridge name their own tasks (keys of data.tasks); delete the line",
    ("train", "optim", "lr"): "renamed train.fixed_point.lr (the fixed-point study was the only job that "
    "read it; every other job trains at its tuned or swept rate)",
}


def retired_key(config: dict) -> str | None:
    """One line naming a key of :data:`RETIRED_KEYS` present in ``config``, or None."""
    for path, note in RETIRED_KEYS.items():
        node = config
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node:
            return f"config error: {'.'.join(path)}: {note}"
    return None


# the one place a config may hold a non-finite number: the uncapped fixed-point model's cap
INFINITY_ALLOWED = (("train", "fixed_point", "rhos"),)


def non_finite(node, path=()) -> str | None:
    """One line naming the first NaN or infinity in ``node`` (YAML's ``.nan``/``.inf``: the
    schema's ``type: number`` accepts both and every range test is false for NaN), or None."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        if not isinstance(node, float) or math.isfinite(node):
            return None
        if node > 0 and path[:-1] in INFINITY_ALLOWED:
            return None
        return f"config error: {field_path(path)}: {node} is not a finite number"
    for key, value in items:
        problem = non_finite(value, (*path, key))
        if problem:
            return problem
    return None


def _strict_integer(checker, instance) -> bool:
    """``type: integer`` without the floats JSON Schema counts as integers (``width: 64.0``
    would name a cell ``W64.0``)."""
    return isinstance(instance, int) and not isinstance(instance, bool)


StrictValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)


def explain(config: dict, schema: dict) -> str | None:
    """One line naming the most relevant schema violation (a retired key first, then a NaN or
    infinity anywhere), or None when the config is valid."""
    retired = retired_key(config) if isinstance(config, dict) else None
    if retired:
        return retired
    problem = non_finite(config)
    if problem:
        return problem
    validator = StrictValidator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return None
    where = field_path(error.absolute_path)
    if error.validator == "additionalProperties":
        return f"config error: {where}: {error.message}"
    return f"config error: {where}: {error.message}"


SCHEMA_FILE = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def load_config_file(path: str | Path) -> dict:
    """A config file as the workflow sees it: parsed (duplicate keys refused), checked against
    the schema with its defaults filled in, cross-references checked; one-line errors."""
    check_duplicate_keys(path)
    with open(path) as fh:
        config = yaml.safe_load(fh)
    problem = explain(config, load_schema(SCHEMA_FILE))
    if problem:
        raise ValueError(f"{path}: {problem}")
    from snakemake.utils import validate

    validate(config, str(SCHEMA_FILE), set_default=True)
    problems = check_references(config)
    if problems:
        raise ValueError(f"{path}: {problems[0]}")
    return config


def check_references(config: dict) -> list[str]:
    """Cross-field rules the schema cannot express (names that must refer to defined tasks)."""
    problems = []
    tasks = config.get("data", {}).get("tasks", {})
    theory = config.get("theory", {})
    for key in ("tasks", "flow_tasks"):
        for i, name in enumerate(theory.get(key, []) or []):
            if name not in tasks:
                where = f"theory.{key}[{i}]"
                problems.append(
                    f"config error: {where}: unknown task {name!r}; defined tasks are {sorted(tasks)}"
                )
    # the default main task (digits01) must exist too when the config does not name one
    main = theory.get("main_task", "digits01") if "theory" in config else None
    if main is not None and main not in tasks:
        problems.append(
            f"config error: theory.main_task: unknown task {main!r}; defined tasks are {sorted(tasks)}"
        )
    for name, spec in tasks.items():
        problems += check_fashion_task(name, spec)
    # the train cross-checks only once the task names resolve (else they repeat the same error)
    return (
        problems
        or check_train_references(config.get("train", {}), sorted(tasks))
        or check_truncation(config.get("theory", {}))
        or check_bridge(config)
    )


def check_truncation(theory: dict) -> list[str]:
    """The truncation grid: width lists strictly increasing, one width cap per depth."""
    tr = theory.get("truncation")
    if not tr:
        return []
    where = "config error: theory.truncation"
    lists = [("widths", tr.get("widths"))]
    lists += [(f"{k}.widths", (tr.get(k) or {}).get("widths")) for k in ("second_n", "smooth")]
    for name, widths in lists:
        if widths and any(b <= a for a, b in zip(widths, widths[1:])):
            return [f"{where}.{name}: {widths} must be strictly increasing"]
    if "max_widths" in tr and len(tr["max_widths"]) != len(tr.get("depths", [])):
        return [f"{where}.max_widths: {len(tr['max_widths'])} caps for {len(tr.get('depths', []))} depths"]
    counts = tr.get("depth_seeds") or []
    if counts and len(counts) != len(tr.get("depths", [])):
        return [f"{where}.depth_seeds: {len(counts)} seed counts for {len(tr.get('depths', []))} depths"]
    if counts and max(counts) > len(tr.get("seeds", [])):
        return [f"{where}.depth_seeds: {max(counts)} seeds asked for, seeds lists {len(tr.get('seeds', []))}"]
    rule = (tr.get("horizon") or {}).get("rule", "per_run")
    extra = sorted(set((tr.get("smooth") or {}).get("depths", [])) - set(tr.get("depths", [])))
    if rule == "shared" and extra:
        return [
            f"{where}.smooth.depths: {extra} not in theory.truncation.depths "
            "(the shared horizon is the ReLU depth's)"
        ]
    return []


def check_bridge(config: dict) -> list[str]:
    """``bridge``: its task and models are trained by a study at the default size (their cells
    save the snapshots), the structured model of the claims is among them, and the width study
    exists and trains the task."""
    from .train.grid import cells

    bridge, train = config.get("bridge"), config.get("train", {})
    if not bridge or "models" not in train:
        return []
    problems = _unknown(bridge["models"], sorted(train["models"]), "bridge.models", "train.models")
    problems += _untrained(bridge["task"], train, "bridge.task")
    if problems:
        return problems
    grid, task = set(cells(train)), bridge["task"]
    for i, m in enumerate(bridge["models"]):
        if (task, m, int(train["depth"]), int(train["width"])) not in grid:
            problems.append(
                f"config error: bridge.models[{i}]: {m!r} is not trained on {task!r} at train.depth, "
                "train.width by any study of train.studies"
            )
    structured = train.get("claims", {}).get("structured")
    if structured and structured not in bridge["models"]:
        problems.append(
            f"config error: bridge.models: must include the structured model {structured!r} of train.claims"
        )
    study = bridge.get("width_study", "width")
    if study not in train["studies"]:
        problems.append(
            f"config error: bridge.width_study: {study!r} not in train.studies {sorted(train['studies'])}"
        )
    elif task not in train["studies"][study]["tasks"]:
        problems.append(f"config error: bridge.width_study: study {study!r} does not train {task!r}")
    # the population and the copies are checked once the followed models are right (one line each)
    return problems or check_bridge_population(config)


def check_bridge_population(config: dict) -> list[str]:
    """``bridge``'s population, common-rate copies, ablations and continua: the population studies
    exist and hold at least ``min_units`` architectures; each copy is a followed model's spec,
    trained on the task at the default size; each ablation is trained there; each member of a
    continuum is an architecture of the population, in one continuum only."""
    from .bridge.cells import population_cells
    from .train.grid import cells

    bridge, train = config["bridge"], config["train"]
    problems = [
        f"config error: bridge.population_studies: {k!r} not in train.studies {sorted(train['studies'])}"
        for k in bridge.get("population_studies", [])
        if k not in train["studies"]
    ]
    units, least = len(population_cells(config)), int(bridge.get("min_units", 15))
    if not problems and units < least:
        problems.append(
            f"config error: bridge.min_units: the population has {units} architectures, fewer than {least}"
        )
    grid, at = set(cells(train)), (bridge["task"], int(train["depth"]), int(train["width"]))
    for model, copy in bridge.get("common_rate", {}).items():
        if model not in bridge["models"]:
            problems.append(f"config error: bridge.common_rate: {model!r} is not in bridge.models")
        elif train["models"].get(copy) != train["models"][model]:
            problems.append(f"config error: bridge.common_rate.{model}: {copy!r} is not a copy of its spec")
        elif (at[0], copy, *at[1:]) not in grid:
            problems.append(f"config error: bridge.common_rate.{model}: {copy!r} is not trained on {at[0]!r}")
    for i, model in enumerate(bridge.get("ablations", [])):
        if (at[0], model, *at[1:]) not in grid:
            where = f"config error: bridge.ablations[{i}]"
            problems.append(f"{where}: {model!r} is not trained on {at[0]!r} at the default size")
    population = {m for _, m, _, _ in population_cells(config)}
    seen: set = set()
    continua = {} if problems[:1] and "population_studies" in problems[0] else bridge.get("continua", {})
    for name, members in continua.items():  # (an unknown population study is reported once)
        for model in members:
            if model not in population:
                problems.append(f"config error: bridge.continua.{name}: {model!r} is not in the population")
            elif model in seen:
                problems.append(f"config error: bridge.continua.{name}: {model!r} is in two continua")
            seen.add(model)
    return problems


def check_fashion_task(name: str, spec: dict) -> list[str]:
    """The files a Fashion-MNIST task reads, per ``source`` (shipped: the two subset files in
    ``path``; path: the directory; download: nothing before the run), and keys that only one
    source (or only fashion_mnist) reads."""
    where = f"config error: data.tasks.{name}"
    if spec.get("generator") != "fashion_mnist":
        extra = [k for k in ("source", "path", "url", "cache") if k in spec]
        return [f"{where}.{k}: only read by generator fashion_mnist" for k in extra[:1]]
    source = spec.get("source", "shipped")
    if source not in FASHION_SOURCES:  # the schema says so first; a partial config gets here
        return [f"{where}.source: {source!r} is not one of {list(FASHION_SOURCES)}"]
    unused = [k for k in ("path", "url", "cache") if k in spec and k not in FASHION_SOURCE_KEYS[source]]
    if unused:
        return [f"{where}.{unused[0]}: not read with source {source!r}"]
    if source == "shipped":
        path = Path(spec.get("path", FASHION_SHIPPED_DIR))
        missing = [f for f in FASHION_SUBSET_FILES if not (path / f).is_file()]
        if missing:
            under = "" if path.is_absolute() else f" under the working directory {os.getcwd()}"
            return [
                f"{where}.path: {missing[0]} not found in {str(path)!r}{under} (source: shipped reads "
                f"the subset of {FASHION_SHIPPED_DIR}; source: path reads a directory with the four "
                "IDX files)"
            ]
    elif source == "path":
        path = Path(spec.get("path", ""))
        if not path.is_dir():
            return [f"{where}.path: directory {str(path)!r} does not exist"]
    return []


def _unknown(names, allowed, where: str, what: str) -> list[str]:
    """One line per entry of ``names`` missing from ``allowed``."""
    return [f"config error: {where}: {n!r} not in {what} {allowed}" for n in names if n not in allowed]


def _untrained(task: str, train: dict, where: str) -> list[str]:
    """``task`` must be trained by a study (its cells are what the job reads)."""
    trained = sorted({t for study in train["studies"].values() for t in study["tasks"]})
    return [] if task in trained else [f"config error: {where}: {task!r} not trained by any study {trained}"]


def check_models(models: dict) -> list[str]:
    """Every ``train.models`` entry is a valid ``ModelSpec`` (its kind one of ``spec.KINDS``, its
    shaping, gate and init known): the model's own class says what exists, not the schema."""
    return [
        f"config error: train.models.{name}{'.' + key if key else ''}: {problem}"
        for name, spec in models.items()
        for key, problem in ModelSpec.problems(spec)
    ]


def check_train_references(train: dict, tasks: list[str]) -> list[str]:
    """Study, sweep, fixed-point and claims entries must name tasks (``tasks``: the keys of
    ``data.tasks``) and models of ``train.models``."""
    if "models" not in train:  # a partial config (tests): nothing to cross-check
        return []
    models = sorted(train["models"])
    problems = check_models(train["models"])
    for name, study in train["studies"].items():
        extra = sorted(set(study.get("seeds") or []) - set(train.get("seeds", [])))
        if extra:
            problems.append(
                f"config error: train.studies.{name}.seeds: {extra} are not in train.seeds (a study's "
                "seeds must be a subset so that its cells pair by seed with the other studies')"
            )
        parent = study.get("tune_from")
        if parent:
            tuned = {
                (t, m)
                for other in train["studies"].values()
                if not other.get("tune_from")
                for t in other["tasks"]
                for m in other["models"]
            }
            missing = [t for t in study["tasks"] if (t, parent) not in tuned]
            if missing:
                problems.append(
                    f"config error: train.studies.{name}.tune_from: {parent!r} is not tuned on {missing} "
                    "by a study without tune_from"
                )
        problems += _unknown(study["tasks"], tasks, f"train.studies.{name}.tasks", "data.tasks")
        problems += _unknown(study["models"], models, f"train.studies.{name}.models", "train.models")
    sweep, claims = train["lr_sweep"], train["claims"]
    stock_tasks = train.get("stock", {}).get("tasks", [])
    main_tasks = train["studies"]["main"]["tasks"]
    if not _unknown(main_tasks, tasks, "", ""):  # an unknown main task is reported above, once
        problems += _unknown(stock_tasks, main_tasks, "train.stock.tasks", "the main study")
    problems += _unknown(sweep["models"], models, "train.lr_sweep.models", "train.models")
    problems += _unknown(sweep["tasks"], tasks, "train.lr_sweep.tasks", "data.tasks")
    problems += _unknown([train["fixed_point"]["task"]], tasks, "train.fixed_point.task", "data.tasks")
    problems += _unknown([claims["structured"]], models, "train.claims.structured", "train.models")
    for i, base in enumerate(claims.get("baselines", [])):
        problems += _unknown([base], models, f"train.claims.baselines[{i}]", "train.models")
    problems += _unknown(
        claims.get("favourable_tasks", []), tasks, "train.claims.favourable_tasks", "data.tasks"
    )
    for i, ex in enumerate(claims.get("exclude", [])):
        where = f"train.claims.exclude[{i}]"
        problems += _unknown([ex["baseline"]], [*models, "uncapped"], f"{where}.baseline", "train.models")
        if "task" in ex:
            problems += _unknown([ex["task"]], tasks, f"{where}.task", "data.tasks")
    for i, base in enumerate(claims.get("equivalence", {}).get("baselines", [])):
        problems += _unknown([base], models, f"train.claims.equivalence.baselines[{i}]", "train.models")
    # the claims read these levels and caps from the measurements: they must have been measured
    measure, fp = train.get("measure", {}), train["fixed_point"]
    levels = (
        ("noise_sigma", "noise_sigmas", measure.get("noise_sigmas", [0.0, 0.05, 0.1, 0.2, 0.3, 0.5])),
        ("fgsm_eps", "fgsm_eps", measure.get("fgsm_eps", [0.01, 0.03, 0.05, 0.1])),
        ("noise_sigma", "track_sigmas", measure.get("track_sigmas", [0.2])),
        ("fgsm_eps", "track_eps", measure.get("track_eps", [0.05])),
    )
    for key, name, grid in levels:
        problems += _not_measured(claims, key, grid, f"train.measure.{name}")
    problems += _not_measured(
        claims, "fixed_point_rho", fp.get("rhos", [0.5, 0.8, 0.95, 1.0, 1.2]), "train.fixed_point.rhos"
    )
    if not any(math.isinf(float(r)) for r in fp.get("rhos", [])):
        problems.append(
            "config error: train.fixed_point.rhos: add .inf (the uncapped model is the baseline of the "
            "fixed-point claim)"
        )
    for name, spec in train["models"].items():
        target = spec.get("match_params", "")
        if not target:
            continue
        where = f"train.models.{name}.match_params"
        if target not in models:
            problems.append(f"config error: {where}: {target!r} not in train.models {models}")
        elif target == name or train["models"][target].get("match_params"):
            problems.append(f"config error: {where}: {target!r} must be a model that matches nothing itself")
    problems += check_alignment(train)
    overlap = sorted(set(train["tune"]["seeds"]) & set(train["seeds"]))
    if overlap:
        problems.append(
            f"config error: train.tune.seeds: {overlap} are also evaluation seeds (train.seeds); "
            "tuning seeds must be disjoint so the reported runs are not the ones the rate was chosen on"
        )
    return problems


def check_alignment(train: dict) -> list[str]:
    """``train.alignment``: its task is a training task, every family cell is trained by some
    study, and the two families list the same number of cells (parallel pairs)."""
    from .train.grid import cells

    align = train.get("alignment")
    if not align:
        return []
    problems = _untrained(align["task"], train, "train.alignment.task")
    if problems:  # the cells cannot be checked on an unknown task
        return problems
    grid = {f"{m}/L{d}_W{w}" for t, m, d, w in cells(train) if t == align["task"]}
    for fam, members in align["families"].items():
        for i, cell in enumerate(members):
            if cell not in grid:
                problems.append(
                    f"config error: train.alignment.families.{fam}[{i}]: {cell!r} is not trained on "
                    f"{align['task']!r} by any study of train.studies"
                )
    sizes = {fam: len(members) for fam, members in align["families"].items()}
    if len(set(sizes.values())) > 1:
        problems.append(
            f"config error: train.alignment.families: the lists must be parallel, got sizes {sizes}"
        )
    return problems


def _not_measured(claims: dict, key: str, grid, where: str) -> list[str]:
    """A claims level (noise sigma, FGSM epsilon, fixed-point cap) that was not measured."""
    if key not in claims or any(math.isclose(float(claims[key]), float(g)) for g in grid):
        return []
    return [f"config error: train.claims.{key}: {claims[key]!r} is not in {where} {list(grid)}"]


def device_params(config: dict) -> dict:
    """What the jobs that run torch on ``config["device"]`` add to their ``params:`` so that a
    change of the device reruns them: ``{"device": ...}``, or {} for the default ``auto`` (the
    results made before the device was a parameter stay up to date). Only the config value
    counts: ``auto`` finding CUDA on one machine and not on another is no change."""
    device = config.get("device", "auto")
    return {} if device == "auto" else {"device": device}


def use_checkout_library(root: str | Path) -> None:
    """Make jobs import ``root/src`` first, so results always come from this checkout's code."""
    src = str(Path(root) / "src")
    rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != src]
    os.environ["PYTHONPATH"] = os.pathsep.join([src, *rest])


# --- accidents the schema cannot see ----------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """YAML loader that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(
                    f"config error: {node.start_mark.name}: duplicate key {key!r} "
                    f"(lines {seen[key] + 1} and {key_node.start_mark.line + 1})"
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def check_duplicate_keys(path: str | Path) -> None:
    """Raise ``ConfigError`` naming the file and lines of a duplicated key."""
    with open(path) as fh:
        yaml.load(fh, Loader=_StrictLoader)  # a SafeLoader subclass: safe


# bytes per stored input value while a task is generated and written (float64 arrays, the
# standardised copy and the netCDF encoding buffer)
BYTES_PER_VALUE = 3 * 8
# fraction of the machine's memory one task may plan to use (generated and held by every job)
MEMORY_FRACTION = 0.5
# fraction of the machine's memory one heavy job may be predicted to use
JOB_MEMORY_FRACTION = 0.8
# overrides the machine's memory (GiB) in these checks: on a cluster, the compute nodes'
MEMORY_ENV = "LEARNDYN_MEMORY_GIB"
# copies of a theory network's state an integration holds at once (its stages, the stored
# point, the step's work), float64
THEORY_COPIES = 8
THEORY_EXPERIMENT_RULES = ("closed_flow", "hybrid_flow", "identities", "gradient_descent")


def machine_memory_bytes() -> int:
    override = os.environ.get(MEMORY_ENV)
    if override:
        return int(float(override) * 2**30)
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def task_bytes(spec: dict) -> int:
    """Estimated peak memory of generating task ``spec`` (and of holding it in a job): its
    values, and a generator's own weights and hidden activations (teachers, the correction)."""
    d = FIXED_DIMENSIONS.get(spec["generator"], spec.get("d", 1))
    n = spec.get("n_train", 0) + spec.get("n_test", 0)
    width, depth = spec.get("width", 0), spec.get("depth", 1)
    generator = {
        "teacher": width * d + 2 * n * width,
        "deep_teacher": width * d + depth * width**2 + 2 * n * width,
        "linear_correction": 2 * d * d + 2 * n * d,
    }.get(spec["generator"], 0)
    return n * (d + 1) * BYTES_PER_VALUE + generator * 8


def theory_tensor_bytes(config: dict, experiment: str) -> float:
    """A floor on the memory of an integrated theory experiment (``closed_flow``, ...): the
    network's weights and hidden activations over every seed at its deepest depth and width,
    ``THEORY_COPIES`` times (its law's memory term grows with the work instead, and
    ``gradient_descent``'s was fitted flat)."""
    th = config["theory"]
    section = th[experiment]
    depth = max((int(L) for L in section.get("depths", [1])), default=1)
    m = int(section["width"])
    n = int(section["n"]) if experiment == "identities" else int(th["n"])
    seeds = 1 if experiment == "identities" else len(th["seeds"])
    return seeds * depth * (m * m + n * m) * THEORY_COPIES * 8


def job_bytes(config: dict, job, laws: dict) -> float:
    """Predicted peak memory of a heavy job of the catalogue: its cost law's ``rss0 + k
    mem_work``, and never less than the tensors it holds (parameters, activations, kernels:
    ``worksize``'s ``mem_work``; the integrated theory experiments' from their widths)."""
    from . import costmodel, worksize

    size = worksize.size(config, job)
    law = costmodel.law_for(laws, size.law)
    predicted = law.rss(size.mem_work) * 2**20 if law else 0.0
    name = job.rule.removeprefix("theory_")
    if job.rule.startswith("theory_") and name in THEORY_EXPERIMENT_RULES:
        floor = theory_tensor_bytes(config, name)
    else:
        floor = size.mem_work
    return max(predicted, floor)


def _lookup(config: dict, path: str):
    node = config
    for key in path.split("."):
        node = node[key]
    return node


def memory_field(config: dict, job) -> str:
    """The config field that sizes ``job`` (what to lower when it does not fit)."""
    rule, wc = job.rule, job.wildcards
    name = rule.removeprefix("theory_")
    if rule.startswith("theory_") and name in THEORY_EXPERIMENT_RULES:
        return f"theory.{name}.width"
    if rule == "theory_truncation_depth":
        main = int(wc["n"]) == int(config["theory"]["n"])
        return "theory.truncation.widths" if main else "theory.truncation.second_n.widths"
    if rule == "theory_smooth_control":
        return "theory.truncation.smooth.widths"
    if rule == "train_cell":
        train = config["train"]
        for key in ("width", "depth"):
            if int(wc[key]) != int(train[key]):
                for study, spec in train["studies"].items():
                    if int(wc[key]) in spec.get(f"{key}s", []):
                        return f"train.studies.{study}.{key}s"
        return "train.width"
    return {
        "train_fixed_point": "train.fixed_point.width",
        "train_align": "train.alignment.families",
        "bridge_kernels": "bridge.n",
    }.get(rule, "train.width")  # train_tune, train_lr_sweep: the default size


def check_memory(config: dict, available: int | None = None) -> list[str]:
    """One line for a task, or else the heavy job, whose estimated memory exceeds its share of
    this machine's memory (``MEMORY_FRACTION`` per task, ``JOB_MEMORY_FRACTION`` per job),
    naming the config field that sizes it; [] when everything fits. ``config`` has its schema
    defaults filled in."""
    available = machine_memory_bytes() if available is None else available
    for name, spec in config.get("data", {}).get("tasks", {}).items():
        need = task_bytes(spec)
        if need > MEMORY_FRACTION * available:
            return [
                f"config error: data.tasks.{name}: needs about {need / 2**30:.1f} GiB "
                f"((n_train + n_test) x (d + 1) x {BYTES_PER_VALUE} bytes, and the generator's "
                f"weights), more than {MEMORY_FRACTION:.0%} of this machine's {available / 2**30:.1f} GiB"
            ]
    if "train" not in config or "theory" not in config:  # a partial config (tests)
        return []
    from . import costmodel
    from .catalogue import Catalogue

    laws = costmodel.load_laws(Path(__file__).resolve().parents[2] / costmodel.MODEL_FILE)
    heavy = [job for job in Catalogue(config).jobs if job.bench]
    if not heavy:
        return []
    need, job = max(((job_bytes(config, job, laws), job) for job in heavy), key=lambda pair: pair[0])
    if need <= JOB_MEMORY_FRACTION * available:
        return []
    where = memory_field(config, job)
    name = job.bench.removeprefix("benchmarks/").removesuffix(".tsv")  # the job's log name
    return [
        f"config error: {where}: {_lookup(config, where)} needs ~{need / 2**30:.1f} GiB in job "
        f"{name}, more than {JOB_MEMORY_FRACTION:.0%} of this machine's {available / 2**30:.1f} GiB"
    ]
