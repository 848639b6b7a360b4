"""Many routines at once: each built in a worker process, progress sent home, a broken routine
reported while the others still build, and a playlist of the tracks.

Workers are plain child processes (`python -m psoas_audio.worker`) in sessions of their own,
fed one job at a time over a pipe: a terminal's Ctrl-C reaches only this process, which then
stops them all by SIGTERM and waits for each to clean up and answer. A worker that dies is one
failed routine, not a broken batch; a worker whose parent dies stops what it is doing.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from . import files, pipeline
from .speech.engine import ENGINES

PLAYLIST = "playlist.m3u"
STOP_SECONDS = 60.0  # how long stopped workers get to clean up before they are killed


@dataclass(frozen=True)
class Job:
    path: Path  # the routine
    target: Path  # its MP3
    place: pipeline.Place | None = None


@dataclass(frozen=True)
class Outcome:
    job: Job
    built: pipeline.Built | None  # None when it failed or was interrupted
    error: str | None  # the whole message, FILE:LINE:COL lines and all
    elapsed: float  # seconds of wall time
    interrupted: bool = False

    @property
    def size(self) -> int:
        return self.job.target.stat().st_size if self.built else 0


ReporterFor = Callable[[int], pipeline.Reporter]


def build_all(
    jobs: Sequence[Job], options: pipeline.Options, workers: int, reporter_for: ReporterFor
) -> list[Outcome]:
    """Build every job, at most `workers` at a time and engines never more than the cores.

    An interrupt stops every worker, each cleaning up after itself, and is raised here once
    they have all answered (so that what was written is known and reported).
    """
    inbox: queue.Queue[tuple[int, str, Any]] = queue.Queue()
    slots = _EngineSlots(os.cpu_count() or 1)
    count = max(1, min(workers, len(jobs)))
    one_core = replace(options, cores=1)  # --jobs builds at once, each on one core
    crew = [_Worker(number, inbox, one_core, slots) for number in range(count)]
    outcomes: dict[int, Outcome] = {}
    waiting = list(enumerate(jobs))
    busy: dict[int, tuple[int, float]] = {}  # worker -> (job index, started)
    try:
        for worker in crew:
            _dispatch(worker, waiting, busy)
        while len(outcomes) < len(jobs):
            number, kind, payload = _next(inbox)
            worker = crew[number]
            if kind == "event":
                index, method, args = payload
                getattr(reporter_for(index), method)(*args)
            elif kind == "slot":
                slots.answer(worker, payload)
            elif kind == "done":
                busy.pop(number, None)
                index, outcome = payload
                outcomes[index] = outcome
                _dispatch(worker, waiting, busy)
            elif kind == "gone" and number in busy:  # it died mid-routine: that routine failed
                index, started = busy.pop(number)
                why = f"{jobs[index].path}: the worker building it stopped unexpectedly"
                outcomes[index] = Outcome(jobs[index], None, why, time.monotonic() - started)
                slots.release_all(worker)
                crew[number] = worker = _Worker(number, inbox, options, slots)
                _dispatch(worker, waiting, busy)
    except KeyboardInterrupt:
        _stop(crew, inbox, reporter_for, slots)
        raise
    finally:
        for worker in crew:
            worker.close()
    return [outcomes[index] for index in range(len(jobs))]


def write_playlist(folder: Path, outcomes: Sequence[Outcome]) -> Path | None:
    """playlist.m3u beside the MP3s, in the routines' order, with relative paths."""
    built = [outcome.built for outcome in outcomes if outcome.built]
    if not built:
        return None
    lines = ["#EXTM3U"]
    for track in built:
        label = f"{track.artist} - {track.title}" if track.artist else track.title
        lines.append(f"#EXTINF:{round(track.seconds)},{label}")
        relative = os.path.relpath(track.output, folder).replace(os.sep, "/")
        lines.append(f"./{relative}" if relative.startswith("#") else relative)  # not a comment
    files.write_all([(folder / PLAYLIST, files.M3U, ("\n".join(lines) + "\n").encode())])
    return folder / PLAYLIST


# -- the workers, as seen from home ------------------------------------------------------------


