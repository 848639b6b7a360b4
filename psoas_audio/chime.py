"""Synthesized chimes: pure DSP, numbers in, samples out. No audio files ship with the tool."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pcm import SAMPLE_RATE, Signal

CHIME_PEAK = 10 ** (-9 / 20)  # below eSpeak's speech peaks, so the bell never startles
_FADED = 1e-2  # -40 dB: where a partial's decay ends; the release takes the rest to zero


@dataclass(frozen=True)
class Partial:
    ratio: float  # frequency as a multiple of the base
    detune: float  # Hz added, so close pairs beat slowly like a real bell
    amplitude: float
    decay: float  # the share of the chime's length this partial takes to fall by 40 dB


@dataclass(frozen=True)
class ChimeStyle:
    base_hz: float
    seconds: float
    partials: tuple[Partial, ...]
    attack: float = 0.003  # seconds: a mallet's strike, soft enough not to click
    release: float = 1.0  # seconds of the tail taken smoothly to exact zero


# Risset's additive bell: inharmonic partials, detuned pairs that beat, high partials die first.
BELL = ChimeStyle(
    base_hz=440.0,
    seconds=8.0,
    partials=tuple(
        Partial(ratio, detune, amplitude, decay)
        for ratio, detune, amplitude, decay in (
            (0.56, 0.0, 1.0, 1.0), (0.56, 1.0, 0.67, 0.9), (0.92, 0.0, 1.0, 0.65),
            (0.92, 1.7, 1.8, 0.55), (1.19, 0.0, 2.67, 0.325), (1.7, 0.0, 1.67, 0.35),
            (2.0, 0.0, 1.46, 0.25), (2.74, 0.0, 1.33, 0.2), (3.0, 0.0, 1.33, 0.15),
            (3.76, 0.0, 1.0, 0.1), (4.07, 0.0, 1.33, 0.075),
        )
    ),
)  # fmt: skip


def _pairs(*modes: tuple[float, float, float, float]) -> tuple[Partial, ...]:
    """Each mode as a close pair, as a real bowl's slightly uneven rim splits it, so it beats."""
    return tuple(
        Partial(ratio, split, amplitude / 2, decay)
        for ratio, beat, amplitude, decay in modes
        for split in (0.0, beat)
    )


# A singing bowl: few inharmonic modes, lower-ratio than a thin ring, long and slowly beating.
BOWL = ChimeStyle(
    base_hz=196.0,
    seconds=12.0,
    partials=_pairs((1.0, 0.9, 1.0, 1.0), (2.71, 1.6, 0.55, 0.55), (5.15, 2.3, 0.22, 0.3),
                    (8.21, 3.1, 0.08, 0.15)),
    attack=0.005,
    release=2.0,
)  # fmt: skip

# A soft wooden tick for transitions: short, low, two partials, nothing bright.
TICK = ChimeStyle(
    base_hz=880.0,
    seconds=0.5,
    partials=(Partial(1.0, 0.0, 1.0, 1.0), Partial(2.32, 0.0, 0.35, 0.45)),
    attack=0.002,
    release=0.15,
)

TICK_STYLE = "tick"  # also what announces words after a long silence (script.py)
STYLES: dict[str, ChimeStyle] = {"bell": BELL, "bowl": BOWL, TICK_STYLE: TICK}
DEFAULT_STYLE = "bell"
VERSION = 1  # bump when chime() makes different samples, so cached chimes are made again


def chime(style: str = DEFAULT_STYLE) -> Signal:
    """The chime as float samples, from a 3 ms attack to an exact zero once it has faded."""
    spec = STYLES[style]
    count = int(spec.seconds * SAMPLE_RATE)
    t = np.arange(count, dtype=np.float64) / SAMPLE_RATE
    tone = np.zeros(count)
    for p in spec.partials:
        envelope = np.exp(np.log(_FADED) * t / (p.decay * spec.seconds))
        tone += p.amplitude * envelope * np.sin(2 * np.pi * (spec.base_hz * p.ratio + p.detune) * t)
    attack = int(spec.attack * SAMPLE_RATE)
    tone[:attack] *= np.linspace(0.0, 1.0, attack)
    release = int(spec.release * SAMPLE_RATE)
    tone[-release:] *= np.linspace(1.0, 0.0, release) ** 2
    signal: Signal = (tone * (CHIME_PEAK / np.max(np.abs(tone)))).astype(np.float32)
    return signal
