"""An optional ambient bed under the voice: rain, ocean or a soft low drone, synthesized in code.

Off by default, so silences stay digital silence. When on, the bed is generated as the track
plays (filter states and phases carry from one block to the next: there is no loop and no
seam), sits well under the voice in the silences, ducks further under every spoken line, cue
and chime, fades in at the start and out under the final chime. It never moves an event: the
timeline is the same with or without it. Pure DSP: a timeline and a level in, samples out.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from . import interrupts
from .pcm import SAMPLE_RATE, Signal, to_samples

if TYPE_CHECKING:  # the routine model names the styles; the timeline imports the routine
    from .timeline import Timeline

Ambience = Literal["none", "rain", "ocean", "drone"]
STYLES: tuple[Ambience, ...] = ("none", "rain", "ocean", "drone")
BELOW_VOICE_LU = 20.0  # under the voice in the silences (at least 15): out of the gated loudness
GATE_MARGIN_LU = 6.0  # how far under the loudness gate a bed stays (its gusts and swells move it)
DUCK_DB = 8.0  # how much further it goes under each spoken line, cue and chime (at least 6)
DUCK_RAMP = 0.35  # seconds to go down before a sound starts, and to come back after it
DUCK_HOLD = 0.15  # seconds it stays down after a sound ends, before it comes back
FADE_IN = 4.0  # seconds from nothing at the start of the track
FADE_OUT = 3.0  # seconds to nothing at the end, when no final chime covers it
SEED = 1  # the same bed every build: a rebuild is the same file
VERSION = 1  # bump when a bed sounds different, so no track's measured levels are reused
BLOCK = SAMPLE_RATE  # samples generated at once
Floats = npt.NDArray[np.float64]


class _Source:
    """An endless, continuous signal of about unit loudness, taken a block at a time."""

    def take(self, count: int) -> Floats:
        raise NotImplementedError


class _Filtered(_Source):
    """Noise through a filter whose state carries over, so blocks join without a seam."""

    def __init__(self, rng: np.random.Generator, sos: Floats) -> None:
        from scipy.signal import sosfilt_zi

        self.rng, self.sos = _own(rng), sos
        self.state = sosfilt_zi(sos) * 0.0

    def noise(self, count: int) -> Floats:
        from scipy.signal import sosfilt

        out, self.state = sosfilt(self.sos, self.rng.standard_normal(count), zi=self.state)
        result: Floats = out
        return result


class _Drift:
    """A slow random movement around 1 (a smoothed random walk), for swells and gusts."""

    def __init__(self, rng: np.random.Generator, seconds: float, depth: float) -> None:
        self.rng, self.depth = _own(rng), depth
        self.step = 1.0 / (seconds * SAMPLE_RATE)
        self.value, self.target = 0.0, float(rng.uniform(-1, 1))

    def take(self, count: int) -> Floats:
        out = np.empty(count)
        done = 0
        while done < count:  # glide towards a new random target every `seconds`
            left = int(abs(self.target - self.value) / self.step) + 1
            n = min(left, count - done)
            direction = np.sign(self.target - self.value)
            out[done : done + n] = self.value + direction * self.step * np.arange(1, n + 1)
            self.value = float(out[done + n - 1])
            done += n
            if n == left:
                self.target = float(self.rng.uniform(-1, 1))
        smooth: Floats = 1.0 + self.depth * np.sin(0.5 * np.pi * out)
        return smooth


class _Rain(_Filtered):
    """Broadband hiss, brighter than pink, with gusts that come and go over several seconds."""

    def __init__(self, rng: np.random.Generator) -> None:
        from scipy.signal import butter

        super().__init__(rng, butter(2, [400, 9000], "bandpass", fs=SAMPLE_RATE, output="sos"))
        self.gusts = _Drift(rng, 6.0, 0.3)

    def take(self, count: int) -> Floats:
        gust: Floats = self.noise(count) * self.gusts.take(count)
        return gust


class _Ocean(_Filtered):
    """Deep, dark noise that swells and recedes like waves, one every eight to twelve seconds."""

    def __init__(self, rng: np.random.Generator) -> None:
        from scipy.signal import butter

        super().__init__(rng, butter(2, [60, 900], "bandpass", fs=SAMPLE_RATE, output="sos"))
        self.pace = _Drift(rng, 20.0, 0.2)
        self.phase = 0.0

    def take(self, count: int) -> Floats:
        period = 10.0 * self.pace.take(count)  # seconds per wave
        phases = self.phase + np.cumsum(2 * np.pi / (period * SAMPLE_RATE))
        self.phase = float(phases[-1] % (2 * np.pi))
        swell = 0.25 + 0.75 * (0.5 - 0.5 * np.cos(phases)) ** 1.5
        wave: Floats = self.noise(count) * swell
        return wave


class _Drone(_Source):
    """A soft G major chord low in the voice's range; each note a detuned pair that beats slowly."""

    NOTES = ((98.0, 1.0), (146.83, 0.55), (196.0, 0.35), (246.94, 0.2))  # G2 D3 G3 B3
    BEAT_HZ = 0.15

    def __init__(self, rng: np.random.Generator) -> None:
        self.position = 0
        self.offsets = rng.uniform(0, 2 * np.pi, size=2 * len(self.NOTES))
        self.swells = [_Drift(rng, 9.0 + 3 * k, 0.25) for k in range(len(self.NOTES))]

    def take(self, count: int) -> Floats:
        t = (self.position + np.arange(count)) / SAMPLE_RATE
        self.position += count
        out = np.zeros(count)
        for k, ((hz, level), swell) in enumerate(zip(self.NOTES, self.swells, strict=True)):
            pair = np.sin(2 * np.pi * hz * t + self.offsets[2 * k])
            pair += np.sin(2 * np.pi * (hz + self.BEAT_HZ) * t + self.offsets[2 * k + 1])
            out += level * pair * swell.take(count)
        return out


