"""The run-time helpers: the deterministic switch is the same as torch's public one, and cheap."""

import subprocess
import sys

import pytest
import torch

from learndyn.runtime import resolve_device, setup_torch, use_deterministic_algorithms


def test_setup_torch_sets_threads_flags_and_device():
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        assert setup_torch(1, "cpu") == torch.device("cpu")
        assert torch.get_num_threads() == 1
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1])


def test_resolve_device_names_bad_value():
    with pytest.raises(ValueError, match="tpu"):
        resolve_device("tpu")


def test_deterministic_switch_does_not_import_torchdynamo():
    """The public torch function imports torch._inductor (and TorchDynamo): 1.6 s per job."""
    code = (
        "import sys, torch; from learndyn.runtime import use_deterministic_algorithms as u; u(); "
        "assert torch.are_deterministic_algorithms_enabled(); "
        "assert torch.is_deterministic_algorithms_warn_only_enabled(); "
        "print('torch._inductor.config' in sys.modules, 'torch._dynamo' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_deterministic_switch_sets_inductor_flag_when_loaded():
    import torch._inductor.config as inductor_config

    before = torch.are_deterministic_algorithms_enabled(), inductor_config.deterministic
    try:
        inductor_config.deterministic = False
        use_deterministic_algorithms()
        assert inductor_config.deterministic is True
    finally:
        torch.use_deterministic_algorithms(before[0])
        inductor_config.deterministic = before[1]


# Jobs that only read datasets and write tables, figures or the paper: importing torch would add
# ~1.5 s to each of them (a quarter of a small job's wall time on 2 cores).
TORCH_FREE_SCRIPTS = [
    "bridge_report.py",
    "data_summary.py",
    "data_task.py",
    "paper_arxiv.py",
    "paper_cost.py",
    "paper_figures.py",
    "paper_macros.py",
    "theory_summary.py",
    "theory_truncation_merge.py",
    "train_claims.py",
    "train_collect.py",
]


def test_report_jobs_do_not_import_torch():
    """What each script imports at its start (its module-level ``learndyn`` imports, and through
    them theirs). ``provenance.library_files`` is not the list to use: it also follows imports
    inside functions, which only some jobs reach."""
    import re
    from pathlib import Path

    scripts = Path(__file__).resolve().parents[1] / "workflow" / "scripts"
    mods = set()
    for name in TORCH_FREE_SCRIPTS:  # the union: torch-free together iff each one is
        found = re.findall(r"^(?:from|import) (learndyn[\w.]*)", (scripts / name).read_text(), re.M)
        assert found, name
        mods |= set(found)
    code = (
        f"import sys; [__import__(m) for m in {sorted(mods)!r}]; "
        "print([m for m in sys.modules if m.startswith('learndyn')] if 'torch' in sys.modules else 'free')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "free", f"torch is imported by one of these: {out.stdout}"
