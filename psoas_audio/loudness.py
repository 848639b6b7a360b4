"""Loudness as listeners' apps measure it (ITU-R BS.1770 / EBU R128) and a true-peak limiter.

Pure DSP: float samples in, numbers or samples out. The whole track is never held in memory:
its loudness is gathered from the K-weighted block powers of each clip times how often it plays.
Silence contributes nothing (it is below the absolute gate), so this equals measuring the track.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import soxr

from .pcm import SAMPLE_RATE, Signal

Floats = npt.NDArray[np.float64]
BLOCK, HOP = 0.400, 0.100  # BS.1770 gating blocks: 400 ms, 75 % overlap
SHORT_TERM = 3.0  # EBU short-term loudness window
ABSOLUTE_GATE_LUFS = -70.0  # BS.1770: blocks under this are silence, and left out
OVERSAMPLE = 4  # true peak: the peak of the signal between samples, as a DAC rebuilds it


K_TAIL = 3500  # samples: the K-weighting's impulse response is under 1e-9 after 3,379
FFT_BLOCK = 1 << 15  # the filter runs by overlap-add in FFTs of this size


@cache
def _k_weighting() -> Floats:
    """The two BS.1770 biquads at our rate, as second-order sections: a +4 dB shelf at
    1.5 kHz, a 38 Hz high-pass."""

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

    sections = [biquad("shelf", 4.0, 1 / np.sqrt(2), 1500.0), biquad("high-pass", 0.0, 0.5, 38.0)]
    return np.array([np.concatenate(section) for section in sections])


@cache
def _k_spectrum() -> npt.NDArray[np.complex128]:
    """The K-weighting's frequency response on an FFT_BLOCK grid: numpy alone filters with it,
    exactly while the block leaves room for the response to die away (K_TAIL)."""
    z = np.exp(-1j * np.pi * np.arange(FFT_BLOCK // 2 + 1) / (FFT_BLOCK // 2))
    response: npt.NDArray[np.complex128] = np.ones_like(z)
    for b0, b1, b2, a0, a1, a2 in _k_weighting():
        response *= (b0 + b1 * z + b2 * z * z) / (a0 + a1 * z + a2 * z * z)
    return response


def _weighted_squares(signal: Signal) -> Signal:
    """The K-weighted signal, squared: the filter's output as the clip plays (its ringing after
    the clip's end falls in the silence after it and is left out, as before)."""
    step = FFT_BLOCK - K_TAIL
    out = np.zeros(len(signal) + FFT_BLOCK, np.float32)  # single precision: 1e-7 of a clip's
    spectrum = _k_spectrum32()  # power, twice as fast as double
    for start in range(0, len(signal), step):
        piece = np.fft.rfft(signal[start : start + step].astype(np.float32), FFT_BLOCK)
        out[start : start + FFT_BLOCK] += np.fft.irfft(piece * spectrum, FFT_BLOCK)
    squares: Signal = np.square(out[: len(signal)])
    return squares


BLOCK_HOPS, SHORT_TERM_HOPS = round(BLOCK / HOP), round(SHORT_TERM / HOP)


def _hop_sums(squares: npt.NDArray[np.floating[Any]]) -> Floats:
    """Sums of the squares over each 100 ms hop of the clip (the last one short), added up in
    double precision with no copy of the clip."""
    hop = round(HOP * SAMPLE_RATE)
    whole = len(squares) - len(squares) % hop
    sums: Floats = squares[:whole].reshape(-1, hop).sum(axis=1, dtype=np.float64)
    if whole < len(squares):
        sums = np.append(sums, squares[whole:].sum(dtype=np.float64))
    return sums


def _windows(hops: Floats, count: int) -> Floats:
    """Mean power of every window of `count` hops that overlaps the clip.

    Windows that stick out past the clip's ends count the silence around it, as the track
    would: a window starts on every hop, the first one ending on the clip's first hop.
    """
    sums: Floats = np.convolve(hops, np.ones(count))
    return sums / (count * round(HOP * SAMPLE_RATE))


def measure_clip(signal: Signal) -> tuple[Floats, float]:
    """A clip heard in silence: its 400 ms gating-block powers and its loudest 3 s short-term
    loudness (LUFS), from one pass of the K-weighting filter."""
    return from_hops(weighted_hops(signal))


def weighted_hops(signal: Signal) -> Floats:
    """The clip's K-weighted power per 100 ms hop (summed): what its loudness is made of."""
    return _hop_sums(_weighted_squares(signal))


