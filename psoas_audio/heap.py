"""glibc's heap, kept small: what the memory target needs on Linux (elsewhere: nothing).

A build's threads (engines' workers, the parts' renderers, the meter's relay) each got an arena
of their own, and freed numpy blocks stayed in them: a 30-minute cold build encoded in parts
peaked at 116 MB with them, 100 MB with one arena for all, in the same time. And the loudness
search frees thousands of small per-clip arrays that glibc would keep for reuse through the
whole encode.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys

_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    with contextlib.suppress(OSError):
        return ctypes.CDLL("libc.so.6")
    return None


def one_arena() -> None:
    """Every thread allocates from the main arena; call before the threads start. For the
    command line and its workers only: a library should not change its host's heap."""
    libc = _libc()
    with contextlib.suppress(AttributeError):
        if libc is not None:
            libc.mallopt(_M_ARENA_MAX, 1)


def give_back() -> None:
    """Hand freed heap back to the system (the loudness search's leftovers: about 20 MB)."""
    libc = _libc()
    with contextlib.suppress(AttributeError):
        if libc is not None:
            libc.malloc_trim(0)
