from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from conftest import TESTS
from psoas_audio import Options, Routine, check, plan_routine
from psoas_audio.pcm import SAMPLE_RATE, to_samples
from psoas_audio.script import LONG_SILENCE, TICK_LEAD, Quiet, Speak, expand, measure
from psoas_audio.timeline import Timeline, plan

GOLDEN = sorted((TESTS / "golden").glob("*.yaml"))
SHIPPED = sorted((TESTS.parent / "routines").glob("*.yaml"))
FAKE = Options(engine="fake")


def planned(path: Path) -> Timeline:
    return plan_routine(check(path, FAKE), FAKE).timeline


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_plans(path: Path) -> None:
    """Each tests/golden/NAME.yaml plans to NAME.plan.json (PSOAS_UPDATE_GOLDEN=1 rewrites)."""
    got = planned(path).as_json()
    expected_path = path.with_suffix(".plan.json")
    if os.environ.get("PSOAS_UPDATE_GOLDEN"):
        expected_path.write_text(json.dumps(got, indent=2) + "\n", encoding="utf-8")
    assert got == json.loads(expected_path.read_text(encoding="utf-8"))


def test_a_hold_is_silent_from_the_end_of_its_text_to_the_next_sound() -> None:
    timeline = planned(TESTS / "golden" / "lunge-mini.yaml")
    events = timeline.events
    holds = [i for i, e in enumerate(events) if e.role == "hold"]
    assert len(holds) == 4
    for i in holds:
        said, hold, after = events[i - 1], events[i], events[i + 1]
        assert said.kind == "speech" and said.step == hold.step
        assert hold.start == said.end  # to the sample
        assert hold.length == 5 * SAMPLE_RATE
        assert after.start == hold.end and after.kind != "silence"


def test_a_breath_falls_between_two_spoken_lines_and_nowhere_else() -> None:
    events = planned(TESTS / "golden" / "lunge-mini.yaml").events
    gaps = 0
    for before, middle, after in zip(events, events[1:], events[2:], strict=False):
        if middle.role == "gap":
            gaps += 1
            assert before.kind == "speech" and after.kind in ("speech", "chime")
            assert middle.length == to_samples(2.0 if after.kind == "chime" else 1.2)
        assert not (before.kind == "speech" and middle.kind == "speech")
    assert gaps == 2  # after the safety note, and before the chime


@pytest.mark.parametrize("path", GOLDEN + SHIPPED, ids=[p.stem for p in GOLDEN + SHIPPED])
def test_measuring_without_unrolling_agrees_with_unrolling(path: Path) -> None:
    routine = check(path).routine
    script = expand(routine.model_copy(update={"tick": False}))  # ticks come after unrolling
    size = measure(routine.steps)
    assert size.instructions == len(script) - bool(routine.chime)  # the final chime is no step
    silent = sum(item.seconds for item in script if isinstance(item, Quiet))
    assert size.silent_seconds == pytest.approx(silent)
    words = sum(len(item.text.split()) for item in script if isinstance(item, Speak))
    assert size.spoken_words == words


def test_positions_never_drift() -> None:
    """600 pauses of 1.234 s: each is a whole number of samples and they add up exactly."""
    routine = Routine.model_validate({"title": "T", "steps": [{"pause": 1.234}] * 600})
    timeline = plan(routine, expand(routine), {}, {"bell": 100})
    pauses = [e for e in timeline.events if e.role == "pause"]
    assert {e.length for e in pauses} == {to_samples(1.234)}
    assert pauses[-1].end == to_samples(1.0) + 600 * to_samples(1.234)


def test_the_chime_comes_last_and_ends_the_track() -> None:
    timeline = planned(TESTS / "golden" / "lunge-mini.yaml")
    assert timeline.events[-1].kind == "chime"
    assert timeline.events[-2].role == "gap"  # the last step speaks; a breath, then the bell
    assert timeline.length == timeline.events[-1].end


def test_without_a_chime_a_last_hold_ends_the_track_and_speech_gets_a_tail() -> None:
    held = planned(TESTS / "golden" / "nested-sections.yaml")
    assert held.events[-1].role == "hold"
    spoken = planned(TESTS / "golden" / "speech-last.yaml")
    assert [e.role for e in spoken.events[-2:]] == ["say", "tail"]


def test_sections_span_their_steps_and_nest() -> None:
    timeline = planned(TESTS / "golden" / "nested-sections.yaml")
    outer, inner = timeline.sections
    assert (outer.title, inner.title) == ("Outer", "Inner")
    assert outer.start <= inner.start < inner.end == outer.end
    three = next(e for e in timeline.events if e.text == "Three.")
    assert inner.end == three.end


