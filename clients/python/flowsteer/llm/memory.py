"""Handing the heap back to the operating system after an update or a
burst of generation, and the resident-memory figures the policy logs."""

from __future__ import annotations

import gc


def _libc_malloc_trim():
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


_malloc_trim = _libc_malloc_trim()


def release_memory() -> int:
    """Hand the heap's free pages back to the operating system and return
    the resident set size in MiB (0 where /proc is missing).

    Why: an update allocates a few GiB of short-lived activations of ever
    different shapes from several threads; glibc keeps what they free in its
    arenas, so without a trim the process stays at its largest update's
    peak and, as shapes vary, creeps upward (a run grew to 23.7 GB). There
    is no library for this: it is one call into glibc's ``malloc_trim``."""
    gc.collect()
    if _malloc_trim is not None:
        _malloc_trim(0)
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def peak_rss_mib() -> int:
    """The process's peak resident set size so far, in MiB (Linux units)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
