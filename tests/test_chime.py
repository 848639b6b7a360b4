from __future__ import annotations

import numpy as np

from psoas_audio.chime import CHIME_PEAK, STYLES, chime
from psoas_audio.pcm import SAMPLE_RATE


def test_every_style_rings_then_decays_smoothly_to_exact_silence() -> None:
    for style in STYLES:
        bell = chime(style).astype(np.float64)
        assert 3 * SAMPLE_RATE <= len(bell) <= 10 * SAMPLE_RATE
        assert np.max(np.abs(bell)) <= CHIME_PEAK + 1e-6  # never clips, never startles
        assert bell[-1] == 0.0
        half_seconds = bell[: len(bell) // 22050 * 22050].reshape(-1, 22050)
        levels = 20 * np.log10(np.sqrt(np.mean(half_seconds**2, axis=1)) + 1e-12)
        # Close partials beat, as in a real bell, but the level never climbs back by 1 dB.
        assert np.all(np.diff(levels) < 1.0), f"{style} does not decay smoothly: {levels}"
        assert levels[0] > -30  # audible at the start
        assert levels[-1] < -60  # gone at the end


def test_the_bell_starts_with_a_soft_attack_not_a_click() -> None:
    bell = chime("bell")
    assert abs(float(bell[0])) < 1e-6
    assert np.max(np.abs(np.diff(bell[:200]))) < 0.05