def test_sides_and_repeats_unroll_with_their_step_paths() -> None:
    timeline = planned(TESTS / "golden" / "lunge-mini.yaml")
    said = [(e.text, e.step) for e in timeline.events if e.kind == "speech"]
    assert said[:5] == [
        ("Ease off if anything hurts.", "steps[0]"),
        ("Kneel on your left knee.", "steps[1].steps[0].steps[0]"),
        ("Hold 1 of 2.", "steps[1].steps[0].steps[2].steps[0]"),
        ("Relax.", "steps[1].steps[0].steps[2].steps[1]"),
        ("Hold 2 of 2.", "steps[1].steps[0].steps[2].steps[0]"),
    ]
    assert [s.title for s in timeline.sections] == ["Left side", "Right side"]


def test_the_breath_between_lines_can_be_set_by_the_routine() -> None:
    routine = Routine.model_validate(
        {"title": "T", "breath": "1.5s", "chime": False, "steps": [{"say": "A."}, {"say": "B."}]}
    )
    timeline = plan(routine, expand(routine), {"A.": 100, "B.": 100}, {})
    assert [e.length for e in timeline.events if e.role == "gap"] == [to_samples(1.5)]


def said(routine: Mapping[str, object]) -> list[str]:
    script = expand(Routine.model_validate({"title": "T", "chime": False, **routine}))
    return [item.text for item in script if isinstance(item, Speak)]


def test_then_is_said_instead_of_say_from_a_repeats_second_time_round() -> None:
    steps = [
        {"say": "Knee down, hips square, back tall: the full cue {rep}.", "then": "Again {rep}."},
        {
            "hold": "5s",
            "say": "Hold {rep} of {reps}, and breathe.",
            "then": "Hold {rep} of {reps}.",
        },
    ]
    routine = {"steps": [{"sides": ["left", "right"], "steps": [{"repeat": 3, "steps": steps}]}]}
    lines = said(routine)
    first = ["Knee down, hips square, back tall: the full cue 1.", "Hold 1 of 3, and breathe."]
    later = ["Again 2.", "Hold 2 of 3.", "Again 3.", "Hold 3 of 3."]
    assert lines == (first + later) * 2  # each side's set starts with the full cue
    size = measure(Routine.model_validate({"title": "T", **routine}).steps)
    assert size.spoken_words == sum(len(line.split()) for line in lines)


def test_words_after_a_minute_of_silence_are_announced_by_a_soft_tick() -> None:
    routine = {
        "steps": [
            {"say": "Lie back."},
            {"rest": "50s", "say": "Rest.", "remind": {"every": "20s", "say": "Soft."}},
            {"section": "Later", "steps": [{"pause": "10s"}]},  # a minute, end to end
            {"say": "Roll to one side."},
            {"hold": "59s"},
            {"say": "Not announced: under a minute."},
        ]
    }
    timeline = plan(
        Routine.model_validate({"title": "T", "chime": False, **routine}),
        expand(Routine.model_validate({"title": "T", "chime": False, **routine})),
        {text: SAMPLE_RATE for text in ["Lie back.", "Rest.", "Soft.", "Roll to one side.",
                                        "Not announced: under a minute."]},
        {"tick": SAMPLE_RATE // 2},
    )  # fmt: skip
    events = timeline.events
    ticks = [i for i, e in enumerate(events) if e.kind == "chime"]
    assert len(ticks) == 1
    tick = events[ticks[0]]
    before, words = events[ticks[0] - 1], events[ticks[0] + 2]
    assert tick.text == "tick"  # as soft as the leveler makes it (test_loudness)
    assert before.role == "pause" and before.end == tick.start  # the next sound, at once
    assert words.text == "Roll to one side." and words.start - tick.start == to_samples(TICK_LEAD)
    assert 1.0 <= TICK_LEAD <= 3.0 and LONG_SILENCE == 60.0
    off = Routine.model_validate({"title": "T", "chime": False, "tick": False, **routine})
    assert not any(item for item in expand(off) if type(item).__name__ == "Ring")
    # Pauses adding up to a minute are a minute, counted in samples (as floats: 59.99999...).
    pauses = [{"pause": f"{seconds}s"} for seconds in (25.025, 14.349, 16.247, 4.379)]
    exact = Routine.model_validate({"title": "T", "steps": [*pauses, {"say": "Now."}]})
    assert [type(item).__name__ for item in expand(exact)][4:6] == ["Ring", "Quiet"]
