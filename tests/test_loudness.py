from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest

from conftest import TESTS
from measure import true_peak
from psoas_audio import Options, check, loudness, plan_routine
from psoas_audio.errors import CacheError
from psoas_audio.level import Levels, Measured, _first_step, missed
from psoas_audio.loudness import integrated, limit, measure_clip
from psoas_audio.pcm import SAMPLE_RATE
from psoas_audio.render import ahead, render

RNG = np.random.default_rng(7)


def bursts() -> list[np.ndarray]:
    """Speech-like clips: noise bursts shaped by a syllable envelope, at different levels; the
    same ones every call (a shared generator made them depend on which tests ran first)."""
    rng = np.random.default_rng(7)
    clips = []
    for level in (0.05, 0.2, 0.4, 0.1):
        t = np.arange(int(2.5 * SAMPLE_RATE)) / SAMPLE_RATE
        envelope = np.abs(np.sin(2 * np.pi * 2.5 * t)) ** 2
        clips.append((level * envelope * rng.standard_normal(t.size)).astype(np.float32))
    return clips


def test_the_meter_agrees_with_pyloudnorm_on_a_track_of_clips() -> None:
    clips = bursts()
    gap = np.zeros(SAMPLE_RATE, dtype=np.float32)
    track = np.concatenate([part for clip in clips for part in (clip, gap)] * 2)
    reference = pyloudnorm.Meter(SAMPLE_RATE).integrated_loudness(track.astype(np.float64))
    ours = integrated([(measure_clip(clip)[0], 2) for clip in clips])  # each clip plays twice
    assert ours == pytest.approx(reference, abs=0.2)
    assert integrated([(measure_clip(np.zeros(1000, np.float32))[0], 1)]) == float("-inf")


def test_the_track_meter_agrees_with_pyloudnorm_fed_in_any_chunks() -> None:
    """loudness.Meter measures a decoded MP3 as it streams: the same figures whatever the
    chunking, digital silence skipped, and a track in parts measures as the whole."""
    clips = bursts()
    gap = np.zeros(3 * SAMPLE_RATE, dtype=np.float32)  # long enough for whole silent blocks
    track = np.concatenate([part for clip in clips for part in (gap, clip)] + [gap])
    reference = pyloudnorm.Meter(SAMPLE_RATE).integrated_loudness(track.astype(np.float64))
    for chunk in (1, 4096, 65_536, len(track)):
        meter = loudness.Meter()
        for start in range(0, len(track), chunk if chunk > 1 else 7919):
            meter.add(track[start : start + (chunk if chunk > 1 else 7919)])
        lufs, peak = meter.result()
        assert lufs == pytest.approx(reference, abs=0.01)
        assert peak == pytest.approx(20 * np.log10(np.abs(track).max()), abs=1e-6)
    half = len(gap) + len(clips[0]) + len(gap) + len(clips[1]) + SAMPLE_RATE  # in a silence
    first, second = loudness.Meter(), loudness.Meter()
    first.add(track[:half])
    second.add(track[half:])
    assert loudness.Meter.together([first, second])[0] == pytest.approx(reference, abs=0.02)
    silent = loudness.Meter()
    silent.add(np.zeros(SAMPLE_RATE, np.float32))
    assert silent.result() == (float("-inf"), float("-inf"))


def test_true_peak_sees_peaks_between_samples() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.5 * np.sin(2 * np.pi * SAMPLE_RATE / 4 * t + np.pi / 4)).astype(np.float32)
    assert 20 * np.log10(np.abs(tone).max()) == pytest.approx(-9.0, abs=0.1)  # samples at 0.354
    assert true_peak(tone) == pytest.approx(-6.0, abs=0.1)  # the wave itself peaks at 0.5


def test_a_long_signal_is_oversampled_in_pieces_as_if_whole() -> None:
    signal = np.concatenate(bursts() * 3)  # 30 s: many pieces
    assert len(signal) > 4 * loudness.PIECE
    whole = loudness._envelope(signal)
    assert np.allclose(loudness.peak_envelope(signal), whole, rtol=0, atol=1e-6)


def test_the_limiters_quick_oversampler_finds_the_true_peak_within_a_few_hundredths() -> None:
    """White noise up to 22 kHz is the hardest case (0.04 dB); speech reads within 0.01."""
    for clip in bursts():
        envelope = loudness.peak_envelope(clip)
        assert 20 * np.log10(envelope.max()) == pytest.approx(true_peak(clip), abs=0.05)


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