_SOURCES: dict[str, Callable[[np.random.Generator], _Source]] = {
    "rain": _Rain,
    "ocean": _Ocean,
    "drone": _Drone,
}


def _source(style: str) -> _Source:
    with interrupts.deferred():  # scipy's import must not be split by an interrupt
        return _SOURCES[style](np.random.default_rng(SEED))


def _own(rng: np.random.Generator) -> np.random.Generator:
    """A generator of its own for one part of a bed: parts drawing from one generator would
    interleave their draws differently with every block size, and the bed would change."""
    return np.random.default_rng(int(rng.integers(2**63)))


@cache
def _loudness(style: str) -> float:
    """The style's loudness (LUFS) at unit gain, measured on half a minute of it."""
    from .loudness import integrated, measure_clip

    source = _source(style)
    signal = np.concatenate([source.take(BLOCK) for _ in range(30)]).astype(np.float32)
    return integrated([(measure_clip(signal)[0], 1)])


@dataclass(frozen=True)
class _Span:
    start: int
    end: int


def below_voice(timeline: Timeline) -> float:
    """How far (LU) under the track's target the bed sits: BELOW_VOICE_LU, or further when
    the voice fills so little of the track that the bed would count in its loudness.

    BS.1770's relative gate passes the 400 ms blocks within 10 LU of their mean power. With
    the voice a share f of the time at power S and the bed at B the rest, the bed stays out of
    the measure while B < f S / (9 + f): 10 log10((9 + f) / f) LU under, and a margin for its
    gusts and swells. Chimes are left out of f: a bell's long tail is far quieter than S. A
    4-minute rest with one line puts the bed 42 LU under; the flagship (a third speech) 20.
    """
    sounding = sum(e.length for e in timeline.events if e.kind == "speech")
    share = sounding / timeline.length if timeline.length else 0.0
    if share <= 0.0:
        return BELOW_VOICE_LU
    return max(BELOW_VOICE_LU, 10 * math.log10((9 + share) / share) + GATE_MARGIN_LU)


class Bed:
    """The bed for one timeline at one level, handed out block by block in track order."""

    def __init__(self, style: Ambience, timeline: Timeline, lufs: float) -> None:
        self.source = _source(style)
        self.gain = 10 ** ((lufs - _loudness(style)) / 20)
        self.length = timeline.length
        events = [e for e in timeline.events if e.kind != "silence"]
        final = (
            events[-1]
            if events and events[-1].kind == "chime" and events[-1].step is None
            else None
        )
        # It fades out under the final chime (or over the last few seconds, when there is none).
        self.fade_out = final.start if final else max(self.length - to_samples(FADE_OUT), 0)
        self.sounds = [_Span(e.start, e.end) for e in events if e is not final]
        self.starts = [span.start for span in self.sounds]
        self.ramp, self.hold = to_samples(DUCK_RAMP), to_samples(DUCK_HOLD)
        self.position = 0

    def take(self, count: int) -> Signal:
        """The next `count` samples of the bed, at their final level."""
        start = self.position
        self.position += count
        n = np.arange(start, start + count)
        envelope = self._ducking(n) * self._fades(n)
        out: Signal = (self.source.take(count) * self.gain * envelope).astype(np.float32)
        return out

    def _fades(self, n: npt.NDArray[np.int64]) -> Floats:
        rise = np.clip(n / (FADE_IN * SAMPLE_RATE), 0.0, 1.0)
        tail = max(self.length - self.fade_out, 1)
        fall = np.clip((self.length - n) / tail, 0.0, 1.0)
        fades: Floats = (0.5 - 0.5 * np.cos(np.pi * rise)) * (0.5 - 0.5 * np.cos(np.pi * fall))
        return fades

    def _ducking(self, n: npt.NDArray[np.int64]) -> Floats:
        """1 in the silences, DUCK_DB down under each sound (from its start to DUCK_HOLD after
        its end), with raised-cosine ramps of DUCK_RAMP either side."""
        depth = np.zeros(len(n))
        first, last = int(n[0]), int(n[-1])
        reach = self.hold + self.ramp
        index = max(bisect_left(self.starts, first - reach - self.ramp) - 1, 0)
        for span in self.sounds[index:]:
            if span.start - self.ramp > last:
                break
            if span.end + reach < first:
                continue
            before = np.clip((n - (span.start - self.ramp)) / self.ramp, 0.0, 1.0)
            after = np.clip(((span.end + reach) - n) / self.ramp, 0.0, 1.0)
            inside = np.minimum(before, after)
            depth = np.maximum(depth, 0.5 - 0.5 * np.cos(np.pi * inside))
        ducked: Floats = 10 ** (-DUCK_DB * depth / 20)
        return ducked
