"""The one output format every stage agrees on: mono 16-bit PCM at 44.1 kHz, in integer samples."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 44_100
Samples = npt.NDArray[np.int16]
Signal = npt.NDArray[np.float32]

EDGE_FADE_SECONDS = 0.004  # long enough to avoid a click, short enough not to be heard


def to_samples(seconds: float) -> int:
    """A duration in whole samples; every position is a sum of these, so nothing drifts."""
    return round(seconds * SAMPLE_RATE)


def to_seconds(samples: int) -> float:
    return samples / SAMPLE_RATE


def quantize(signal: Signal) -> Samples:
    """Float [-1, 1] -> int16, clipped rather than wrapped."""
    return np.clip(np.round(signal * 32767.0), -32768, 32767).astype(np.int16)


def fade_edges(signal: Signal, seconds: float = EDGE_FADE_SECONDS) -> Signal:
    """A raised-cosine fade in and out, so a clip starts and ends at zero (no click)."""
    n = min(int(seconds * SAMPLE_RATE), len(signal) // 2)
    if n == 0:
        return signal
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))).astype(np.float32)
    out = signal.copy()
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out
