"""The run-time helpers: the deterministic switch is the same as torch's public one, and cheap;
the allocator keeps freed memory and trims it only after real growth."""

import subprocess
import sys

import pytest
import torch

from learndyn import runtime
from learndyn.runtime import resolve_device, setup_torch, use_deterministic_algorithms


def test_setup_torch_sets_threads_flags_and_device():
    import torch.utils.deterministic as deterministic

    before = (
        torch.get_num_threads(),
        torch.are_deterministic_algorithms_enabled(),
        deterministic.fill_uninitialized_memory,
    )
    try:
        assert setup_torch(1, "cpu") == torch.device("cpu")
        assert torch.get_num_threads() == 1
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert deterministic.fill_uninitialized_memory is False  # no NaN fill of new tensors
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1])
        deterministic.fill_uninitialized_memory = before[2]


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


class FakeLibc:
    def __init__(self):
        self.trims = 0

    def malloc_trim(self, pad):
        self.trims += 1


def test_release_memory_trims_only_after_growth(monkeypatch):
    """The first call sets the baseline; a trim needs growth_mib above the last trim's size."""
    libc, rss = FakeLibc(), [1000 << 20]
    monkeypatch.setattr(runtime, "_libc", lambda: libc)
    monkeypatch.setattr(runtime, "resident_bytes", lambda: rss[0])
    monkeypatch.setattr(runtime, "_trimmed_at", [])
    assert not runtime.release_memory(growth_mib=100)  # baseline 1000 MiB
    rss[0] = 1099 << 20
    assert not runtime.release_memory(growth_mib=100)
    rss[0] = 1100 << 20  # the trim reads 1100 MiB afterwards too: the new baseline
    assert runtime.release_memory(growth_mib=100) and libc.trims == 1
    rss[0] = 1199 << 20
    assert not runtime.release_memory(growth_mib=100) and libc.trims == 1
    rss[0] = 1200 << 20
    assert runtime.release_memory(growth_mib=100) and libc.trims == 2


def test_release_memory_trims_every_call_without_a_resident_size(monkeypatch):
    libc = FakeLibc()
    monkeypatch.setattr(runtime, "_libc", lambda: libc)
    monkeypatch.setattr(runtime, "resident_bytes", lambda: None)
    monkeypatch.setattr(runtime, "_trimmed_at", [])
    assert runtime.release_memory() and runtime.release_memory() and libc.trims == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc on Linux")
def test_allocator_settings_apply_and_resident_size_reads():
    """On this Linux/glibc machine mallopt accepts both thresholds; the resident size is positive."""
    assert runtime.keep_freed_memory()
    assert runtime.resident_bytes() > 0


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
