"""The run-time helpers: the deterministic switch is the same as torch's public one, and cheap;
the allocator keeps freed memory and trims it only after real growth."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

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


ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"  # the checkout under test, not whichever learndyn is installed
RULES, SCRIPTS = ROOT / "workflow" / "rules", ROOT / "workflow" / "scripts"


def python(code: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter that imports this checkout's ``learndyn``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def test_deterministic_switch_does_not_import_torchdynamo():
    """The public torch function imports torch._inductor (and TorchDynamo): 1.6 s per job."""
    code = (
        "import sys, torch; from learndyn.runtime import use_deterministic_algorithms as u; u(); "
        "assert torch.are_deterministic_algorithms_enabled(); "
        "assert torch.is_deterministic_algorithms_warn_only_enabled(); "
        "print('torch._inductor.config' in sys.modules, 'torch._dynamo' in sys.modules)"
    )
    out = python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def rule_scripts() -> dict[str, bool]:
    """``{script: has a benchmark}`` over every rule of ``workflow/rules``. Expensive rules (training,
    integration, kernels) carry ``benchmark:`` (CONTRIBUTING, Rules); the others only read datasets
    and write tables, figures, macros or the paper."""
    found: dict[str, bool] = {}
    for smk in sorted(RULES.glob("*.smk")):
        for block in re.split(r"^\s*rule\b", smk.read_text(), flags=re.M)[1:]:
            script = re.search(r"^\s*script:\s*\n\s*f?\"\.\./scripts/(\w+\.py)\"", block, re.M)
            if script:
                heavy = re.search(r"^\s*benchmark:", block, re.M) is not None
                found[script[1]] = found.get(script[1], False) or heavy
    return found


# Jobs that only read datasets and write tables, figures or the paper: importing torch would add
# ~1.5 s to each of them (a quarter of a small job's wall time on 2 cores).
TORCH_FREE_SCRIPTS = sorted(name for name, heavy in rule_scripts().items() if not heavy)
# Known offenders, fixed on their own branch: remove the entry when the fix is merged (strict).
TORCH_STILL_IMPORTED: dict[str, str] = {}


def script_imports(name: str) -> str:
    """The import statements a script runs at its start (module level, in order), as source."""
    tree = ast.parse((SCRIPTS / name).read_text(), filename=name)
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return ast.unparse(ast.Module(body=imports, type_ignores=[]))


def test_torch_free_scripts_are_the_report_jobs():
    """The derivation finds the report-only jobs and none of the training or integration ones."""
    scripts = rule_scripts()
    assert set(scripts) == {p.name for p in SCRIPTS.glob("*.py")}, "a script without a rule"
    assert {"train_claims.py", "train_collect.py", "paper_figures.py", "paper_macros.py"} <= set(
        TORCH_FREE_SCRIPTS
    )
    assert not {"train_cell.py", "train_tune.py", "theory_truncation.py"} & set(TORCH_FREE_SCRIPTS)
    assert set(TORCH_STILL_IMPORTED) <= set(TORCH_FREE_SCRIPTS)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=TORCH_STILL_IMPORTED[n]))
        if n in TORCH_STILL_IMPORTED
        else n
        for n in TORCH_FREE_SCRIPTS
    ],
)
def test_report_job_does_not_import_torch(name):
    """Runs exactly the script's own import statements in a fresh interpreter (what its job
    loads before its first call, through every module they import) with a stand-in
    ``snakemake`` object, then looks for torch in ``sys.modules``. ``provenance.library_files``
    is not the list to use: it also follows imports inside functions, which only some jobs reach."""
    code = (
        "import sys, types\n"
        "snakemake = types.SimpleNamespace(input={}, output={}, params={}, log=['/dev/null'], "
        "threads=1, config={})\n"
        f"{script_imports(name)}\n"
        "print('torch' in sys.modules)\n"
        "print(sorted(m for m in sys.modules if m.startswith('learndyn')))\n"
    )
    out = python(code)
    assert out.returncode == 0, out.stderr
    loaded, modules = out.stdout.splitlines()
    assert loaded == "False", f"{name} imports torch; the learndyn modules it loads: {modules}"
