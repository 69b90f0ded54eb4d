"""Shared fixtures of the tests: a copy of the checkout, one quick run per session, and the
smallest training settings of the unit tests that train a cell."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from learndyn.train.experiments import MeasureConfig
from learndyn.train.loop import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
QUICK = "config/quick.yaml"

# The smallest training cell's measurement and optimiser settings (unit tests that train one).
TINY_MEASURE = MeasureConfig(
    probe_samples=8,
    hessian_points=1,
    hessian_iters=2,
    jacobian_samples=2,
    robust_samples=8,
    noise_sigmas=(0.0,),
    fgsm_eps=(0.05,),
)
TINY_OPTIM = TrainConfig(steps=4, batch_size=8, eval_every=2)


def snakemake(workdir, *args, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", QUICK, *args],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def copy_checkout(dest: Path) -> Path:
    """The checkout's tracked and untracked-but-not-ignored files, committed in a fresh repo."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for rel in files:
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "test copy"], cwd=dest, check=True)
    return dest


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory):
    work = copy_checkout(tmp_path_factory.mktemp("e2e"))
    snakemake(work)
    return work


@pytest.fixture(scope="session")
def chromium():
    """The headless browser's executable; skips the test (before any workflow run) when absent."""
    from learndyn.browser import BrowserError, find_chromium

    try:
        return find_chromium()
    except BrowserError as err:
        pytest.skip(f"no headless browser: {err}")