@pytest.mark.parametrize("final", ["false", "true", "bowl", "tick"])
def test_the_soft_tick_sits_as_far_under_the_voice_whatever_the_chimes(
    final: str, tmp_path: Path
) -> None:
    """Leveled with the chimes, the tick was 5 dB louder in a routine with no final chime (it
    was the loudest chime, so their gain left it alone) than beside a bell."""
    from psoas_audio.level import TICK_BELOW_VOICE_LU

    routine = tmp_path / "r.yaml"
    routine.write_text(
        f"title: T\nchime: {final}\nsteps:\n  - say: Lie back, and let the floor hold you.\n"
        "  - hold: 61s\n  - say: Now roll slowly to one side, and rest there.\n",
        encoding="utf-8",
    )
    options = Options(engine="fake", cache_dir=tmp_path / "cache")
    planned = plan_routine(check(routine, options), options)
    leveler = planned.leveler(options.loudness)
    levels = leveler.levels(planned.timeline)
    pcm = b"".join(render(planned.timeline, lambda event: leveler.clip(event, levels)))
    track = np.frombuffer(pcm, "<i2").astype(np.float32) * np.float32(1 / 32768)
    tick = next(e for e in planned.timeline.events if e.text == "tick")
    voice = [e for e in planned.timeline.events if e.kind == "speech"]
    voice_loudest = max(measure_clip(track[e.start : e.end])[1] for e in voice)  # line by line
    blocks, _ = measure_clip(track[tick.start : tick.end])
    tick_loudest = loudness.to_lufs(float(blocks.max()))
    assert voice_loudest - tick_loudest == pytest.approx(TICK_BELOW_VOICE_LU, abs=0.3)


def test_an_mp3_that_peaks_too_high_is_limited_harder_and_encoded_again() -> None:
    options = Options(engine="fake")
    planned = plan_routine(check(TESTS / "golden" / "cues.yaml", options), options)
    leveler = planned.leveler(options.loudness)
    encoded: list[float] = []
    readings = iter([Measured(lufs=-16.0, peak_db=-0.8), Measured(lufs=-16.1, peak_db=-1.6)])

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
        return Measured(lufs=-14.9, peak_db=-1.6)

    levels = leveler.encode_on_target(planned.timeline, encode)
    assert count == 3 and levels.gains.verified  # no endless re-encoding
    assert missed(levels.gains, -14.0) == (
        "the track measures -14.9 LUFS, not the -14 asked for: its peaks leave no more room"
    )


