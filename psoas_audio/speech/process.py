"""Runs an engine in a child process: a hung engine can be stopped, and its prints stay quiet."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from .. import interrupts
from ..errors import EngineError, PsoasError
from .engine import create_engine

START_SECONDS = 20.0  # the least an engine process is given to start
_slots: Any = None  # a semaphore shared by a batch's workers: engines never outnumber cores


def share_engine_slots(slots: Any) -> None:
    """Make every EngineProcess of this process take one of these slots while it lives."""
    global _slots
    _slots = slots


class EngineStartError(EngineError):
    """The engine could not start at all (not installed, or broken): nothing was spoken."""


class NoFreeCore(EngineError):
    """Every core already has an engine (in a batch): this extra one is not started."""


class EngineProcess:
    """One engine in one child process, called synchronously with a timeout per call."""

    def __init__(
        self, name: str, path: str, timeout: float, *, wait: bool = True, ready: bool = True
    ) -> None:
        """wait=False: in a batch, start only if a core is free now (else NoFreeCore);
        ready=False: return once the child is started, and let wait_ready() wait for its
        engine (several engines then boot at once, a core each).

        Started from the main thread, the child is born ignoring SIGINT: a terminal's Ctrl-C
        reaches the whole process group, and one landing while the child was still unpickling
        its start-up data made it print a traceback. (A blocked signal would not do: the child
        is started with every signal unblocked.) Its engine ignores SIGINT anyway. An
        interrupt of this process while it starts the child waits until the child has its
        start-up data: cut short there, the child was left without it and printed a traceback."""
        self.name, self.timeout = name, timeout
        self._closing = threading.Lock()  # a worker thread and the main thread may both close
        self._slot = _slots
        if self._slot is not None:
            if wait:
                self._slot.acquire()
            elif not self._slot.acquire(blocking=False):
                raise NoFreeCore(f"every core has a {name} engine already")
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(target=_serve, args=(child_conn, path), daemon=True)
        try:
            with interrupts.deferred(), _children_ignore_sigint():
                self._process.start()
            child_conn.close()
        except BaseException:
            self.close()
            raise
        if ready:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Wait until the engine has started; EngineStartError if it cannot. Starting is an
        interpreter's start-up and imports, which a busy machine can stretch to seconds: it
        may take START_SECONDS even when calls are held to less."""
        try:
            self.call("ready", timeout=max(self.timeout, START_SECONDS))
        except EngineError as exc:
            self.close()  # an engine that cannot start gives its slot back
            raise EngineStartError(str(exc)) from None
        except BaseException:
            self.close()
            raise

    def call(self, method: str, *args: Any, timeout: float | None = None, doing: str = "") -> Any:
        """Run engine.method(*args) in the child; EngineError if it fails, dies or hangs.

        timeout (default: the engine's) is how long this call may take; `doing` names the work
        in the message when it takes longer ("speaking 'Hold.'").
        """
        limit = self.timeout if timeout is None else timeout
        try:
            self._conn.send((method, args))
            if not self._conn.poll(limit):
                self.close()
                raise EngineError(
                    f"the {self.name} speech engine did not answer within {limit:.0f}s"
                    f"{' ' + doing if doing else ''} and was stopped"
                )
            status, value = self._conn.recv()
        except (EOFError, OSError):  # it died, or was closed by another thread meanwhile
            self.close()
            raise EngineError(f"the {self.name} speech engine crashed") from None
        if status == "error":
            raise EngineError(value)
        if status == "crash":  # not one of ours: say which engine, since the error cannot
            raise EngineError(f"the {self.name} speech engine failed: {value}")
        return value

    def close(self) -> None:
        """Stop the child; safe to call twice and from two threads at once (an interrupted
        build closes engines while their worker threads still wait on them)."""
        with self._closing:
            if self._process.pid is not None:  # it was started
                if self._process.is_alive():
                    self._process.kill()
                self._process.join(timeout=5)
            self._conn.close()
            if self._slot is not None:
                self._slot.release()
                self._slot = None

    def __enter__(self) -> EngineProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def _children_ignore_sigint() -> Iterator[None]:
    """SIGINT ignored for the few milliseconds a child takes to be started: an ignored signal
    stays ignored across exec, and Python keeps it so. Only the main thread may do this; a
    Ctrl-C in that moment reaches the child as nothing, and the parent does not see it."""
    if threading.current_thread() is not threading.main_thread() or os.name != "posix":
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _serve(conn: Connection, path: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # pyttsx3 prints "Audio saved to ..." per file
    try:
        engine = create_engine(path)
    except Exception as exc:
        known = isinstance(exc, PsoasError)
        status, message = (
            ("error", str(exc)) if known else ("crash", f"{type(exc).__name__}: {exc}")
        )
        _answer(conn, (status, message), wait=True)
        return
    while True:
        try:
            method, args = conn.recv()
        except (EOFError, OSError):
            return  # the build is over, or was killed: nothing to say to anyone
        try:
            reply = ("ok", None if method == "ready" else getattr(engine, method)(*args))
        except PsoasError as exc:
            reply = ("error", str(exc))
        except Exception as exc:
            reply = ("crash", f"{type(exc).__name__}: {exc}")
        if not _answer(conn, reply):
            return


def _answer(conn: Connection, reply: tuple[str, Any], wait: bool = False) -> bool:
    """Send a reply (after the first request, if wait); False once the parent is gone."""
    try:
        if wait:
            conn.recv()
        conn.send(reply)
    except (EOFError, OSError):
        return False
    return True
