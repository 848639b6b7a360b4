"""Many routines at once: each built in a worker process of its own, progress sent home over a
queue, a broken routine reported while the others still build, and a playlist of the tracks.

Workers are processes, not threads: pyttsx3 keeps one engine per process, the leveling DSP
runs in Python, and a process can be interrupted and clean up after itself on its own.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import files, interrupts, pipeline
from .errors import PsoasError
from .speech import process
from .speech.engine import ENGINES

PLAYLIST = "playlist.m3u"


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

    An interrupt stops every worker, each cleaning up after itself, then is raised here once
    they have all answered (so that what was written is known and reported).
    """
    context = multiprocessing.get_context("spawn")
    events: Any = context.Queue()
    engines = context.BoundedSemaphore(os.cpu_count() or 1)
    stopping = context.Event()
    listener = threading.Thread(target=_relay, args=(events, reporter_for), daemon=True)
    listener.start()
    pool = ProcessPoolExecutor(
        max_workers=max(1, min(workers, len(jobs))),
        mp_context=context,
        initializer=_start_worker,
        initargs=(events, engines, stopping, dict(ENGINES)),
    )
    futures: list[Future[Outcome]] = [
        pool.submit(_build_one, index, job, options) for index, job in enumerate(jobs)
    ]
    try:
        outcomes = [future.result() for future in futures]
    except KeyboardInterrupt:
        stopping.set()  # a worker about to start another routine does not
        for pid in list(getattr(pool, "_processes", {}) or {}):
            _signal(pid, signal.SIGTERM)  # a busy worker treats it as Ctrl-C and cleans up
        pool.shutdown(wait=True, cancel_futures=True)
        _stop(events, listener)
        raise
    pool.shutdown(wait=True)
    _stop(events, listener)
    return outcomes


def write_playlist(folder: Path, outcomes: Sequence[Outcome]) -> Path | None:
    """playlist.m3u beside the MP3s, in the routines' order, with relative paths."""
    built = [outcome for outcome in outcomes if outcome.built]
    if not built:
        return None
    lines = ["#EXTM3U"]
    for outcome in built:
        assert outcome.built is not None
        track = outcome.built
        label = f"{track.artist} - {track.title}" if track.artist else track.title
        lines.append(f"#EXTINF:{round(track.seconds)},{label}")
        lines.append(os.path.relpath(outcome.job.target, folder).replace(os.sep, "/"))
    target = files.output_target(folder / PLAYLIST, files.M3U)
    with files.staged(target) as staged:
        staged.path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        staged.commit()
    return folder / PLAYLIST


# -- in the worker processes -------------------------------------------------------------------

_events: Any = None
_stopping: Any = None


def _start_worker(events: Any, engines: Any, stopping: Any, registry: dict[str, str]) -> None:
    """Idle, a worker ignores Ctrl-C (the parent decides) and leaves quietly on SIGTERM.

    It knows the engines its parent knows (tests add fake ones at run time).
    """
    global _events, _stopping
    _events, _stopping = events, stopping
    ENGINES.update(registry)
    process.share_engine_slots(engines)
    _idle()


def _idle() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(130))


def _build_one(index: int, job: Job, options: pipeline.Options) -> Outcome:
    started = time.monotonic()
    interrupts.install()  # busy: Ctrl-C or SIGTERM stops this build, which cleans up
    try:
        if _stopping.is_set():
            raise KeyboardInterrupt  # the batch was interrupted before this one began
        source = pipeline.check(job.path, options)
        built = pipeline.build(source, job.target, options, _QueueReporter(index), job.place)
        return Outcome(job, built, None, time.monotonic() - started)
    except PsoasError as exc:
        return Outcome(job, None, str(exc), time.monotonic() - started)
    except KeyboardInterrupt:
        return Outcome(job, None, "interrupted", time.monotonic() - started, interrupted=True)
    finally:
        interrupts.finish()
        _idle()


class _QueueReporter:
    """A Reporter in a worker: every call goes home as (index, method, argument)."""

    def __init__(self, index: int) -> None:
        self.index = index

    def _send(self, method: str, *args: object) -> None:
        _events.put((self.index, method, args))

    def start(self, stage: str, total: int) -> None:
        self._send("start", stage, total)

    def update(self, done: int) -> None:
        self._send("update", done)

    def notice(self, message: str) -> None:
        self._send("notice", message)

    def written(self, path: Path) -> None:
        self._send("written", path)


# -- at home -----------------------------------------------------------------------------------


def _relay(events: Any, reporter_for: ReporterFor) -> None:
    while True:
        try:
            item = events.get()
        except (EOFError, OSError):
            return
        if item is None:
            return
        index, method, args = item
        getattr(reporter_for(index), method)(*args)


def _stop(events: Any, listener: threading.Thread) -> None:
    """Let the listener pass on every event the workers sent, then end it."""
    events.put(None)
    listener.join(timeout=10)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)
