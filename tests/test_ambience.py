"""The ambient bed, as samples: continuous, under the voice, out of its way, faded at both ends."""

from __future__ import annotations

import numpy as np
import pytest

from psoas_audio.ambience import (
    BELOW_VOICE_LU,
    DUCK_DB,
    DUCK_RAMP,
    FADE_IN,
    GATE_MARGIN_LU,
    STYLES,
    Bed,
    _loudness,
    below_voice,
)
from psoas_audio.loudness import integrated, measure_clip
from psoas_audio.pcm import SAMPLE_RATE, to_samples
from psoas_audio.timeline import Event, Timeline

BEDS = [style for style in STYLES if style != "none"]


def timeline(*sounds: tuple[float, float, str], length: float = 30.0) -> Timeline:
    """Silence with sounds at (start, end, kind) seconds; kind "final" is the final chime."""
    events, at = [], 0
    for start, end, kind in sounds:
        if to_samples(start) > at:
            events.append(Event(at, to_samples(start) - at, "silence", "pause"))
        step, kind = (None, "chime") if kind == "final" else ("steps[0]", kind)
        events.append(Event(to_samples(start), to_samples(end - start), kind, "say", "x", step))  # type: ignore[arg-type]
        at = to_samples(end)
    if to_samples(length) > at:
        events.append(Event(at, to_samples(length) - at, "silence", "pause"))
    return Timeline("T", tuple(events))


def whole(bed: Bed, seconds: float, sizes: tuple[int, ...] = (SAMPLE_RATE,)) -> np.ndarray:
    out, total, index = [], to_samples(seconds), 0
    while total > 0:
        size = min(sizes[index % len(sizes)], total)
        out.append(bed.take(size))
        total, index = total - size, index + 1
    return np.concatenate(out)


def lufs(signal: np.ndarray) -> float:
    return integrated([(measure_clip(signal.astype(np.float32))[0], 1)])


@pytest.mark.parametrize("style", BEDS)
def test_a_bed_is_one_continuous_sound_however_it_is_taken(style: str) -> None:
    plan = timeline(length=12.0)
    one = whole(Bed(style, plan, -36.0), 12.0)  # type: ignore[arg-type]
    ragged = whole(Bed(style, plan, -36.0), 12.0, (1000, 44_100, 7, 30_000))  # type: ignore[arg-type]
    assert np.allclose(one, ragged, atol=1e-6)  # no seams where blocks meet, the same each time


@pytest.mark.parametrize("style", BEDS)
def test_a_bed_sits_at_the_level_asked_for(style: str) -> None:
    plan = timeline(length=40.0)
    signal = whole(Bed(style, plan, -36.0), 40.0)[to_samples(FADE_IN) : to_samples(36.0)]  # type: ignore[arg-type]
    assert lufs(signal) == pytest.approx(-36.0, abs=1.0)
    assert np.isfinite(_loudness(style))


def test_the_bed_ducks_under_every_sound_with_smooth_ramps() -> None:
    plan = timeline((10.0, 12.0, "speech"), (20.0, 20.5, "chime"), length=30.0)
    ducked = whole(Bed("drone", plan, -36.0), 30.0)
    free = whole(Bed("drone", timeline(length=30.0), -36.0), 30.0)  # the same bed, no sounds

    def under(a: float, b: float) -> float:  # dB the bed is lowered between a and b seconds
        span = slice(to_samples(a), to_samples(b))
        return float(10 * np.log10(np.mean(free[span] ** 2) / np.mean(ducked[span] ** 2)))

    assert under(10.0, 12.0) == pytest.approx(DUCK_DB, abs=0.01)  # the whole spoken line
    assert under(20.0, 20.5) == pytest.approx(DUCK_DB, abs=0.01)  # a chime step
    assert under(5.0, 9.0) == pytest.approx(0.0, abs=0.01)  # the silences are left alone
    assert under(14.0, 18.0) == pytest.approx(0.0, abs=0.01)
    bed = Bed("drone", plan, -36.0)
    envelope = bed._ducking(np.arange(to_samples(30.0)))
    assert np.max(np.abs(np.diff(envelope))) < 3 / to_samples(DUCK_RAMP)  # no step: no click
    assert envelope[to_samples(10.0)] == pytest.approx(10 ** (-DUCK_DB / 20))  # down as it starts


def test_the_bed_fades_in_and_ends_at_silence_under_the_final_chime() -> None:
    plan = timeline((25.0, 30.0, "final"), length=30.0)
    signal = whole(Bed("rain", plan, -36.0), 30.0)
    assert signal[0] == 0.0 and np.max(np.abs(signal[: SAMPLE_RATE // 10])) < 1e-3
    assert np.max(np.abs(signal[-100:])) < 1e-5  # gone by the end of the bell
    mid = np.sqrt(np.mean(signal[to_samples(10) : to_samples(20)] ** 2))
    under_bell = np.sqrt(np.mean(signal[to_samples(28.5) : to_samples(29.5)] ** 2))
    assert under_bell < mid / 5


def test_the_bed_goes_further_down_where_the_voice_fills_only_a_sliver_of_the_track() -> None:
    talkative = timeline(*((t, t + 3.0, "speech") for t in range(0, 60, 6)), length=60.0)
    assert below_voice(talkative) == BELOW_VOICE_LU  # half the time speech: the usual 20 LU
    sparse = timeline((10.0, 12.0, "speech"), length=1200.0)  # 2 s in 20 minutes
    share = 2.0 / 1200.0
    expected = 10 * np.log10((9 + share) / share) + GATE_MARGIN_LU
    assert below_voice(sparse) == pytest.approx(expected) and expected > 40
    assert below_voice(timeline(length=10.0)) == BELOW_VOICE_LU  # nothing to be under
    chimes = timeline((0.0, 8.0, "chime"), length=60.0)  # a bell's tail is no voice
    assert below_voice(chimes) == BELOW_VOICE_LU
