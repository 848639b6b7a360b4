from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Writer
from psoas_audio import Options, RoutineError, check, plan_routine
from psoas_audio.cues import cue_problems, inner_cues
from psoas_audio.pcm import to_samples
from psoas_audio.routine import load_routine
from psoas_audio.script import Quiet, expand


def test_a_countdown_speaks_on_the_last_seconds() -> None:
    cues = inner_cues(20, countdown=3)
    assert [(c.at, c.text, c.until) for c in cues] == [
        (17, "three", 18), (18, "two", 19), (19, "one", 20)
    ]  # fmt: skip


def test_reminders_are_evenly_spaced_cycle_and_spare_the_last_ten_seconds() -> None:
    cues = inner_cues(480, every=120, reminders=("Soften.", "Let go."))
    assert [(c.at, c.text) for c in cues] == [(120, "Soften."), (240, "Let go."), (360, "Soften.")]
    assert cues[-1].until == 470
    assert [c.at for c in inner_cues(130, every=60, reminders=("x",))] == [60]


def test_reminder_spacing_does_not_trip_on_floating_point() -> None:
    """13.3 - 10 is 3.3000000000000007: no reminder may start right at the quiet end."""
    assert [c.at for c in inner_cues(13.3, every=1.1, reminders=("x",))] == [1.1, 2.2]


def test_halfway_sits_in_the_middle() -> None:
    [cue] = inner_cues(30, halfway=True)
    assert (cue.at, cue.text, cue.role) == (15, "Halfway.", "halfway")


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({"seconds": 3, "countdown": 3}, ("countdown", "a countdown from 3 does not fit in 3s")),
        ({"seconds": 6, "countdown": 3, "halfway": True},
         ("halfway", "halfway (3s) falls inside the countdown")),
        ({"seconds": 60, "every": 50}, ("remind", "no reminder fits: every 50s in 60s")),
        ({"seconds": 480, "every": 120, "halfway": True},
         ("remind", "the halfway and remind cues fall together at 240s")),
    ],
)  # fmt: skip
def test_cues_that_cannot_fit_are_found_before_speaking(
    args: dict[str, object], problem: tuple[str, str]
) -> None:
    [(field, message)] = cue_problems(**args)  # type: ignore[arg-type]
    assert field == problem[0] and message.startswith(problem[1])


def test_cues_never_lengthen_a_hold(write: Writer) -> None:
    path = write(
        "r.yaml",
        """\
        title: T
        steps:
          - hold: 20s
            say: Hold.
            countdown: 3
            halfway: true
          - say: Next.
        """,
    )
    options = Options(engine="fake")
    events = plan_routine(check(path, options), options).timeline.events
    said = next(e for e in events if e.text == "Hold.")
    following = next(e for e in events if e.text == "Next.")
    assert following.start - said.end == to_samples(20)  # to the sample
    inside = [e for e in events if said.end <= e.start < following.start]
    assert [(e.text, e.start - said.end) for e in inside if e.kind == "speech"] == [
        ("Halfway.", to_samples(10)), ("three", to_samples(17)), ("two", to_samples(18)),
        ("one", to_samples(19)),
    ]  # fmt: skip
    assert all(e.step == "steps[0]" for e in inside)
    assert {e.role for e in inside} == {"hold", "halfway", "countdown"}


def test_a_reminder_too_long_for_its_slot_is_an_error_at_its_line(write: Writer) -> None:
    long_line = "Let the whole back of the body grow heavy and wide on the floor. " * 4
    path = write(
        "r.yaml",
        f"""\
        title: T
        steps:
          - rest: 30s
            remind:
              every: 10s
              say: {long_line}
        """,
    )
    options = Options(engine="fake")
    with pytest.raises(
        RoutineError,
        match=r"r\.yaml:5:7: the remind cue 'Let the whole back of the body grow\S*' takes 13\.88s",
    ):
        plan_routine(check(path, options), options)


def test_every_cue_that_cannot_fit_is_reported_at_once(write: Writer) -> None:
    long_line = "Let the whole back of the body grow heavy and wide on the floor."
    path = write(
        "r.yaml",
        f"""\
        title: T
        steps:
          - repeat: 3
            steps:
              - rest: 12s
                remind: {{every: 1s, say: {long_line}}}
          - hold: 20s
            halfway: true
            remind: {{every: 9s, say: {long_line}}}
        """,
    )
    options = Options(engine="fake")
    with pytest.raises(RoutineError) as caught:
        plan_routine(check(path, options), options)
    assert [(p.line, p.column) for p in caught.value.problems] == [(6, 17), (9, 13)]


def _cue_texts(path: Path) -> list[str]:
    return [inner.text for c in expand(load_routine(path).routine) if isinstance(c, Quiet)
            for inner in c.inner]  # fmt: skip


CUED = "steps:\n  - hold: 12s\n    say: Hold.\n    countdown: 3\n    halfway: true\n"


def test_cue_words_follow_the_routines_language(write: Writer) -> None:
    assert _cue_texts(write("en.yaml", f"title: T\n{CUED}")) == [
        "Halfway.", "three", "two", "one"
    ]  # fmt: skip
    assert _cue_texts(write("de.yaml", f"title: T\nlanguage: de-de\n{CUED}")) == [
        "Halbzeit.", "drei", "zwei", "eins"
    ]  # fmt: skip


def test_a_routine_can_set_its_own_cue_words(write: Writer) -> None:
    words = "cue_words: {halfway: Half done., countdown: [uno, dos, tres]}\n"
    assert _cue_texts(write("own.yaml", f"title: T\nlanguage: sw\n{words}{CUED}")) == [
        "Half done.", "tres", "dos", "uno"
    ]  # fmt: skip


def test_a_language_without_cue_words_says_where_they_are_needed(write: Writer) -> None:
    path = write("sw.yaml", f"title: T\nlanguage: sw\ncue_words: {{halfway: Nusu.}}\n{CUED}")
    with pytest.raises(RoutineError) as caught:
        load_routine(path)
    assert str(caught.value) == (
        f"{path}:7:16: a countdown from 3 needs 3 number words; the language 'sw' has no "
        "built-in cue words, so give them with cue_words: {countdown: [...]}"
    )
