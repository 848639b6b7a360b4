"""Timeline -> PCM, streamed in one pass: nothing grows, so long tracks need little memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from .ambience import Bed
from .errors import CacheError
from .pcm import SAMPLE_RATE, Samples, quantize
from .timeline import Event, Timeline

_ZEROS = bytes(2 * SAMPLE_RATE)  # one second of digital silence, reused for every pause


def render(
    timeline: Timeline, clip_for: Callable[[Event], Samples], bed: Bed | None = None
) -> Iterator[bytes]:
    """The track as consecutive little-endian int16 chunks, exactly timeline.length samples.

    clip_for(event) gives each sound at its final level; silences are written here, and the
    ambient bed, if any, is mixed under both. Nothing moves: the bed only adds.
    """
    written = 0
    for event in timeline.events:
        if event.kind == "silence":
            remaining = 2 * event.length
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
            yield clip.astype("<i2", copy=False).tobytes() if bed is None else _mixed(clip, bed)
        written += event.length
    if written != timeline.length:
        raise RuntimeError("the rendered track does not match the plan's length")


def _mixed(clip: Samples, bed: Bed) -> bytes:
    """The clip with the bed's next samples under it."""
    signal = clip.astype(np.float32) / np.float32(32767.0) + bed.take(len(clip))
    return quantize(signal).astype("<i2", copy=False).tobytes()
