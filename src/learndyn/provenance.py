"""Provenance attributes attached to every dataset, table and figure.

Attributes are plain strings/numbers so they survive the netCDF round trip; the resolved
config is stored as canonical JSON text next to its sha256.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "learndyn",
    "numpy",
    "torch",
    "xarray",
    "netCDF4",
    "scipy",
    "pandas",
    "matplotlib",
    "seaborn",
    "snakemake",
)


def canonical_json(obj) -> str:
    """Key-sorted, whitespace-free JSON: the text whose hash identifies a config."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(config: dict) -> str:
    """sha256 of the canonical JSON of the resolved config."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


@cache
def git_state(repo: str | None = None) -> tuple[str, bool]:
    """(commit, dirty) of the checkout holding this package; ("unknown", True) outside git."""
    cwd = repo or str(Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return commit, bool(status.strip())
    except (OSError, subprocess.CalledProcessError):
        return "unknown", True


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def provenance_attrs(config: dict | None = None, seeds=None) -> dict[str, str | int]:
    """Attributes recording where an artifact came from (commit, config, versions, seeds)."""
    commit, dirty = git_state()
    attrs: dict[str, str | int] = {
        "git_commit": commit,
        "git_dirty": int(dirty),
        "python": platform.python_version(),
        "package_versions": canonical_json(package_versions()),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if config is not None:
        attrs["config_sha256"] = config_hash(config)
        attrs["config_json"] = canonical_json(config)
    if seeds is not None:
        attrs["seeds"] = canonical_json([int(s) for s in seeds])
    return attrs


# --- which config built which results (results/run_config.json) -------------------------------


def read_run_record(path: str | Path) -> dict[str, dict]:
    """The run record: ``{config sha256: {"configfiles": [...], "outputs": [...]}}``, each output
    under the config of the last successful run whose jobs include it; {} without a record. The
    older one-config form (no outputs) reads as that config owning every file (``outputs`` None)."""
    try:
        record = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    if "config_sha256" in record:
        return {record["config_sha256"]: {"configfiles": record["configfiles"], "outputs": None}}
    return record


def add_run(record: dict[str, dict], sha: str, configfiles: list[str], outputs) -> dict[str, dict]:
    """The record after a successful run of config ``sha`` whose jobs (run or found up to date
    by Snakemake for this config) have ``outputs``: they move to ``sha``; a config left with no
    output drops out (a partial run with another config claims only what its jobs made)."""
    outputs = set(outputs)
    new = {}
    for key, entry in record.items():
        if key == sha:
            continue
        kept = None if entry["outputs"] is None else sorted(set(entry["outputs"]) - outputs)
        if kept is None or kept:
            new[key] = {"configfiles": entry["configfiles"], "outputs": kept}
    mine = set(record.get(sha, {}).get("outputs") or ()) | outputs
    new[sha] = {"configfiles": list(configfiles), "outputs": sorted(mine)}
    return new


def builders(record: dict[str, dict], paths) -> dict[str, list[str]]:
    """Which config built each of ``paths``: sha -> its paths among them. A path the record does
    not list goes to an older-form entry (which owns every file), else is left out."""
    owner = {p: sha for sha, entry in record.items() for p in entry["outputs"] or ()}
    rest = next((sha for sha, entry in record.items() if entry["outputs"] is None), None)
    found: dict[str, list[str]] = {}
    for path in paths:
        sha = owner.get(path, rest)
        if sha is not None:
            found.setdefault(sha, []).append(path)
    return found


def describe_config(configfiles, sha: str, files: int | None = None) -> str:
    """``config/quick.yaml (sha256 1a2b3c4d; 212 files)``: a run's config files, its hash's prefix
    and, given ``files``, how many files of the tree it built."""
    count = "" if files is None else f"; {files} file{'s' * (files != 1)}"
    return f"{' '.join(configfiles) or 'the default config'} (sha256 {sha[:8]}{count})"


def live_snakemake(root: str | Path) -> list[int] | None:
    """Pids of the Snakemake processes (or their jobs) working in ``root``, other than this one
    and its parents: whether a lock in ``root/.snakemake/locks`` is held by a live run. Read from
    /proc; None where there is none to read."""
    import os

    proc, root = Path("/proc"), Path(root).resolve()
    if not (proc / "self" / "stat").exists():
        return None
    mine, pid = set(), os.getpid()
    while pid > 1 and pid not in mine:
        mine.add(pid)
        try:  # the parent's pid: the field after the state, after the command name's ")"
            pid = int((proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            command, cwd = (entry / "cmdline").read_bytes(), Path(os.readlink(entry / "cwd"))
        except OSError:  # ended meanwhile, or another user's
            continue
        if b"snakemake" in command and cwd == root:
            found.append(int(entry.name))
    return sorted(found)


# --- which library files a script runs ---------------------------------------------------------


def _module_file(src: Path, module: str) -> Path | None:
    """The file of ``learndyn.x.y`` under ``src`` (a module or a package's __init__)."""
    base = src.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@cache
def _imports(path: Path, src: Path) -> frozenset[str]:
    """``learndyn`` modules imported by ``path`` (absolute or relative, at any depth), each
    with its parent packages (their __init__ runs on import)."""
    import ast

    module = ".".join(path.relative_to(src).with_suffix("").parts) if path.is_relative_to(src) else ""
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([base] if base else [])])
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        for name in names:
            if name.split(".")[0] == "learndyn":
                parts = name.split(".")
                found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return found


@cache
def library_files(script: str | Path, src: str | Path) -> tuple[str, ...]:
    """Every file of the ``learndyn`` library under ``src`` that ``script`` imports, directly
    or through other library modules: the library inputs of a workflow rule, so editing a
    module reruns exactly the rules whose scripts run it. Paths as given by ``src``."""
    src = Path(src)
    todo = [Path(script)]
    files: set[Path] = set()
    while todo:
        for name in _imports(todo.pop(), src):
            path = _module_file(src, name)
            if path is not None and path not in files:
                files.add(path)
                todo.append(path)
    return tuple(sorted(str(p) for p in files))
