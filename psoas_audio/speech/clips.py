"""An engine's audio file -> a trimmed clip in the output format, resampled exactly once."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr

with warnings.catch_warnings():  # "Couldn't find ffmpeg": pydub only decodes WAV/AIFF here
    warnings.simplefilter("ignore", RuntimeWarning)
    from pydub import AudioSegment

from ..errors import EngineError
from ..pcm import SAMPLE_RATE, Samples, Signal, fade_edges, quantize

# At a clip's ends, 5 ms windows quieter than this below the clip's loudest window are the
# engine's padding (eSpeak NG adds ~240 ms of zeros, piper ~100 ms of fading breath). At 40 dB
# the soft ends of clauses went too (a final "f" or "th" is 35 to 45 dB under the vowels): the
# flagship's clarity proxy for piper rose from 0.734 to 0.757 at 55 dB.
TRIM_WINDOW = 0.005
TRIM_BELOW_LOUDEST_DB = 55.0


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
    return quantize(fade_edges(resample(trim(raw, segment.frame_rate), segment.frame_rate)))


def trim(signal: Signal, rate: int) -> Signal:
    """The clip from its first to its last window of voice, relative to its loudest window."""
    size = max(int(TRIM_WINDOW * rate), 1)
    count = len(signal) // size
    if count == 0 or not np.any(signal):
        raise EngineError("the speech engine produced only silence")
    rms = _window_rms(signal, size)
    level = rms.max() * 10 ** (-TRIM_BELOW_LOUDEST_DB / 20)
    voiced = _without_stray_blips(np.flatnonzero(rms > level), rms)
    start, end = voiced[0] * size, (voiced[-1] + 1) * size
    # Within the outer windows, to the millisecond: a lone sample above the level is a click of
    # noise, not voice, so the edges follow 1 ms windows that reach it.
    fine = max(size // 5, 1)
    head = _window_rms(signal[start : start + size], fine)
    tail = _window_rms(signal[end - size : end], fine)
    start += int(np.argmax(head > level)) * fine
    end -= int(np.argmax(tail[::-1] > level)) * fine + (size - len(tail) * fine)
    return signal[start:end]


def _window_rms(signal: Signal, size: int) -> npt.NDArray[np.float64]:
    count = len(signal) // size
    windows = signal[: count * size].reshape(count, size).astype(np.float64)
    rms: npt.NDArray[np.float64] = np.sqrt(np.mean(windows**2, axis=1))
    return rms


def resample(signal: Signal, rate: int) -> Signal:
    if rate == SAMPLE_RATE:
        return signal
    out: Signal = soxr.resample(signal, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return out


def _without_stray_blips(
    voiced: npt.NDArray[np.intp], rms: npt.NDArray[np.float64]
) -> npt.NDArray[np.intp]:
    """Drop a faint blip (<= 15 ms, 30 dB under the loudest) cut off from the voice by >= 40 ms.

    piper sometimes ends a line with silence and then a click of breath: kept, it puts 100 ms
    of silence into what the plan calls speech.
    """
    faint = rms.max() * 10 ** (-30 / 20)
    runs = np.split(voiced, np.flatnonzero(np.diff(voiced) > 8) + 1)

    def stray(run: npt.NDArray[np.intp]) -> bool:
        return len(run) <= 3 and float(rms[run].max()) < faint

    while len(runs) > 1 and stray(runs[-1]):
        runs.pop()
    while len(runs) > 1 and stray(runs[0]):
        runs.pop(0)
    return np.concatenate(runs)