class _Worker:
    """One child process and the thread that brings its messages home."""

    def __init__(
        self, number: int, inbox: queue.Queue[tuple[int, str, Any]], options: pipeline.Options,
        slots: _EngineSlots,
    ) -> None:  # fmt: skip
        self.number = number
        session = {"start_new_session": True} if os.name == "posix" else {}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "psoas_audio.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, **session,  # type: ignore[call-overload]
        )  # fmt: skip
        self._send(("setup", sys.path, dict(ENGINES), options, os.getpid()))
        threading.Thread(target=self._relay, args=(inbox,), daemon=True).start()

    def run(self, index: int, job: Job) -> None:
        self._send(("job", index, job))

    def grant(self, granted: bool) -> None:
        self._send(("slot", granted))

    def _send(self, message: object) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            write_frame(self.process.stdin, message)

    def _relay(self, inbox: queue.Queue[tuple[int, str, Any]]) -> None:
        assert self.process.stdout is not None
        while True:
            message = read_frame(self.process.stdout)
            if message is None:
                inbox.put((self.number, "gone", None))
                return
            kind, payload = message
            inbox.put((self.number, kind, payload))

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.process.send_signal(signal.SIGTERM)

    def close(self) -> None:
        self._send(("quit",))
        if self.process.stdin:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class _EngineSlots:
    """Engine processes across all workers never outnumber the cores: workers ask for a slot
    before starting an engine and give it back when it is closed."""

    def __init__(self, count: int) -> None:
        self.free = count
        self.held: dict[int, int] = {}
        self.asking: list[_Worker] = []

    def answer(self, worker: _Worker, request: str) -> None:
        if request == "try":  # a slot now, or none: a build's extra engines never wait
            granted = bool(self.free) and not self.asking
            if granted:
                self.free -= 1
                self.held[worker.number] = self.held.get(worker.number, 0) + 1
            worker.grant(granted)
            return
        if request == "take":
            self.asking.append(worker)
        elif self.held.get(worker.number):
            self.free += 1
            self.held[worker.number] -= 1
        while self.free and self.asking:
            asker = self.asking.pop(0)
            self.free -= 1
            self.held[asker.number] = self.held.get(asker.number, 0) + 1
            asker.grant(True)

    def release_all(self, worker: _Worker) -> None:
        self.free += self.held.pop(worker.number, 0)
        self.asking = [asker for asker in self.asking if asker is not worker]


def _dispatch(
    worker: _Worker, waiting: list[tuple[int, Job]], busy: dict[int, tuple[int, float]]
) -> None:
    if waiting:
        index, job = waiting.pop(0)
        busy[worker.number] = (index, time.monotonic())
        worker.run(index, job)


def _next(inbox: queue.Queue[tuple[int, str, Any]]) -> tuple[int, str, Any]:
    while True:  # a timeout, so that Ctrl-C is acted on at once
        with contextlib.suppress(queue.Empty):
            return inbox.get(timeout=0.2)


def _stop(
    crew: list[_Worker],
    inbox: queue.Queue[tuple[int, str, Any]],
    reporter_for: ReporterFor,
    slots: _EngineSlots,
) -> None:
    """Stop every worker and pass on what they report while they clean up (what they wrote)."""
    for worker in crew:
        worker.stop()
    deadline = time.monotonic() + STOP_SECONDS
    running = {worker.number for worker in crew if worker.process.poll() is None}
    while running and time.monotonic() < deadline:
        try:
            number, kind, payload = inbox.get(timeout=0.2)
        except queue.Empty:
            running = {n for n in running if crew[n].process.poll() is None}
            continue
        if kind == "event":
            index, method, args = payload
            if method == "written":
                reporter_for(index).written(*args)
        elif kind == "slot":
            slots.answer(crew[number], payload)
        elif kind == "gone":
            running.discard(number)


# -- the wire between them ---------------------------------------------------------------------


def write_frame(stream: IO[bytes], message: object) -> None:
    data = pickle.dumps(message)
    stream.write(len(data).to_bytes(8, "little") + data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """The next message, or None once the other end has gone."""
    head = _read_exactly(stream, 8)
    if head is None:
        return None
    body = _read_exactly(stream, int.from_bytes(head, "little"))
    return None if body is None else pickle.loads(body)


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        try:
            chunk = stream.read(left)
        except OSError:
            return None
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
