"""ffmpeg as a child process that can never hang a build: its own process group, its messages
in a file (never a pipe a stray grandchild could hold open), and a time limit on everything.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import IO, Any

from . import interrupts
from .errors import EncodeError

WRITE_FAILURES = ("Error writing trailer", "No space left on device")
STALL_SECONDS = 60.0  # ffmpeg taking no audio for this long is hung
FINISH_SECONDS = 30.0  # after the last sample, for the tail of the file; plus its share below
SECONDS_PER_AUDIO_SECOND = 0.02  # a 10-hour track may take 12 more minutes to finish or decode


def ffmpeg_path() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise EncodeError(
            "ffmpeg is not installed; on Debian/Ubuntu: sudo apt-get install ffmpeg "
            "(or run scripts/demo, which installs it)"
        )
    return path


def time_limit(audio_seconds: float) -> float:
    """How long ffmpeg may take to finish (or decode) a track of this length."""
    return FINISH_SECONDS + SECONDS_PER_AUDIO_SECOND * audio_seconds


def run(command: Sequence[str], audio_seconds: float, doing: str) -> str:
    """Run ffmpeg to the end and return what it printed; EncodeError if it fails or hangs."""
    with contextlib.ExitStack() as stack:
        child = _started(stack, command, doing, stdin=False)
        child.finish(time_limit(audio_seconds))
        return child.messages()


def feed(
    command: Sequence[str],
    chunks: Iterable[bytes],
    audio_seconds: float,
    doing: str,
    progress: Callable[[int], None] | None = None,
    reader: Sequence[str] | None = None,
    sink: Callable[[bytes], None] | None = None,
) -> None:
    """Stream chunks into ffmpeg's stdin, calling progress(bytes) as ffmpeg takes each one.

    With a reader, a second ffmpeg reads the first one's stdout as it is written (a decoder
    of the encoded stream, on another core) and sink() is given what it writes, in order. A
    write that blocks for STALL_SECONDS, or a finish that outlasts time_limit(), stops both
    and raises EncodeError.
    """
    with contextlib.ExitStack() as stack:
        child = _started(stack, command, doing, stdin=True, stdout=reader is not None)
        after = None
        if reader is not None and child.stdout is not None:
            after = _started(stack, reader, doing, stdin=child.stdout, stdout=sink or False)
            child.close_stdout()  # the reader holds it now: it sees the end when we finish
        for chunk in chunks:
            child.write(chunk)
            if progress:
                progress(len(chunk))
        child.finish(time_limit(audio_seconds))
        if after is not None:
            after.finish(time_limit(audio_seconds))


def feed_many(
    commands: Sequence[Sequence[str]],
    streams: Sequence[Iterable[bytes]],
    audio_seconds: float,
    doing: str,
    progress: Callable[[int], None] | None = None,
    reader: Sequence[str] | None = None,
    sinks: Sequence[Callable[[bytes], None]] = (),
) -> None:
    """Several encoders at once, each fed its stream by a thread of its own; progress(bytes)
    as they take them, all together, called from this thread.

    With a reader, each encoder's stdout goes to a reader of its own as it is written (a
    decoder, say), whose output goes to that encoder's sink. The first failure (or an
    interrupt) stops them all, and is raised here.
    """
    with contextlib.ExitStack() as stack:
        children = [
            _started(stack, command, doing, stdin=True, stdout=reader is not None)
            for command in commands
        ]
        readers: list[_Child] = []
        if reader is not None:
            for child, sink in zip(children, sinks, strict=True):
                readers.append(_started(stack, reader, doing, stdin=child.stdout, stdout=sink))
                child.close_stdout()  # the reader holds it now: it sees the end when we finish
        limit = time_limit(audio_seconds)
        stop = threading.Event()
        taken = [0] * len(commands)
        reported = 0
        failures: list[BaseException] = []

        def guarded(job: Callable[[], None]) -> Callable[[], None]:
            def run() -> None:
                try:
                    job()
                except BaseException as exc:  # handed to this thread, which raises it
                    failures.append(exc)
                    stop.set()

            return run

        def encode(index: int) -> None:
            for chunk in streams[index]:
                if stop.is_set():
                    return
                children[index].write(chunk)
                taken[index] += len(chunk)
            children[index].finish(limit)
            if readers:
                readers[index].finish(limit)

        threads = [
            threading.Thread(target=guarded(partial(encode, i)), daemon=True)
            for i in range(len(commands))
        ]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.1)
                    if progress and sum(taken) > reported:
                        progress(sum(taken) - reported)
                        reported = sum(taken)
                    if stop.is_set():
                        break
                if stop.is_set():
                    break
        finally:
            stop.set()
            # Leaving early (an interrupt, a failure): stop the children, so that no thread
            # waits on one, then let each thread end what it began (a cache write), as
            # render.ahead() does.
            if any(thread.is_alive() for thread in threads):
                for child in [*children, *readers]:
                    child.kill()
                for thread in threads:
                    if thread.ident is not None:
                        thread.join(timeout=10)
        if failures:
            raise failures[0]


def _started(stack: contextlib.ExitStack, command: Sequence[str], doing: str, **how: Any) -> _Child:
    """A child that is stopped as the stack unwinds, whenever an interrupt comes: one between
    starting it and handing it to the stack left an ffmpeg running that wrote its output file
    again after the build had removed it."""
    with interrupts.deferred():
        return stack.enter_context(_Child(command, doing, **how))


class _Child:
    def __init__(
        self,
        command: Sequence[str],
        doing: str,
        *,
        stdin: bool | IO[bytes],
        stdout: bool | Callable[[bytes], None] = False,
    ) -> None:
        """stdin: True for a pipe we write, False for none, or another child's stdout;
        stdout: True for a pipe another child reads, a function a thread of ours hands all
        it writes, in order (finish() waits for the last of it), or False for nothing."""
        self.doing = doing
        self._errors: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__
        self._process = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE if stdin is True else stdin or subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout is not False else subprocess.DEVNULL,
            stderr=self._errors,
            start_new_session=os.name == "posix",  # Ctrl-C reaches us, not ffmpeg
        )
        self.stdout = self._process.stdout
        self._writing_since: float | None = None
        self._stalled = False
        self._done = threading.Event()
        if stdin is True:
            threading.Thread(target=self._watch, daemon=True).start()
        self._drained: list[BaseException] = []  # what went wrong handing its output on
        self._drain: threading.Thread | None = None
        if callable(stdout):
            self._drain = threading.Thread(target=self._hand_on, args=(stdout,), daemon=True)
            self._drain.start()

    def _hand_on(self, sink: Callable[[bytes], None]) -> None:
        stream = self.stdout
        assert stream is not None
        try:
            while chunk := stream.read(1 << 16):
                sink(chunk)
        except BaseException as exc:  # raised by finish(), in the thread that waits for it
            self._drained.append(exc)
            self.kill()

    def close_stdout(self) -> None:
        if self.stdout is not None:
            self.stdout.close()

    def _watch(self) -> None:
        while not self._done.wait(0.25):
            since = self._writing_since
            if since is not None and time.monotonic() - since > STALL_SECONDS:
                self._stalled = True
                self.kill()
                return

    def write(self, chunk: bytes) -> None:
        assert self._process.stdin is not None
        self._writing_since = time.monotonic()
        try:
            self._process.stdin.write(chunk)
        except (BrokenPipeError, OSError):
            self._raise_failure()
        finally:
            self._writing_since = None

    def finish(self, limit: float) -> None:
        if self._process.stdin is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
        try:
            code = self._process.wait(limit)
        except subprocess.TimeoutExpired:
            self.kill()
            raise EncodeError(
                f"ffmpeg did not finish {self.doing} within {limit:.0f}s and was stopped"
            ) from None
        if code != 0 and not self._drained:
            self._raise_failure()
        if code == 0 and any(failure in self.messages() for failure in WRITE_FAILURES):
            self._raise_failure()  # ffmpeg 5.1 says so, and exits 0, when its last write fails
        if self._drain is not None:
            self._drain.join()  # the process has ended: the rest of its output is in the pipe
            if self._drained:
                raise self._drained[0]

    def _raise_failure(self) -> None:
        if not self._stalled:  # let it exit on its own, so that its message is written
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(5)
        self.kill()
        if self._stalled:
            raise EncodeError(
                f"ffmpeg stopped taking audio while {self.doing} (nothing for "
                f"{STALL_SECONDS:.0f}s) and was stopped"
            ) from None
        message = self.messages().strip().splitlines()
        detail = message[-1] if message else "no message"
        raise EncodeError(f"ffmpeg failed while {self.doing}: {detail}") from None

    def messages(self) -> str:
        self._errors.seek(0)
        return self._errors.read().decode(errors="replace")

    def kill(self) -> None:
        if self._process.poll() is not None:
            return
        try:
            if os.name == "posix":
                os.killpg(self._process.pid, signal.SIGKILL)  # grandchildren too
            else:
                self._process.kill()
        except OSError:
            pass
        self._process.wait()

    def __enter__(self) -> _Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self.kill()  # a no-op once it has finished; otherwise we are leaving early
        if self._process.stdin is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
        if self._drain is not None:
            self._drain.join(timeout=10)  # it reads to the end of a pipe no one else writes
        self._errors.close()
