"""Timeline -> PCM, streamed in one pass: nothing grows, so long tracks need little memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .errors import CacheError
from .pcm import SAMPLE_RATE, Samples
from .timeline import Event, Timeline

_ZEROS = bytes(2 * SAMPLE_RATE)  # one second of digital silence, reused for every pause


def render(timeline: Timeline, clip_for: Callable[[Event], Samples]) -> Iterator[bytes]:
    """The track as consecutive little-endian int16 chunks, exactly timeline.length samples.

    clip_for(event) gives each sound at its final level; silences are written here.
    """
    written = 0
    for event in timeline.events:
        if event.kind == "silence":
            remaining = 2 * event.length
            while remaining:
                chunk = _ZEROS[: min(remaining, len(_ZEROS))]
                remaining -= len(chunk)
                yield chunk
        else:
            clip = clip_for(event)
            if len(clip) != event.length:  # only if the cache was damaged during the build
                raise CacheError(
                    f"the clip for {event.text!r} changed during the build; build again"
                )
            yield clip.astype("<i2", copy=False).tobytes()
        written += event.length
    if written != timeline.length:
        raise RuntimeError("the rendered track does not match the plan's length")
