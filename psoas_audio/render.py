"""Timeline -> PCM, streamed in one pass: nothing grows, so long tracks need little memory."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator

import numpy as np

from .ambience import Bed
from .errors import CacheError
from .pcm import SAMPLE_RATE, Samples, quantize
from .timeline import Event, Timeline

_ZEROS = bytes(2 * SAMPLE_RATE)  # one second of digital silence, reused for every pause


def render(
    timeline: Timeline,
    clip_for: Callable[[Event], Samples],
    bed: Bed | None = None,
    span: tuple[int, int] | None = None,
) -> Iterator[bytes]:
    """The track as consecutive little-endian int16 chunks, exactly timeline.length samples
    (or the samples [start, end) of span: a part the encoder takes on its own).

    clip_for(event) gives each sound at its final level; silences are written here, and the
    ambient bed, if any, is mixed under both. Nothing moves: the bed only adds. A bed plays
    from the start, so a span comes without one.
    """
    start, end = span or (0, timeline.length)
    if span is not None and bed is not None:
        raise ValueError("a span of the track is rendered without the bed")
    written = start
    for event in timeline.events:
        if event.end <= start or event.start >= end:
            continue
        first, last = max(event.start, start) - event.start, min(event.end, end) - event.start
        if event.kind == "silence":
            remaining = 2 * (last - first)
            while remaining:
                chunk = _ZEROS[: min(remaining, len(_ZEROS))]
                remaining -= len(chunk)
                yield chunk if bed is None else _mixed(np.zeros(len(chunk) // 2, np.int16), bed)
        else:
            clip = clip_for(event)
            if len(clip) != event.length:  # only if the cache was damaged during the build
                raise CacheError(
                    f"the clip for {event.text!r} changed during the build; build again"
                )
            part = clip[first:last]
            yield part.astype("<i2", copy=False).tobytes() if bed is None else _mixed(part, bed)
        written += last - first
    if written != end:
        raise RuntimeError("the rendered track does not match the plan's length")


def _mixed(clip: Samples, bed: Bed) -> bytes:
    """The clip with the bed's next samples under it."""
    signal = clip.astype(np.float32) / np.float32(32767.0) + bed.take(len(clip))
    return quantize(signal).astype("<i2", copy=False).tobytes()


def ahead(chunks: Iterator[bytes], depth: int = 4) -> Generator[bytes, None, None]:
    """The same chunks, made by a thread of their own up to `depth` ahead of the reader: the
    next clips are leveled (and cached) while ffmpeg encodes the ones before, instead of
    ffmpeg waiting on each. An error (or an interrupt) in the maker reaches the reader."""
    made: queue.Queue[bytes | BaseException | None] = queue.Queue(depth)
    stop = threading.Event()

    def put(item: bytes | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                made.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def make() -> None:
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            put(None)
        except BaseException as exc:  # handed to the reader
            put(exc)

    maker = threading.Thread(target=make, daemon=True)
    try:  # started inside: an interrupt right after must still stop it before we exit
        maker.start()
        while (item := made.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        if maker.ident is not None:
            maker.join(timeout=10)  # a cache write it began ends, rather than dying half done