def from_hops(hops: Floats) -> tuple[Floats, float]:
    """measure_clip() from a clip's weighted_hops()."""
    loudest = _windows(hops, SHORT_TERM_HOPS).max(initial=0.0)
    return _windows(hops, BLOCK_HOPS), to_lufs(float(loudest))


def limited_hops(hops: Floats, signal: Signal, limited: Signal) -> Floats:
    """A limited clip's weighted_hops(), from the unlimited one's, with no filtering: each hop
    loses the share of its energy the limiter took. (Exact where the limiter's gain is steady
    over a hop; its dips last milliseconds, and a search accurate to a few hundredths of an
    LU needs no more: the encoded track is measured in full.)"""
    before, after = plain_hops(signal), plain_hops(limited)
    kept: Floats = np.divide(after, before, out=np.ones_like(after), where=before > 0)
    return hops * kept


def to_lufs(power: float) -> float:
    return -0.691 + 10 * np.log10(power) if power > 0 else float("-inf")


def integrated(blocks: Iterable[tuple[Floats, int]]) -> float:
    """Integrated loudness (LUFS) of a track made of clips: (block powers, times played)."""
    repeated = [np.repeat(p, n) for p, n in blocks if n]
    powers = np.concatenate(repeated) if repeated else np.zeros(0)
    above = powers[powers > 10 ** ((ABSOLUTE_GATE_LUFS + 0.691) / 10)]
    if above.size == 0:
        return float("-inf")
    relative = 10 ** ((to_lufs(float(above.mean())) - 10 + 0.691) / 10)  # relative gate
    return to_lufs(float(above[above > relative].mean()))


class Meter:
    """A whole track's integrated loudness and sample peak, fed its samples in order as they
    are decoded: what ffmpeg's ebur128 filter reports, at a tenth of its cost (it filters
    every sample twice in C, one by one; this filters by FFT, and skips digital silence).

    Memory stays flat whatever the length: one block of samples, and a float per 100 ms hop.
    """

    def __init__(self) -> None:
        self._pending = np.zeros(0, np.float32)  # samples not yet a whole FFT step
        self._ringing = np.zeros(K_TAIL, np.float32)  # the last block's filter output beyond it
        self._partial = np.zeros(0, np.float32)  # weighted squares not yet a whole hop
        self._hops: list[Floats] = []
        self._peak = 0.0

    def add(self, samples: Signal) -> None:
        """The next samples of the track (float, full scale 1.0)."""
        if len(samples):
            self._peak = max(self._peak, float(np.abs(samples).max()))
        pending = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        step = FFT_BLOCK - K_TAIL
        whole = len(pending) - len(pending) % step
        for start in range(0, whole, step):
            self._filter(pending[start : start + step])
        self._pending = pending[whole:].astype(np.float32)

    def _filter(self, block: Signal) -> None:
        step = FFT_BLOCK - K_TAIL
        if block.any():
            spectrum = np.fft.rfft(block.astype(np.float32), FFT_BLOCK) * _k_spectrum32()
            weighted = np.fft.irfft(spectrum, FFT_BLOCK).astype(np.float32)
            weighted[:K_TAIL] += self._ringing
            self._ringing = weighted[step:].copy()
            weighted = weighted[: len(block)]
        else:  # digital silence (most of a routine): only the last block's ringing is heard
            weighted = np.zeros(len(block), np.float32)
            weighted[:K_TAIL] = self._ringing[: len(block)]
            self._ringing = np.zeros(K_TAIL, np.float32)
        squares = np.square(weighted)
        squares = np.concatenate([self._partial, squares]) if len(self._partial) else squares
        hop = round(HOP * SAMPLE_RATE)
        whole = len(squares) - len(squares) % hop
        self._hops.append(squares[:whole].reshape(-1, hop).sum(axis=1, dtype=np.float64))
        self._partial = squares[whole:]

    def result(self) -> tuple[float, float]:
        """(integrated LUFS, sample peak dBFS); -inf for a silent track. Complete 400 ms
        blocks only, as the standard gates them."""
        return Meter.together([self])

    def _finish(self) -> Floats:
        if len(self._pending):
            self._filter(self._pending)
            self._pending = np.zeros(0, np.float32)
        hops = np.concatenate(self._hops) if self._hops else np.zeros(0)
        self._hops = [hops]
        return hops

    @staticmethod
    def together(meters: Sequence[Meter]) -> tuple[float, float]:
        """result() of tracks played one after another, when they meet in silence (the
        blocks that would span two are under the gate)."""
        powers = []
        for meter in meters:
            hops = meter._finish()
            if len(hops) >= BLOCK_HOPS:
                sums = np.convolve(hops, np.ones(BLOCK_HOPS), "valid")
                powers.append(sums / (BLOCK_HOPS * round(HOP * SAMPLE_RATE)))
        loudest = max((meter._peak for meter in meters), default=0.0)
        peak = 20 * np.log10(loudest) if loudest > 0 else float("-inf")
        return integrated([(blocks, 1) for blocks in powers]), float(peak)


