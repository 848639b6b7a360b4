"""Pace: `rate` is words per minute of actual speech, whatever the engine (the maths only)."""

from __future__ import annotations

import pytest

from psoas_audio.speech import pace
from psoas_audio.speech.pace import clauses, phrasing, setting_for
from psoas_audio.speech.piper_engine import CALIBRATION as PIPER
from psoas_audio.speech.piper_engine import PiperEngine
from psoas_audio.speech.pyttsx3_engine import CALIBRATION as ESPEAK
from psoas_audio.speech.pyttsx3_engine import Pyttsx3Engine, espeak_parameters


@pytest.mark.parametrize("wpm", [80, 110, 140, 170, 300])
def test_a_typical_lines_words_and_pauses_add_up_to_the_pace_asked_for(wpm: int) -> None:
    said = phrasing(wpm)
    per_word = (
        60 / said.articulation
        + pace.COMMAS_PER_WORD * said.comma
        + pace.SENTENCES_PER_WORD * said.sentence
    )
    assert 60 / per_word == pytest.approx(wpm, rel=0.002)


def test_pauses_grow_as_the_pace_slows_and_clauses_are_spoken_faster_than_the_pace() -> None:
    calm, brisk = phrasing(70), phrasing(140)
    assert calm.comma == pytest.approx(2 * brisk.comma)
    assert calm.sentence == pytest.approx(2 * brisk.sentence)
    assert brisk.sentence == pace.SENTENCE_PAUSE and brisk.comma == pace.COMMA_PAUSE
    assert brisk.articulation > 140  # the pauses take some of each minute


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hold.", [("Hold.", None)]),
        ("If anything hurts, ease off. Then rest.",
         [("If anything hurts,", "comma"), ("ease off.", "sentence"), ("Then rest.", None)]),
        ("Breathe: in; and out", [("Breathe:", "comma"), ("in;", "comma"), ("and out", None)]),
        ("Rest for 1.5 seconds.", [("Rest for 1.5 seconds.", None)]),  # no space after the dot
        ("Wait ... now.", [("Wait ...", "sentence"), ("now.", None)]),
        ('He said "stop." Then rest', [('He said "stop."', "sentence"), ("Then rest", None)]),
        ("Is it even? Good.", [("Is it even?", "sentence"), ("Good.", None)]),
        ("- and , then", [("- and ,", "comma"), ("then", None)]),
        ("Use a prop, e.g. a cushion.", [("Use a prop,", "comma"), ("e.g. a cushion.", None)]),
    ],
)  # fmt: skip
def test_a_line_is_spoken_clause_by_clause(
    text: str, expected: list[tuple[str, pace.Pause | None]]
) -> None:
    assert clauses(text) == expected


def test_a_measured_setting_is_used_exactly_and_others_are_interpolated() -> None:
    table = [(100.0, 120.0), (200.0, 240.0)]
    assert setting_for(120, table) == 100.0 and setting_for(240, table) == 200.0
    # halfway in seconds per word (0.375 s), not halfway in words per minute
    assert setting_for(60 / 0.375, table) == pytest.approx(150.0)
    assert setting_for(60, table) == 100.0 and setting_for(999, table) == 200.0  # the ends hold


@pytest.mark.parametrize("table", [ESPEAK, PIPER], ids=["espeak", "piper"])
def test_each_engines_table_spans_every_pace_allowed(table: pace.Calibration) -> None:
    rates = [wpm for _, wpm in table]
    needed = [phrasing(wpm).articulation for wpm in (pace.SLOWEST_WPM, pace.FASTEST_WPM)]
    assert min(rates) <= min(needed) and max(rates) >= max(needed)


def test_espeak_speaks_faster_at_higher_rates_and_slower_ones_come_from_gaps_between_words() -> (
    None
):
    settings = [Pyttsx3Engine.setting(wpm) for wpm in (80, 90, 110, 140, 170, 300)]
    assert settings == sorted(settings)
    assert espeak_parameters(150) == (150, 0)
    assert espeak_parameters(72) == (80, 2)  # eSpeak's slowest rate, 20 ms between words
    assert all(s >= 80 or s % 4 == 0 for s in settings)  # gaps come in whole 10 ms steps


def test_piper_stretches_its_speech_to_slow_down() -> None:
    scales = [PiperEngine.setting(wpm) for wpm in (300, 170, 140, 110, 80)]
    assert scales == sorted(scales)
    scale, wpm = PIPER[12]
    assert PiperEngine.setting(wpm) == pytest.approx(scale)  # a measured row, used as measured
