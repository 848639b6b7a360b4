"""An engine's audio file -> a trimmed clip in the output format, resampled exactly once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soxr
from pydub import AudioSegment

from ..errors import EngineError
from ..pcm import SAMPLE_RATE, Samples, Signal, fade_edges, quantize

# Quieter than this at a clip's ends is the engine's own padding (eSpeak NG adds ~240 ms).
TRIM_THRESHOLD = 10 ** (-50 / 20)


def sniff_format(path: Path) -> str:
    """The container, read from the header: pyttsx3 writes AIFF on macOS whatever the name."""
    head = path.read_bytes()[:12]
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    raise EngineError(f"the speech engine wrote audio in a format not known here ({head[:4]!r})")


def load_phrase(path: Path) -> Samples:
    """Decode, make mono float, trim the padding, resample to the output rate, fade the edges."""
    segment = AudioSegment.from_file(path, format=sniff_format(path))
    segment = segment.set_channels(1).set_sample_width(2)
    raw = np.frombuffer(segment.raw_data, dtype=np.int16).astype(np.float32) / 32768.0
    return quantize(fade_edges(resample(trim(raw), segment.frame_rate)))


def trim(signal: Signal) -> Signal:
    loud = np.flatnonzero(np.abs(signal) > TRIM_THRESHOLD)
    if loud.size == 0:
        raise EngineError("the speech engine produced only silence")
    return signal[loud[0] : loud[-1] + 1]


def resample(signal: Signal, rate: int) -> Signal:
    if rate == SAMPLE_RATE:
        return signal
    out: Signal = soxr.resample(signal, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return out
