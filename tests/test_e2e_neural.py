"""Real parts with the neural voice: piper speaks, ffmpeg encodes, we measure the decoded MP3.

A file of its own so that the test runner can run it beside the eSpeak NG tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from measure import RATE
from test_e2e import (
    SHIPPED,
    SHORT,
    assert_loudness,
    assert_shipped_routine_sounds_as_planned,
    assert_track_follows_plan,
    build_and_plan,
    cli,
)

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("routine", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_routine_sounds_as_planned_in_the_neural_voice(
    routine: Path, tmp_path: Path, shared_cache: Path
) -> None:
    assert_shipped_routine_sounds_as_planned(routine, "piper", tmp_path, shared_cache)


def test_the_neural_voice_sounds_as_planned_at_the_same_loudness(
    tmp_path: Path, shared_cache: Path
) -> None:
    routine = tmp_path / "neural.yaml"
    routine.write_text(SHORT.replace("title: Short e2e", "title: Neural\nvoice: {engine: piper}"))
    mp3, plan, audio = build_and_plan(routine, tmp_path, shared_cache, engine=None)
    assert_track_follows_plan(routine, plan, audio)
    assert_loudness(mp3, plan, audio, -16.0)


def test_rate_means_words_per_minute_for_the_neural_voice_too(shared_cache: Path) -> None:
    from psoas_audio.cache import Cache
    from psoas_audio.speech import Speaker, VoiceRequest

    line = "Let the back of your body sink slowly toward the floor, and breathe out."
    seconds = {}
    for engine in ("pyttsx3", "piper"):
        for rate in (120, 200):
            with Speaker(VoiceRequest(engine, None, rate), Cache(shared_cache)) as speaker:
                seconds[engine, rate] = speaker.clips([line]).lengths[line] / RATE
    for rate in (120, 200):  # the same pace, whichever engine speaks
        assert seconds["piper", rate] == pytest.approx(seconds["pyttsx3", rate], rel=0.2)
    assert seconds["piper", 120] / seconds["piper", 200] == pytest.approx(200 / 120, rel=0.2)


def test_voices_lists_the_neural_voice(shared_cache: Path) -> None:
    assert cli("voices", "--engine", "piper", cache=shared_cache).split()[0] == "joe"


def test_auto_speaks_with_piper_and_keeps_espeak_for_other_languages(
    tmp_path: Path, shared_cache: Path
) -> None:
    from measure import id3_frames

    english = tmp_path / "en.yaml"
    english.write_text("title: T\nsteps: [{say: Let the floor take your weight.}]\n")
    german = tmp_path / "de.yaml"
    german.write_text("title: T\nlanguage: de\nsteps: [{say: Lass den Boden dich tragen.}]\n")
    for routine, engine in ((english, "piper"), (german, "pyttsx3")):
        shown = json.loads(cli("plan", routine, "--json", cache=shared_cache, engine=None))
        assert shown["engine"] == engine
    mp3 = tmp_path / "en.mp3"
    cli("build", english, "-o", mp3, cache=shared_cache, engine=None)
    [voice] = id3_frames(mp3, "TXXX")
    assert voice.text == ["piper: Joe (en_US, medium), 140 wpm"]
