from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from conftest import Writer
from psoas_audio import Options, check, pipeline, plan_routine
from psoas_audio.chime import CHIME_PEAK, STYLES, chime
from psoas_audio.pcm import SAMPLE_RATE, quantize


def test_every_style_rings_then_decays_smoothly_to_exact_silence() -> None:
    for style in STYLES:
        bell = chime(style).astype(np.float64)
        assert 0.3 * SAMPLE_RATE <= len(bell) <= 15 * SAMPLE_RATE
        assert np.max(np.abs(bell)) <= CHIME_PEAK + 1e-6  # never clips, never startles
        assert bell[-1] == 0.0
        twelfths = bell[: len(bell) // 12 * 12].reshape(12, -1)
        levels = 20 * np.log10(np.sqrt(np.mean(twelfths**2, axis=1)) + 1e-12)
        # Close partials beat, as in a real bell, but the level never climbs back by 1 dB.
        assert np.all(np.diff(levels) < 1.0), f"{style} does not decay smoothly: {levels}"
        assert levels[0] > -30  # audible at the start
        assert levels[-1] < -60  # gone at the end


def test_the_bell_starts_with_a_soft_attack_not_a_click() -> None:
    bell = chime("bell")
    assert abs(float(bell[0])) < 1e-6
    assert np.max(np.abs(np.diff(bell[:200]))) < 0.05


def test_the_styles_are_clearly_different_and_nothing_is_harsh() -> None:
    centroids = {}
    for style in STYLES:
        bell = chime(style).astype(np.float64)
        spectrum = np.abs(np.fft.rfft(bell)) ** 2
        hz = np.fft.rfftfreq(len(bell), 1 / SAMPLE_RATE)
        centroids[style] = float((spectrum * hz).sum() / spectrum.sum())
        assert spectrum[hz > 4000].sum() / spectrum.sum() < 1e-4, f"{style} is bright above 4 kHz"
    ordered = sorted(centroids.values())
    assert len(STYLES) >= 3
    assert all(high / low > 1.3 for low, high in itertools.pairwise(ordered))


def test_a_chime_is_made_once_and_kept_and_a_damaged_one_is_made_again(
    write: Writer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []

    def counted(style: str) -> np.ndarray:
        made.append(style)
        return chime(style)

    monkeypatch.setattr(pipeline, "chime", counted)
    options = Options(engine="fake", cache_dir=tmp_path / "cache")
    routine = check(write("r.yaml", "title: T\nsteps: [{say: Hi.}, {chime: bowl}]\n"), options)
    first = plan_routine(routine, options)
    second = plan_routine(routine, options)  # a later build: the chimes come from the cache
    assert sorted(made) == ["bell", "bowl"]
    for style in ("bell", "bowl"):
        assert np.array_equal(second.chimes[style], quantize(chime(style)))
        assert second.chime_digests[style] == first.chime_digests[style]
    for entry in (tmp_path / "cache").rglob("*"):
        if entry.is_file() and entry.parent.name != "tmp":
            entry.write_bytes(entry.read_bytes()[:20])  # every entry damaged
    healed = plan_routine(routine, options)
    assert sorted(made) == ["bell", "bell", "bowl", "bowl"]
    assert np.array_equal(healed.chimes["bowl"], quantize(chime("bowl")))
