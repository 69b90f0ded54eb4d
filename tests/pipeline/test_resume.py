"""Faults: a training job killed with SIGKILL mid-way resumes from its checkpoint and gives
results identical to an uninterrupted run; nothing half-written is left as an output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from conftest import copy_checkout

from learndyn.reproduce import diff_results

CELL = "results/train/fashion_mnist_2k/structured/L4_W32.nc"
CHECKPOINT = "checkpoints/train/fashion_mnist_2k/structured/L4_W32.pt"
KILL_TIMEOUT_S = 240


def kill_config(workdir: Path) -> str:
    """The quick profile with a longer cell that checkpoints every 20 steps."""
    cfg = yaml.safe_load((workdir / "config" / "quick.yaml").read_text())
    cfg["train"]["optim"].update(steps=600, checkpoint_every=20)
    (workdir / "config" / "kill.yaml").write_text(yaml.safe_dump(cfg))
    return "config/kill.yaml"


def snakemake_cmd(cfg):
    return [sys.executable, "-m", "snakemake", CELL, "--cores", "2", "--configfile", cfg]


def test_kill_and_resume_gives_identical_results(tmp_path):
    reference = copy_checkout(tmp_path / "reference")
    cfg = kill_config(reference)
    subprocess.run(snakemake_cmd(cfg), cwd=reference, check=True, capture_output=True)

    killed = copy_checkout(tmp_path / "killed")
    kill_config(killed)
    proc = subprocess.Popen(
        snakemake_cmd(cfg),
        cwd=killed,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + KILL_TIMEOUT_S
    checkpoint = killed / CHECKPOINT
    while not checkpoint.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert checkpoint.exists(), "training never wrote a checkpoint before finishing"
    time.sleep(1.0)  # let it run past the first checkpoint
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / CELL).exists(), "a killed job left its output looking finished"

    # the README command again; a stale lock from the killed process is removed with --unlock
    rerun = subprocess.run(snakemake_cmd(cfg), cwd=killed, capture_output=True, text=True)
    if rerun.returncode != 0 and "unlock" in rerun.stderr + rerun.stdout:
        subprocess.run([*snakemake_cmd(cfg), "--unlock"], cwd=killed, check=True, capture_output=True)
        rerun = subprocess.run(snakemake_cmd(cfg), cwd=killed, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    log = (killed / "logs/train/fashion_mnist_2k/structured/L4_W32.log").read_text()
    assert "resum" in log.lower(), "the rerun did not resume from the checkpoint"
    assert not checkpoint.exists(), "checkpoint left behind after completion"
    problems = diff_results(reference, killed)
    assert not problems, "\n".join(problems)