def test_the_k_weighting_and_the_limiter_need_only_numpy_and_match_scipy() -> None:
    """The product filters by FFT and computes its moving minimum and mean itself (importing
    scipy.signal cost a build a second and 66 MB); these are the filters they replace."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d
    from scipy.signal import sosfilt

    for length in (1, 500, 29_267, 132_300, 300_007):
        signal = (0.2 * RNG.standard_normal(length)).astype(np.float32)
        reference = sosfilt(loudness._k_weighting(), signal.astype(np.float64)) ** 2
        # single-precision FFTs: within a few millionths of full scale, sample by sample
        assert np.allclose(loudness._weighted_squares(signal), reference, rtol=1e-4, atol=1e-6)
        values = RNG.random(length).astype(np.float32)
        assert np.array_equal(loudness._moving_min(values, 441), minimum_filter1d(values, 441))
        mean = uniform_filter1d(values, 220, mode="nearest")
        assert np.allclose(loudness._moving_mean(values, 220), mean, atol=1e-6)


def test_the_limiter_from_remembered_peaks_is_the_limiter() -> None:
    loud = bursts()[2] * np.float32(2.0)
    peaks = loudness.Peaks.of(loudness.peak_envelope(loud), 10 ** (-2.5 / 20) / 10 ** (9 / 20))
    for gain in (0.0, 3.0, 9.0):
        assert peaks.reach(gain, -2.5)
        expected = limit(loud * np.float32(10 ** (gain / 20)), -2.5)
        assert np.allclose(loudness.limit_peaks(loud, peaks, gain, -2.5), expected, atol=1e-6)
    assert not peaks.reach(12.0, -2.5)  # it knows when it would miss peaks


def test_a_limited_clips_loudness_is_estimated_within_a_few_hundredths_without_filtering() -> None:
    for clip in bursts()[1:]:
        loud = clip * np.float32(10 ** (12 / 20))  # limited hard: 3 to 14 dB off its loudness
        limited = limit(loud, -2.5)
        exact = integrated([(measure_clip(limited)[0], 1)])
        hops = loudness.limited_hops(loudness.weighted_hops(loud), loud, limited)
        estimate = integrated([(loudness.from_hops(hops)[0], 1)])
        assert integrated([(measure_clip(loud)[0], 1)]) - exact > 0.3  # the limiter did work
        assert estimate == pytest.approx(exact, abs=0.05)


def test_a_search_pass_reads_a_clip_only_where_the_limiter_works_and_gets_the_same() -> None:
    """limited_hops_near() is limited_hops() of the limited clip, with no filtering or copy."""
    for clip in bursts()[1:]:
        samples = np.round(clip * 32767).astype(np.int16)
        signal = samples.astype(np.float32) / np.float32(32768)
        peaks = loudness.Peaks.of(loudness.peak_envelope(signal), 10 ** (-14.5 / 20))
        hops, plain = loudness.weighted_hops(signal), loudness.plain_hops(signal)
        for gain in (0.0, 6.0, 12.0):
            scaled = signal * np.float32(10 ** (gain / 20))
            full = loudness.limited_hops(
                hops * 10 ** (gain / 10), scaled, loudness.limit_peaks(signal, peaks, gain, -2.5)
            )
            near = loudness.limited_hops_near(hops, plain, samples, 1 / 32768, peaks, gain, -2.5)
            assert np.allclose(near, full, rtol=1e-4, atol=1e-9)


def test_the_searchs_first_step_makes_up_a_loss_that_grows_as_the_square_of_the_gain() -> None:
    """Limiting takes more as the gain rises past where the loudest clip meets the ceiling:
    the first step is the one after which the unlimited gain makes up what the limiter took."""
    for above_onset, lost in ((6.08, 1.35), (6.76, 1.17), (8.53, 1.84)):
        step = _first_step(above_onset, lost)
        assert step > lost  # further than a limiter-free step: the loss grows meanwhile
        assert step == pytest.approx(lost * ((above_onset + step) / above_onset) ** 2)
    assert _first_step(0.0, 1.0) == 1.0  # nothing to go by: the plain step
    assert _first_step(4.0, 1.0) == 5.0  # past the model: the steepest step


def test_ranges_lay_stretches_end_to_end() -> None:
    starts, ends = np.array([0, 10, 15, 40]), np.array([3, 12, 20, 41])
    expected = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends, strict=True)])
    assert np.array_equal(loudness._ranges(starts, ends), expected)


def test_chunks_made_ahead_arrive_in_order_and_a_makers_error_reaches_the_reader() -> None:
    made: list[int] = []

    def chunks(fail_at: int | None = None) -> Iterator[bytes]:
        for number in range(100):
            if number == fail_at:
                raise CacheError("the clip changed during the build")
            made.append(number)
            yield bytes([number])

    assert b"".join(ahead(chunks())) == bytes(range(100))
    with pytest.raises(CacheError, match="changed during the build"):
        list(ahead(chunks(fail_at=50)))
    made.clear()
    reader = ahead(chunks(), depth=4)
    assert next(reader) == b"\x00"
    reader.close()  # the reader stops early: so does the maker, a few chunks on
    assert len(made) <= 1 + 4 + 2


def test_a_build_without_a_bed_never_imports_scipy(tmp_path: Path) -> None:
    """scipy.signal took a second and 66 MB of a cold build; only the ambient bed needs it."""
    script = (
        "import sys, conftest; from psoas_audio.__main__ import main\n"
        "try:\n    main()\nexcept SystemExit as done:\n    assert not done.code, done.code\n"
        "print('scipy' in sys.modules)"
    )

    def imports_scipy(*options: str) -> bool:
        done = subprocess.run(
            [sys.executable, "-c", script, "build", str(TESTS / "golden" / "cues.yaml"),
             "--engine", "fake", "-o", str(tmp_path / "cues.mp3"), *options],
            capture_output=True, text=True, cwd=TESTS,
            env={**os.environ, "PYTHONPATH": str(TESTS), "PSOAS_AUDIO_CACHE": str(tmp_path)},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()[-1] == "True"

    assert not imports_scipy()
    assert imports_scipy("--ambience", "rain")  # the bed's filters do
