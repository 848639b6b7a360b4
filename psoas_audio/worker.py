"""A batch's worker: builds the routines its parent sends, one at a time (see batch.py).

It speaks with its parent over its own stdin and stdout (anything else that prints goes to
stderr), asks the parent for an engine slot before starting a speech engine, and stops what it
is doing when it is sent SIGTERM or its parent is gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from typing import IO, Any


def main() -> None:
    _idle()
    from .heap import one_arena

    one_arena()  # before any thread starts
    wire_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # prints (pyttsx3's among them) must not reach the wire
    wire_in = sys.stdin.buffer
    from .batch import read_frame, write_frame

    setup = read_frame(wire_in)
    if not setup or setup[0] != "setup":
        return
    _, sys_path, registry, options, parent = setup
    sys.path[:] = sys_path
    from .speech import process
    from .speech.engine import ENGINES

    ENGINES.update(registry)  # tests add fake engines at run time
    process.share_engine_slots(_ParentSlots(wire_in, wire_out))
    _watch_parent(parent)
    while True:
        message = read_frame(wire_in)
        if message is None or message[0] == "quit":
            return
        if message[0] == "slot":  # granted after the routine that asked was interrupted
            write_frame(wire_out, ("slot", "give"))
            continue
        _, index, job = message
        outcome = _build_one(index, job, options, wire_out)
        try:
            write_frame(wire_out, ("done", (index, outcome)))
        except OSError:
            return  # the parent is gone
        if outcome.interrupted:
            return  # stopped: the batch is over


def _build_one(index: int, job: Any, options: Any, wire_out: IO[bytes]) -> Any:
    from . import interrupts, pipeline
    from .batch import Outcome
    from .errors import PsoasError

    started = time.monotonic()
    interrupts.install()  # busy: SIGTERM stops this build, which cleans up after itself
    try:
        source = pipeline.check(job.path, options)
        built = pipeline.build(source, job.target, options, _Reporter(index, wire_out), job.place)
        return Outcome(job, built, None, time.monotonic() - started)
    except PsoasError as exc:
        message = str(exc)
        if not message.startswith(str(job.path)):  # say which routine it was about
            message = f"{job.path}: {message}"
        return Outcome(job, None, message, time.monotonic() - started)
    except KeyboardInterrupt:
        return Outcome(job, None, "interrupted", time.monotonic() - started, interrupted=True)
    finally:
        interrupts.finish()
        _idle()


def _idle() -> None:
    """Between routines, SIGTERM just ends the worker; Ctrl-C is the parent's business."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))


class _Reporter:
    """A Reporter in a worker: every call goes home as an event."""

    def __init__(self, index: int, wire_out: IO[bytes]) -> None:
        self.index, self.wire_out = index, wire_out

    def _send(self, method: str, *args: object) -> None:
        from .batch import write_frame

        with contextlib.suppress(OSError):  # the parent is gone; the watcher stops this build
            write_frame(self.wire_out, ("event", (self.index, method, args)))

    def start(self, stage: str, total: int) -> None:
        self._send("start", stage, total)

    def update(self, done: int) -> None:
        self._send("update", done)

    def notice(self, message: str) -> None:
        self._send("notice", message)

    def speaking(self, voice: str, pace: float) -> None:
        self._send("speaking", voice, pace)

    def written(self, path: Any) -> None:
        self._send("written", path)


class _ParentSlots:
    """Engine slots held by the parent, asked for over the wire."""

    def __init__(self, wire_in: IO[bytes], wire_out: IO[bytes]) -> None:
        self.wire_in, self.wire_out = wire_in, wire_out

    def acquire(self, blocking: bool = True) -> bool:
        """A slot: waiting for one, or (not blocking) only if one is free this moment."""
        from .batch import read_frame, write_frame

        write_frame(self.wire_out, ("slot", "take" if blocking else "try"))
        while True:
            message = read_frame(self.wire_in)
            if message is None:
                raise KeyboardInterrupt  # the parent is gone: stop
            if message[0] == "slot":
                return bool(message[1])

    def release(self) -> None:
        from .batch import write_frame

        with contextlib.suppress(OSError):
            write_frame(self.wire_out, ("slot", "give"))


def _watch_parent(parent: int) -> None:
    """If the parent dies (kill -9), stop: nobody would hear of what this builds. Its pid
    comes from the parent itself: one that died while this was still starting had already
    made this an orphan, and getppid() then would have watched the wrong process."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()


if __name__ == "__main__":
    main()
