"""Provenance attributes attached to every dataset, table and figure.

Attributes are plain strings/numbers so they survive the netCDF round trip; the resolved
config is stored as canonical JSON text next to its sha256.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path

PACKAGES = ("learndyn", "numpy", "torch", "xarray", "netCDF4", "scipy", "pandas",
            "matplotlib", "seaborn", "snakemake")


def canonical_json(obj) -> str:
    """Key-sorted, whitespace-free JSON: the text whose hash identifies a config."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(config: dict) -> str:
    """sha256 of the canonical JSON of the resolved config."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


@lru_cache(maxsize=None)
def git_state(repo: str | None = None) -> tuple[str, bool]:
    """(commit, dirty) of the checkout holding this package; ("unknown", True) outside git."""
    cwd = repo or str(Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                                text=True, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=cwd, capture_output=True, text=True, check=True).stdout
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
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if config is not None:
        attrs["config_sha256"] = config_hash(config)
        attrs["config_json"] = canonical_json(config)
    if seeds is not None:
        attrs["seeds"] = canonical_json([int(s) for s in seeds])
    return attrs
