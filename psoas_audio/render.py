"""Timeline -> PCM, streamed in one pass: nothing grows, so long tracks need little memory."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from .pcm import SAMPLE_RATE, Samples, quantize
from .timeline import Timeline

_ZEROS = bytes(2 * SAMPLE_RATE)  # one second of digital silence, reused for every pause


def render(
    timeline: Timeline, speech: Mapping[str, Samples], chimes: Mapping[str, Samples]
) -> Iterator[bytes]:
    """The track as consecutive little-endian int16 chunks, exactly timeline.length samples."""
    written = 0
    for event in timeline.events:
        if event.kind == "silence":
            remaining = 2 * event.length
            while remaining:
                chunk = _ZEROS[: min(remaining, len(_ZEROS))]
                remaining -= len(chunk)
                yield chunk
        else:
            clip = chimes[event.text] if event.kind == "chime" else speech[event.text]
            if len(clip) != event.length:
                raise RuntimeError(f"the clip for {event.text!r} no longer matches the plan")
            if event.gain_db:
                clip = quantize(clip.astype(np.float32) / 32768.0 * 10 ** (event.gain_db / 20))
            yield clip.astype("<i2", copy=False).tobytes()
        written += event.length
    if written != timeline.length:
        raise RuntimeError("the rendered track does not match the plan's length")
