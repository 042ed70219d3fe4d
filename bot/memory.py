"""Process-wide memory setting: how many malloc arenas glibc may create (set once, early)."""

from __future__ import annotations

import ctypes
import os

# glibc's mallopt() parameter number for the arena cap (malloc.h: M_ARENA_MAX).
_M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas, as ``MALLOC_ARENA_MAX`` would, unless the environment sets it.

    Every thread that allocates (the database driver's, the executor's) otherwise gets an arena
    of its own, up to eight per core, and memory freed in one is not reused by the others: the
    resident size crept up a few MB per busy poll round (bench/README.md). Returns whether the
    cap was applied; elsewhere than glibc it is a no-op. Best called before threads start.
    """
    if arenas < 1:
        raise ValueError(f"arenas must be at least 1, got {arenas}")
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False  # the operator chose
    try:
        libc = ctypes.CDLL(None)  # the symbols already loaded into this process, libc among them
    except OSError:
        return False
    # glibc only: musl's mallopt accepts the call and does nothing.
    if not (hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallopt")):
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))
