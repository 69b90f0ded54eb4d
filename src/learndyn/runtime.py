"""Run-time helpers shared by every job that runs torch: device and thread selection, timing,
tensors to numpy."""

from __future__ import annotations

import sys
import time

import numpy as np
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
    """Match torch's intra-op threads to the job's ``threads:``, let the allocator reuse freed
    memory (``keep_freed_memory``) and make CPU runs reproducible."""
    torch.set_num_threads(max(1, int(threads)))
    keep_freed_memory()
    if deterministic:
        use_deterministic_algorithms()
    return resolve_device(device)


def use_deterministic_algorithms() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` without its import of
    ``torch._inductor.config``, which drags in TorchDynamo: 1.6 s of every job's start on 2 cores
    (py-spy of a quick-profile tuning job: a third of its wall time). That import only serves to
    set inductor's own flag, read by ``torch.compile``, which no job calls (only the training
    bench's compiled-kernel ceiling, which loads inductor before calling this); the flag
    is still set when inductor is already loaded. The global flag that eager kernels read is the
    same one the public function sets, so no number changes. New tensors are not NaN-filled
    (``torch.utils.deterministic.fill_uninitialized_memory``; see below)."""
    import torch.utils.deterministic

    set_flag = getattr(torch._C, "_set_deterministic_algorithms", None)
    if set_flag is None:  # a torch without the private setter: take the import
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        set_flag(True, warn_only=True)
        inductor = sys.modules.get("torch._inductor.config")
        if inductor is not None:
            inductor.deterministic = True
    # Deterministic mode also fills every new tensor with NaN, so that a read of uninitialised
    # memory would be reproducible. No job reads uninitialised memory (the quick profile's
    # results are identical with and without the fill), and the fill costs ~1 ms of a 20 ms
    # width-128 training step (the fused backward's buffers alone are 12 MB). torch documents
    # this switch for that trade.
    torch.utils.deterministic.fill_uninitialized_memory = False


# glibc ``mallopt`` parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_MIB = 32  # blocks up to this size come from the heap and are reused
TRIM_THRESHOLD_MIB = 256  # free memory glibc may keep at the top of the heap
TRIM_GROWTH_MIB = 256  # release_memory trims once the resident memory grew by this much


def _libc():
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def keep_freed_memory() -> bool:
    """Let glibc reuse freed tensor memory instead of handing it back to the kernel and faulting
    it in again at the next step (``mallopt``; a no-op without glibc; returns whether it applied).

    By default glibc serves blocks above a threshold that starts at 128 KiB by ``mmap`` and gives
    memory freed at the top of the heap back at once, so every training step's activations arrive
    in fresh pages: 1100-1800 minor page faults per step of a width-128 ensemble (5 members,
    batch 256), 10-15 % of its wall time. Blocks up to ``MMAP_THRESHOLD_MIB`` now come from the
    heap and up to ``TRIM_THRESHOLD_MIB`` of free memory stays there; ``release_memory`` bounds
    what fragmentation adds. Memory management only: no number changes."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_MIB << 20)
        and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_MIB << 20)
    )


def resident_bytes() -> int | None:
    """This process's resident memory (Linux ``/proc/self/statm``), None where unavailable."""
    import os

    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


_trimmed_at: list[int] = []  # resident bytes after the last trim (empty: none yet)


def release_memory(growth_mib: int = TRIM_GROWTH_MIB) -> bool:
    """Return the free heap memory of this process to the operating system (glibc
    ``malloc_trim``) once its resident memory has grown by ``growth_mib`` since the last trim
    (or since the first call); returns whether it trimmed. Training allocates activation
    buffers of many sizes and the heap fragments: a width-256 cell's resident memory grew by
    ~1 GiB over 1000 steps without a trim (2.3 GiB peak). Trimming at every evaluation bounded
    it but made the next steps fault every page in again (a width-128 run of 100 steps: 3.1 s
    instead of 2.7 s), so the trim now waits for real growth. Where the resident size cannot be
    read it trims every call. Memory management only: no number changes."""
    rss = resident_bytes()
    if rss is not None and not _trimmed_at:
        _trimmed_at.append(rss)
    if rss is not None and rss < _trimmed_at[0] + (growth_mib << 20):
        return False
    libc = _libc()
    if libc is None or not hasattr(libc, "malloc_trim"):
        return False
    libc.malloc_trim(0)
    after = resident_bytes()
    if after is not None:
        _trimmed_at[:] = [after]
    return True


def timed(fn, *args):
    """(fn(*args), wall seconds): costs are recorded next to the results they produced."""
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def to_numpy(x) -> np.ndarray:
    """A tensor (detached, moved to the CPU) or any array-like as a float64 numpy array of the
    same shape."""
    return x.detach().cpu().double().numpy() if torch.is_tensor(x) else np.asarray(x, dtype=float)