@cache
def _k_spectrum32() -> npt.NDArray[np.complex64]:
    return _k_spectrum().astype(np.complex64)


OVERSAMPLER = "HQ"  # soxr's high quality: within 0.01 dB of its very high, 1.5x faster


PIECE, EDGE = 1 << 16, 1024  # samples oversampled at once; more on each side than the filter


def peak_envelope(signal: Signal) -> Signal:
    """Each sample's true peak: the largest magnitude of the 4x oversampled signal around it.
    (The limiter keeps 1 dB in hand under the ceiling; the interpolator's 0.01 dB is noise.)

    Long signals go in pieces with EDGE samples either side, so a 4x copy of a whole clip (16
    bytes a sample) is never held: two threads limiting long clips at once held 14 MB."""
    if len(signal) <= PIECE + 2 * EDGE:
        return _envelope(signal)
    envelope = np.empty(len(signal), np.float32)
    for start in range(0, len(signal), PIECE):
        low, high = max(start - EDGE, 0), min(start + PIECE + EDGE, len(signal))
        end = min(start + PIECE, len(signal))
        envelope[start:end] = _envelope(signal[low:high])[start - low : end - low]
    return envelope


def _envelope(signal: Signal) -> Signal:
    rate = OVERSAMPLE * SAMPLE_RATE
    up = soxr.resample(signal.astype(np.float32), SAMPLE_RATE, rate, OVERSAMPLER)
    up = np.abs(up[: len(signal) * OVERSAMPLE], out=up[: len(signal) * OVERSAMPLE])
    if len(up) < len(signal) * OVERSAMPLE:
        up = np.pad(up, (0, len(signal) * OVERSAMPLE - len(up)))
    phases = up.reshape(-1, OVERSAMPLE)
    envelope: Signal = np.maximum(phases[:, 0], phases[:, 1])  # four columns, in place: far
    np.maximum(envelope, phases[:, 2], out=envelope)  # faster than max(axis=1) over rows of
    np.maximum(envelope, phases[:, 3], out=envelope)  # four, and no copies of the whole
    return envelope


LOOKAHEAD = 0.005  # seconds: how early the limiter's gain starts to move before a peak


def limit(signal: Signal, ceiling_dbtp: float) -> Signal:
    """A look-ahead limiter on true peaks: smooth gain, never above the ceiling between samples.

    The needed gain is taken at 4x oversampling, spread by a minimum over twice the look-ahead,
    then smoothed by a moving average no wider than that spread, so the smoothed gain is never
    above what any sample needs: no overshoot, no clicks.
    """
    if not len(signal):
        return signal
    envelope = peak_envelope(signal)
    return limit_peaks(signal, Peaks.of(envelope, 10 ** (ceiling_dbtp / 20)), 0.0, ceiling_dbtp)


@dataclass(frozen=True)
class Peaks:
    """A clip's true peaks above a floor: all a limiter needs to know of it at any gain and
    ceiling that keep the floor under the ceiling, with no oversampling the next time."""

    where: npt.NDArray[np.int32]
    peaks: Signal
    floor: float  # linear: every other sample's true peak is at most this

    @staticmethod
    def of(envelope: Signal, floor: float) -> Peaks:
        """The peaks of a peak_envelope() above the floor."""
        where = np.flatnonzero(envelope > floor).astype(np.int32)  # half the memory of int64
        return Peaks(where, envelope[where], floor)

    def reach(self, gain_db: float, ceiling_dbtp: float) -> bool:
        """Whether these peaks are every one a limit at this gain and ceiling needs."""
        return bool(self.floor * 10 ** (gain_db / 20) <= 10 ** (ceiling_dbtp / 20))


def limit_peaks(signal: Signal, peaks: Peaks, gain_db: float, ceiling_dbtp: float) -> Signal:
    """limit(signal * gain, ceiling), from the signal's peaks (which must reach that far).

    The gain moves only near samples over the ceiling, so it is worked out there alone
    (limiter_gain).
    """
    scaled: Signal = signal * np.float32(10 ** (gain_db / 20))
    moved = limiter_gain(peaks, gain_db, ceiling_dbtp, len(signal))
    if moved is None:
        return scaled
    near, smooth = moved
    limited: Signal = scaled.copy()
    limited[near] *= smooth
    return limited


