"""Loudness as listeners' apps measure it (ITU-R BS.1770 / EBU R128) and a true-peak limiter.

Pure DSP: float samples in, numbers or samples out. The whole track is never held in memory:
its loudness is gathered from the K-weighted block powers of each clip times how often it plays.
Silence contributes nothing (it is below the absolute gate), so this equals measuring the track.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import numpy as np
import numpy.typing as npt
import soxr
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import lfilter

from .pcm import SAMPLE_RATE, Signal

Floats = npt.NDArray[np.float64]
BLOCK, HOP = 0.400, 0.100  # BS.1770 gating blocks: 400 ms, 75 % overlap
SHORT_TERM = 3.0  # EBU short-term loudness window
OVERSAMPLE = 4  # true peak: the peak of the signal between samples, as a DAC rebuilds it


@cache
def _k_weighting() -> tuple[tuple[Floats, Floats], tuple[Floats, Floats]]:
    """The two BS.1770 biquads at our rate: a +4 dB shelf at 1.5 kHz, a 38 Hz high-pass."""

    def biquad(kind: str, gain_db: float, q: float, hz: float) -> tuple[Floats, Floats]:
        a = 10 ** (gain_db / 40)
        w0 = 2 * np.pi * hz / SAMPLE_RATE
        alpha, cos = np.sin(w0) / (2 * q), np.cos(w0)
        if kind == "shelf":
            b = [
                a * ((a + 1) + (a - 1) * cos + 2 * np.sqrt(a) * alpha),
                -2 * a * ((a - 1) + (a + 1) * cos),
                a * ((a + 1) + (a - 1) * cos - 2 * np.sqrt(a) * alpha),
            ]
            den = [
                (a + 1) - (a - 1) * cos + 2 * np.sqrt(a) * alpha,
                2 * ((a - 1) - (a + 1) * cos),
                (a + 1) - (a - 1) * cos - 2 * np.sqrt(a) * alpha,
            ]
        else:
            b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
            den = [1 + alpha, -2 * cos, 1 - alpha]
        return np.array(b) / den[0], np.array(den) / den[0]

    return biquad("shelf", 4.0, 1 / np.sqrt(2), 1500.0), biquad("high-pass", 0.0, 0.5, 38.0)


def _weighted_squares(signal: Signal) -> Floats:
    x: Floats = signal.astype(np.float64)
    for b, a in _k_weighting():
        x = lfilter(b, a, x)
    squares: Floats = x * x
    return squares


def _window_powers(signal: Signal, window: float, squares: Floats | None = None) -> Floats:
    """Mean K-weighted power of every window (hop 100 ms) that overlaps the clip.

    The clip is padded with the silence that surrounds it in the track, so windows that stick
    out past its ends are counted as the track would count them.
    """
    size, hop = round(window * SAMPLE_RATE), round(HOP * SAMPLE_RATE)
    weighted = _weighted_squares(signal) if squares is None else squares
    padded = np.concatenate([np.zeros(size), weighted, np.zeros(size)])
    sums = np.concatenate([[0.0], np.cumsum(padded)])
    starts = np.arange(0, len(padded) - size + 1, hop)
    powers: Floats = (sums[starts + size] - sums[starts]) / size
    return powers


def block_powers(signal: Signal) -> Floats:
    """The 400 ms gating-block powers of one clip heard in silence."""
    return _window_powers(signal, BLOCK)


def measure_clip(signal: Signal) -> tuple[Floats, float]:
    """block_powers() and short_term_max() at once, from one pass of the K-weighting filter."""
    squares = _weighted_squares(signal)
    loudest = to_lufs(float(_window_powers(signal, SHORT_TERM, squares).max()))
    return _window_powers(signal, BLOCK, squares), loudest


def to_lufs(power: float) -> float:
    return -0.691 + 10 * np.log10(power) if power > 0 else float("-inf")


def integrated(blocks: Iterable[tuple[Floats, int]]) -> float:
    """Integrated loudness (LUFS) of a track made of clips: (block powers, times played)."""
    repeated = [np.repeat(p, n) for p, n in blocks if n]
    powers = np.concatenate(repeated) if repeated else np.zeros(0)
    above = powers[powers > 10 ** ((-70 + 0.691) / 10)]  # absolute gate: -70 LUFS
    if above.size == 0:
        return float("-inf")
    relative = 10 ** ((to_lufs(float(above.mean())) - 10 + 0.691) / 10)  # relative gate
    return to_lufs(float(above[above > relative].mean()))


def short_term_max(signal: Signal) -> float:
    """The loudest 3-second short-term loudness (LUFS) of a clip heard in silence."""
    return to_lufs(float(_window_powers(signal, SHORT_TERM).max()))


def true_peak(signal: Signal) -> float:
    """True peak in dBTP: the peak of the 4x oversampled signal."""
    up = soxr.resample(signal.astype(np.float32), SAMPLE_RATE, OVERSAMPLE * SAMPLE_RATE, "VHQ")
    peak = float(np.max(np.abs(up))) if up.size else 0.0
    return 20 * np.log10(peak) if peak > 0 else float("-inf")


def limit(signal: Signal, ceiling_dbtp: float, lookahead: float = 0.005) -> Signal:
    """A look-ahead limiter on true peaks: smooth gain, never above the ceiling between samples.

    The needed gain is taken at 4x oversampling, spread by a minimum over twice the look-ahead,
    then smoothed by a moving average no wider than that spread, so the smoothed gain is never
    above what any sample needs: no overshoot, no clicks.
    """
    ceiling = 10 ** (ceiling_dbtp / 20)
    up = soxr.resample(signal.astype(np.float32), SAMPLE_RATE, OVERSAMPLE * SAMPLE_RATE, "VHQ")
    need = np.minimum(1.0, ceiling / np.maximum(np.abs(up), 1e-12))
    need = need[: len(signal) * OVERSAMPLE].reshape(-1, OVERSAMPLE).min(axis=1)
    if need.size < len(signal):
        need = np.pad(need, (0, len(signal) - need.size), constant_values=1.0)
    if need.min() >= 1.0:
        return signal
    width = max(int(lookahead * SAMPLE_RATE), 1)
    gain = uniform_filter1d(minimum_filter1d(need, 2 * width + 1), width, mode="nearest")
    limited: Signal = (signal * gain).astype(np.float32)
    return limited
