from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest

from conftest import TESTS
from psoas_audio import Options, check, plan_routine
from psoas_audio.level import Levels, Measured, missed
from psoas_audio.loudness import integrated, limit, measure_clip, true_peak
from psoas_audio.pcm import SAMPLE_RATE
from psoas_audio.render import render

RNG = np.random.default_rng(7)


def bursts() -> list[np.ndarray]:
    """Speech-like clips: noise bursts shaped by a syllable envelope, at different levels."""
    clips = []
    for level in (0.05, 0.2, 0.4, 0.1):
        t = np.arange(int(2.5 * SAMPLE_RATE)) / SAMPLE_RATE
        envelope = np.abs(np.sin(2 * np.pi * 2.5 * t)) ** 2
        clips.append((level * envelope * RNG.standard_normal(t.size)).astype(np.float32))
    return clips


def test_the_meter_agrees_with_pyloudnorm_on_a_track_of_clips() -> None:
    clips = bursts()
    gap = np.zeros(SAMPLE_RATE, dtype=np.float32)
    track = np.concatenate([part for clip in clips for part in (clip, gap)] * 2)
    reference = pyloudnorm.Meter(SAMPLE_RATE).integrated_loudness(track.astype(np.float64))
    ours = integrated([(measure_clip(clip)[0], 2) for clip in clips])  # each clip plays twice
    assert ours == pytest.approx(reference, abs=0.2)
    assert integrated([(measure_clip(np.zeros(1000, np.float32))[0], 1)]) == float("-inf")


def test_true_peak_sees_peaks_between_samples() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.5 * np.sin(2 * np.pi * SAMPLE_RATE / 4 * t + np.pi / 4)).astype(np.float32)
    assert 20 * np.log10(np.abs(tone).max()) == pytest.approx(-9.0, abs=0.1)  # samples at 0.354
    assert true_peak(tone) == pytest.approx(-6.0, abs=0.1)  # the wave itself peaks at 0.5


def test_the_limiter_holds_true_peaks_and_moves_its_gain_smoothly() -> None:
    loud = bursts()[2] * np.float32(4.0)  # far over full scale
    limited = limit(loud, -2.5)
    assert true_peak(limited) <= -2.45
    gain = np.abs(limited) / np.maximum(np.abs(loud), 1e-9)
    steady = np.abs(loud) > 0.05  # where the gain is well defined
    assert np.max(np.abs(np.diff(gain[steady]))) < 0.05  # no sudden steps: no clicks
    quiet = bursts()[0]
    assert np.array_equal(limit(quiet, -2.5), quiet)  # below the ceiling: untouched


def test_no_click_at_any_join() -> None:
    """At every boundary between events the waveform steps by less than 1 % of full scale."""
    options = Options(engine="fake")
    planned = plan_routine(check(TESTS / "golden" / "cues.yaml", options), options)
    leveler = planned.leveler(options.loudness)
    levels = leveler.levels(planned.timeline)
    pcm = b"".join(render(planned.timeline, lambda event: leveler.clip(event, levels)))
    track = np.frombuffer(pcm, "<i2").astype(np.float64) / 32768
    joins = [event.start for event in planned.timeline.events[1:]]
    assert len(joins) > 20
    for at in joins:
        assert abs(track[at] - track[at - 1]) < 0.01, f"a click at {at / SAMPLE_RATE:.3f}s"


def test_an_mp3_that_peaks_too_high_is_limited_harder_and_encoded_again() -> None:
    options = Options(engine="fake")
    planned = plan_routine(check(TESTS / "golden" / "cues.yaml", options), options)
    leveler = planned.leveler(options.loudness)
    encoded: list[float] = []
    readings = iter([Measured(lufs=-16.0, peak_dbtp=-0.8), Measured(lufs=-16.1, peak_dbtp=-1.6)])

    def encode(levels: Levels, measure: bool) -> Measured | None:
        encoded.append(levels.gains.ceiling_dbtp)
        return next(readings) if measure else None

    levels = leveler.encode_on_target(planned.timeline, encode)
    assert len(encoded) == 2 and encoded[1] == pytest.approx(encoded[0] - 0.7 - 0.3)
    assert levels.gains.verified and missed(levels.gains, options.loudness) is None
    again = planned.leveler(options.loudness).levels(planned.timeline)  # remembered as it ended
    assert again.gains == levels.gains


def test_a_target_out_of_reach_is_said_after_the_last_try() -> None:
    options = Options(engine="fake", loudness=-14.0)
    planned = plan_routine(check(TESTS / "golden" / "cues.yaml", options), options)
    leveler = planned.leveler(options.loudness)
    count = 0

    def encode(levels: Levels, measure: bool) -> Measured:
        nonlocal count
        count += 1
        return Measured(lufs=-14.9, peak_dbtp=-1.6)

    levels = leveler.encode_on_target(planned.timeline, encode)
    assert count == 3 and levels.gains.verified  # no endless re-encoding
    assert missed(levels.gains, -14.0) == (
        "the track measures -14.9 LUFS, not the -14 asked for: its peaks leave no more room"
    )
