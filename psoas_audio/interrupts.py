"""Ctrl-C and SIGTERM as KeyboardInterrupt, held back while a finished file is put in place.

A signal that arrives inside `deferred()` is acted on as the block ends, so a rename and the
record that it happened are never split: what the user is told afterwards is the truth.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_depth = 0
_pending = False
_finished = False
_raised = False


def install() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt in the main thread, except inside deferred().

    Only once: a second signal while the first one's clean-up runs is ignored, so the
    clean-up (removing temporaries, stopping children) is never cut short.
    """
    global _finished, _raised
    _finished = _raised = False
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)


def finish() -> None:
    """The command is over and has reported what it did: a later signal changes nothing."""
    global _finished
    _finished = True


def _interrupt(signum: int, frame: FrameType | None) -> None:
    global _pending, _raised
    if _finished or _raised:
        return
    if _depth:
        _pending = True
        return
    _raised = True
    raise KeyboardInterrupt


@contextmanager
def deferred() -> Iterator[None]:
    """Run the block whole; an interrupt that came meanwhile is raised once it has finished."""
    global _depth, _pending, _raised
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
    if not _depth and _pending:
        _pending, _raised = False, True
        raise KeyboardInterrupt
