"""How many malloc arenas the threads of a server process share (glibc)."""

from __future__ import annotations

import ctypes
import os

M_ARENA_MAX = -8
"""glibc's `mallopt` parameter for the most arenas (malloc.h)."""

ARENAS = 1
"""glibc gives each new thread an arena of its own, up to 8 per core, and an arena keeps the
memory it grew to. SQLite's connection threads (one per pooled connection on SQLite) and the
resolver's allocate little, but each arena held some hundred kilobytes: at 100 agent streams
on SQLite, 115-137 KiB per active session with glibc's default, 96-115 with two arenas and
73-86 with one, at the same CPU (architecture/0021; docs/performance.md, "Afternoon
session")."""


def cap_malloc_arenas(arenas: int) -> bool:
    """Let the process's threads share at most `arenas` malloc arenas (0: glibc's default).
    Call before threads start: arenas already made stay. Does nothing, returning False, where
    the C library is not glibc or the operator set `MALLOC_ARENA_MAX`, which glibc read at
    start."""
    if arenas == 0 or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return mallopt(M_ARENA_MAX, arenas) == 1
