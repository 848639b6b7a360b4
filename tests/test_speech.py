from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from conftest import Writer
from fakes import ENGINE_RATE, SECONDS_PER_CHARACTER
from psoas_audio import CacheError, EngineError, Options, RoutineError, check, plan_routine
from psoas_audio.cache import Cache
from psoas_audio.errors import UnknownVoice
from psoas_audio.pcm import SAMPLE_RATE
from psoas_audio.speech import Speaker, VoiceRequest
from psoas_audio.speech import engine as engine_module
from psoas_audio.speech.engine import ENGINES, choose_engine, engine_path
from psoas_audio.speech.process import EngineProcess


@pytest.fixture
def engine_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "spoken.log"
    monkeypatch.setenv("FAKE_ENGINE_LOG", str(log))
    return log


def spoken(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def test_a_clip_is_trimmed_resampled_and_starts_and_ends_at_zero() -> None:
    with Speaker(VoiceRequest("fake", rate=150)) as speaker:
        clip = speaker.clips(["Twenty chars of text"])["Twenty chars of text"]
    tone = 20 * SECONDS_PER_CHARACTER * 150 / speaker.phrasing.articulation  # the fake's speed
    tone_samples = int(tone * ENGINE_RATE) * SAMPLE_RATE // ENGINE_RATE
    assert abs(len(clip) - tone_samples) <= 2 * 44  # the padding is gone, to the millisecond
    assert clip.dtype == np.int16
    assert abs(int(clip[0])) < 200 and abs(int(clip[-1])) < 200  # faded, no click


def test_the_cache_speaks_each_phrase_once(engine_log: Path) -> None:
    request = VoiceRequest("fake", rate=150)
    with Speaker(request) as speaker:
        first = speaker.clips(["Kneel.", "Hold.", "Kneel."])
    with Speaker(request) as speaker:
        again = speaker.clips(["Kneel.", "Hold.", "Relax."])
    assert [line.split("|")[2] for line in spoken(engine_log)] == ["Kneel.", "Hold.", "Relax."]
    assert np.array_equal(first["Hold."], again["Hold."])


def test_voice_rate_language_and_pronunciation_are_part_of_the_cache_key(
    engine_log: Path,
) -> None:
    for request in (
        VoiceRequest("fake"),
        VoiceRequest("fake", "brisk"),
        VoiceRequest("fake", rate=200),
        VoiceRequest("fake", language="en"),
        VoiceRequest("fake", pronounce=(("hold", "hohld"),)),
    ):
        with Speaker(request) as speaker:
            speaker.clips(["Hold."])
    assert [line.split("|")[2] for line in spoken(engine_log)] == ["Hold."] * 4 + ["hohld."]


def test_a_warm_cache_does_not_start_the_engine() -> None:
    cache = Cache()
    clip = np.full(4410, 1000, dtype=np.int16)
    cache.save_clip(Speaker(VoiceRequest("hanging")).cache_key("Hold."), clip)
    started = time.monotonic()
    with Speaker(VoiceRequest("hanging"), timeout=30) as speaker:  # hangs if it is started
        got = speaker.clips(["Hold."])
    assert np.array_equal(got["Hold."], clip)
    assert time.monotonic() - started < 5


def test_an_unwritable_cache_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with (
        Speaker(VoiceRequest("fake"), Cache(blocker)) as speaker,
        pytest.raises(CacheError, match="set PSOAS_AUDIO_CACHE to a writable folder"),
    ):
        speaker.clips(["Hello."])


def test_editing_one_line_speaks_only_that_line(write: Writer, engine_log: Path) -> None:
    text = "title: T\nsteps:\n  - say: One.\n  - say: Two.\n  - say: Three.\n"
    options = Options(engine="fake")
    plan_routine(check(write("r.yaml", text), options), options)
    plan_routine(check(write("r.yaml", text.replace("Two.", "Two, changed.")), options), options)
    assert [line.split("|")[2] for line in spoken(engine_log)] == [
        "One.", "Two.", "Three.", "Two,", "changed."
    ]  # fmt: skip


def test_an_unknown_voice_is_an_error_with_a_suggestion() -> None:
    with Speaker(VoiceRequest("fake", "clam")) as speaker, pytest.raises(UnknownVoice) as caught:
        speaker.clips(["Hello."])
    assert "has no voice 'clam' (did you mean 'calm'?)" in str(caught.value)


def test_an_unknown_voice_in_a_routine_points_at_its_line(write: Writer) -> None:
    path = write("r.yaml", "title: T\nvoice:\n  engine: fake\n  name: clam\nsteps: [{say: Hi}]\n")
    with pytest.raises(RoutineError, match=r"r\.yaml:4:9: the fake engine has no voice 'clam'"):
        plan_routine(check(path))


def test_a_voice_can_be_named_by_id_short_id_or_name(engine_log: Path) -> None:
    for name in ("fake/brisk", "brisk", "Brisk"):
        with Speaker(VoiceRequest("fake", name)) as speaker:
            speaker.clips([f"Hello {name}."])
    assert {line.split("|")[0] for line in spoken(engine_log)} == {"fake/brisk"}


def test_a_hung_engine_is_stopped_with_a_clear_message() -> None:
    started = time.monotonic()
    with (
        Speaker(VoiceRequest("hanging"), timeout=1) as speaker,
        pytest.raises(EngineError) as caught,
    ):
        speaker.clips(["Hello."])
    assert "did not answer within 1s while speaking 'Hello.' and was stopped" in str(caught.value)
    assert time.monotonic() - started < 15


def test_an_engine_closed_while_another_thread_waits_on_it_ends_that_wait_cleanly() -> None:
    """An interrupted build closes engines whose worker threads still wait on them."""
    for _ in range(3):  # the race it guards against is a matter of timing
        assert [type(error) for error in _close_while_speaking()] == [EngineError]


def _close_while_speaking() -> list[BaseException]:
    """Errors raised when six threads close an engine that a seventh waits on."""
    engine = EngineProcess("hanging", engine_path("hanging"), 30)
    errors: list[BaseException] = []

    def run(job: Callable[[], object]) -> None:
        try:
            job()
        except BaseException as exc:
            errors.append(exc)

    speak = threading.Thread(
        target=run, args=(lambda: engine.call("synthesize", "Hi.", None, 1.0, "/x.wav"),)
    )
    speak.start()
    time.sleep(0.3)
    closers = [threading.Thread(target=run, args=(engine.close,)) for _ in range(6)]
    for thread in closers:
        thread.start()
    for thread in [*closers, speak]:
        thread.join(timeout=20)
    engine.close()
    return errors


def test_a_crashed_engine_is_reported() -> None:
    with Speaker(VoiceRequest("crashing")) as speaker, pytest.raises(EngineError, match="crashed"):
        speaker.clips(["Hello."])


def test_a_language_picks_the_engines_voice_for_it(engine_log: Path) -> None:
    with Speaker(VoiceRequest("fake", language="en")) as speaker:
        speaker.clips(["Hello."])
    assert spoken(engine_log)[0].startswith("fake/calm|")
    with (
        Speaker(VoiceRequest("fake", language="de")) as speaker,
        pytest.raises(UnknownVoice, match="no voice for language 'de'"),
    ):
        speaker.clips(["Hallo."])


def test_pronunciations_respell_whole_words_in_any_case() -> None:
    request = VoiceRequest("fake", pronounce=(("psoas", "so-az"),))
    assert request.respell("Psoas release for the psoas, not psoasx.") == (
        "so-az release for the so-az, not psoasx."
    )


def test_respellings_are_literal_apply_once_and_allow_symbols() -> None:
    request = VoiceRequest(
        "fake",
        pronounce=(("psoas", "so as"), ("so", "sew"), ("c++", "see plus plus"), ("ok", r"o\1k")),
    )
    assert request.respell("Psoas is so ok in c++.") == r"so as is sew o\1k in see plus plus."


def test_auto_picks_piper_only_where_it_is_installed_and_has_the_voice_and_language(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def engine(**asked: str) -> str:
        return choose_engine(VoiceRequest("auto", **asked)).engine  # type: ignore[arg-type]

    monkeypatch.setattr(engine_module, "neural_installed", lambda: True)
    assert engine() == "piper"
    assert engine(language="en-us") == engine(name="joe") == "piper"
    assert engine(language="de") == "pyttsx3"  # eSpeak NG speaks German; joe does not
    assert engine(name="gmw/en-us") == "pyttsx3"  # a voice piper does not have
    assert choose_engine(VoiceRequest("pyttsx3")).engine == "pyttsx3"  # named: always kept
    monkeypatch.setattr(engine_module, "neural_installed", lambda: False)
    assert engine() == "pyttsx3"


def test_auto_falls_back_to_pyttsx3_with_a_note_when_piper_cannot_start(
    write: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "neural_installed", lambda: True)
    monkeypatch.setitem(ENGINES, "piper", "fakes:MissingEngine")
    monkeypatch.setitem(ENGINES, "pyttsx3", "fakes:FakeEngine")
    notes: list[str] = []

    class Notes:
        def start(self, stage: str, total: int) -> None: ...
        def update(self, done: int) -> None: ...
        def notice(self, message: str) -> None:
            notes.append(message)

        def speaking(self, voice: str, pace: float) -> None: ...
        def written(self, path: Path) -> None: ...

    path = write("r.yaml", "title: T\nsteps: [{say: Hello there.}]\n")
    planned = plan_routine(check(path), Options(), Notes())
    assert planned.voice is not None and planned.voice.engine == "pyttsx3"
    assert notes == [
        "the piper voice could not start (eSpeak NG is not available; install it with "
        "'apt-get install espeak-ng'); pyttsx3 speaks instead"
    ]
    with pytest.raises(EngineError, match="eSpeak NG is not available"):  # asked for by name
        plan_routine(check(path), Options(engine="piper"))


def test_missing_clauses_are_spoken_by_an_engine_per_core_each_once(engine_log: Path) -> None:
    lines = [f"Line number {n}, and its second clause." for n in range(24)]
    with Speaker(VoiceRequest("fake"), engines=2) as speaker:
        spoken_by_two = speaker.clips(lines)
    log = [line.split("|") for line in spoken(engine_log)]
    expected = [f"Line number {n}," for n in range(24)] + ["and its second clause."]
    assert sorted(entry[2] for entry in log) == sorted(expected)  # each clause once, shared too
    assert len({entry[3] for entry in log}) == 2  # two engine processes shared the work
    engine_log.unlink()
    with Speaker(VoiceRequest("fake"), Cache(), engines=1) as speaker:  # all cached now
        again = speaker.clips(lines)
    assert not engine_log.exists()
    assert all(np.array_equal(spoken_by_two[line], again[line]) for line in lines)


def test_the_engines_started_for_the_probe_speak_the_rest_too(engine_log: Path) -> None:
    """A probe, then the rest of the lines: the same engine processes, not new ones (each
    costs an interpreter's start-up, while the others wait)."""
    lines = [f"Line number {n}, and a clause of its own {n}." for n in range(36)]
    with Speaker(VoiceRequest("fake"), engines=2) as speaker:
        speaker.clips(lines[:12])
        first = {line.split("|")[3] for line in spoken(engine_log)}
        speaker.clips(lines)
    assert len(first) == 2
    assert {line.split("|")[3] for line in spoken(engine_log)} == first


def test_a_routine_far_off_the_pace_is_probed_first_so_its_lines_are_spoken_about_once(
    write: Writer, engine_log: Path
) -> None:
    """The fake engine speaks far faster than asked: a few weighty lines are spoken first,
    the speed corrected, and the rest spoken once at it (not all of them twice)."""
    lines = "".join(f"  - say: Line number {n} of the routine, said slowly.\n" for n in range(50))
    options = Options(engine="fake")
    planned = plan_routine(check(write("r.yaml", f"title: T\nsteps:\n{lines}"), options), options)
    assert abs(planned.timeline.pace() / 140 - 1) <= 0.04
    said = [line.split("|")[2] for line in spoken(engine_log)]
    assert len(set(said)) == 50 + 1  # "said slowly." is one clause for every line
    assert len(said) <= 51 + 12 + 1  # the probe's twelve lines, and its own clause, twice
    engine_log.unlink()
    again = plan_routine(check(write("r.yaml", f"title: T\nsteps:\n{lines}"), options), options)
    assert spoken(engine_log) == [] and again.timeline == planned.timeline  # the same speed


def test_a_routine_corrected_once_starts_at_its_corrected_speed_next_time(
    write: Writer, engine_log: Path
) -> None:
    """A short routine far off the pace is laid out, spoken again at a corrected speed; its
    next build starts at that speed, so nothing is spoken and no stage says "again"."""

    class Stages:
        def __init__(self) -> None:
            self.names: list[str] = []

        def start(self, stage: str, total: int) -> None:
            self.names.append(stage)

        def update(self, done: int) -> None: ...
        def notice(self, message: str) -> None: ...
        def speaking(self, voice: str, pace: float) -> None: ...
        def written(self, path: Path) -> None: ...

    lines = "".join(f"  - say: Line {n} of a short routine, said slowly.\n" for n in range(8))
    options = Options(engine="fake")
    first, second = Stages(), Stages()
    routine = write("r.yaml", f"title: T\nsteps:\n{lines}")
    planned = plan_routine(check(routine, options), options, first)
    assert "speaking again" in first.names  # the calibrated speed missed, once
    engine_log.unlink()
    again = plan_routine(check(routine, options), options, second)
    assert set(second.names) == {"speaking"} and spoken(engine_log) == []
    assert again.timeline == planned.timeline