def limiter_gain(
    peaks: Peaks, gain_db: float, ceiling_dbtp: float, length: int
) -> tuple[npt.NDArray[np.int64], Signal] | None:
    """Where the limiter moves the gain of a signal of this length and these peaks, at this
    gain and ceiling, and its gain there (None: nowhere). The stretches around samples over
    the ceiling, each with a margin of unity gain wider than the filters reach, are laid end
    to end and filtered: nothing else of the signal is needed."""
    gain = np.float32(10 ** (gain_db / 20))
    ceiling = np.float32(10 ** (ceiling_dbtp / 20))
    loud = peaks.peaks * gain > ceiling
    if not loud.any():
        return None
    where = peaks.where[loud]
    width = max(int(LOOKAHEAD * SAMPLE_RATE), 1)
    margin = 2 * width + 2  # more than the minimum (width) and the mean (width / 2) reach
    gaps = np.flatnonzero(np.diff(where) > 2 * margin)
    starts = np.maximum(np.concatenate([where[:1], where[gaps + 1]]) - margin, 0)
    ends = np.minimum(np.concatenate([where[gaps], where[-1:]]) + margin + 1, length)
    near = _ranges(starts, ends)
    need = np.ones(len(near), np.float32)
    need[np.searchsorted(near, where)] = ceiling / (peaks.peaks[loud] * gain)
    return near, _moving_mean(_moving_min(need, 2 * width + 1), width)


def _ranges(starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)]), with no Python loop."""
    lengths = ends - starts
    steps = np.ones(int(lengths.sum()), np.int64)
    steps[0] = starts[0]
    jumps = np.cumsum(lengths)[:-1]
    steps[jumps] = starts[1:] - ends[:-1] + 1
    ranges: npt.NDArray[np.int64] = np.cumsum(steps)
    return ranges


def limited_hops_near(
    hops: Floats, plain: Floats, samples: npt.NDArray[np.int16], scale: float, peaks: Peaks,
    gain_db: float, ceiling_dbtp: float,
) -> Floats:  # fmt: skip
    """limited_hops() of a signal (samples * scale) at gain_db, limited, from its weighted
    hops and plain hop sums at unit gain, reading the samples only where the limiter works:
    a search trying gain after gain filters nothing and copies no clip."""
    power = 10 ** (gain_db / 10)
    moved = limiter_gain(peaks, gain_db, ceiling_dbtp, len(samples))
    if moved is None:
        return hops * power
    near, smooth = moved
    values = samples[near].astype(np.float64) * (scale * 10 ** (gain_db / 20))
    lost = values * values * (1 - smooth.astype(np.float64) ** 2)
    removed = np.bincount(near // round(HOP * SAMPLE_RATE), lost, minlength=len(hops))
    before = plain * power
    kept: Floats = np.divide(before - removed, before, out=np.ones_like(before), where=before > 0)
    return hops * power * np.clip(kept, 0.0, 1.0)


def plain_hops(signal: Signal) -> Floats:
    """The signal's plain squares summed per 100 ms hop (as weighted_hops, unweighted)."""
    return _hop_sums(np.square(signal))


def _moving_min(values: Signal, size: int) -> Signal:
    """The least of the `size` values centred on each one (size odd; the edges repeat).

    By doubling: the minima over 2, 4, ... 2^k values, each from the last by one np.minimum,
    then every window as two overlapping 2^k-windows. Nine passes for the limiter's 441, all
    whole-array ufuncs: five times faster than minima running within blocks (van Herk), whose
    accumulate along short rows spent its time in numpy's per-row loop.
    """
    half = size // 2
    padded = np.pad(values, (half, half), mode="edge")
    minima, span = padded, 1
    while 2 * span <= size:
        minima = np.minimum(minima[:-span], minima[span:])
        span *= 2
    count = len(values)
    result: Signal = np.minimum(minima[:count], minima[size - span : size - span + count])
    return result


def _moving_mean(values: Signal, size: int) -> Signal:
    """The mean of `size` values around each one (the window a half sample early for an even
    size; the edges repeat)."""
    before = size // 2
    padded = np.pad(values.astype(np.float64), (before, size - 1 - before), mode="edge")
    sums = np.concatenate([[0.0], np.cumsum(padded)])
    mean: Signal = ((sums[size:] - sums[:-size]) / size).astype(np.float32)
    return mean
