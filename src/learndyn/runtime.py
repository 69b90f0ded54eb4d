"""Run-time helpers shared by every job that runs torch: device and thread selection, timing."""

from __future__ import annotations

import sys
import time

import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """Map a config value to a torch device: ``auto`` is CUDA when present, else CPU."""
    if name not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA device")
    return torch.device(name)


def setup_torch(threads: int, device: str = "auto", deterministic: bool = True) -> torch.device:
    """Match torch's intra-op threads to the job's ``threads:`` and make CPU runs reproducible."""
    torch.set_num_threads(max(1, int(threads)))
    if deterministic:
        use_deterministic_algorithms()
    return resolve_device(device)


def use_deterministic_algorithms() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` without its import of
    ``torch._inductor.config``, which drags in TorchDynamo: 1.6 s of every job's start on 2 cores
    (py-spy of a quick-profile tuning job: a third of its wall time). That import only serves to
    set inductor's own flag, read by ``torch.compile``, which the project never calls; the flag
    is still set when inductor is already loaded. The global flag that eager kernels read is the
    same one the public function sets, so no number changes."""
    set_flag = getattr(torch._C, "_set_deterministic_algorithms", None)
    if set_flag is None:  # a torch without the private setter: take the import
        torch.use_deterministic_algorithms(True, warn_only=True)
        return
    set_flag(True, warn_only=True)
    inductor = sys.modules.get("torch._inductor.config")
    if inductor is not None:
        inductor.deterministic = True


def release_memory() -> None:
    """Return the free heap memory of this process to the operating system (glibc
    ``malloc_trim``; a no-op elsewhere). Training allocates activation buffers of many sizes
    and glibc keeps the freed ones: a width-256 cell's resident memory grew by ~1 GiB over 1000
    steps without it (2.3 GiB peak) and stays near 1.2 GiB with a trim at every evaluation, at no
    measurable cost. Memory management only: no number changes."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
    except OSError:
        pass


def timed(fn, *args):
    """(fn(*args), wall seconds): costs are recorded next to the results they produced."""
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0
