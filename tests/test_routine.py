from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from conftest import TESTS, Writer
from psoas_audio import (
    Options,
    PsoasError,
    RoutineError,
    SourceFileError,
    UsageError,
    check,
    load_routine,
    plan_routine,
)
from psoas_audio.routine import Hold, Repeat, Say, Section, Sides

BAD = sorted((TESTS / "bad").glob("*.yaml"))


def expected_message(path: Path) -> str:
    """Each bad routine ends with '# expect: LINE:COL: message' (the message's beginning)."""
    last = path.read_text(encoding="utf-8").splitlines()[-1]
    assert last.startswith("# expect: "), f"{path.name} does not say what it expects"
    return f"{path}:{last.removeprefix('# expect: ')}"


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_each_mistake_is_reported_at_its_line(path: Path) -> None:
    """Checked as a build checks: the file, then the voice and the cues against real speech."""
    fake = Options(engine="fake")
    with pytest.raises(PsoasError) as caught:
        plan_routine(check(path, fake), fake)
    [message] = str(caught.value).splitlines()
    assert message.startswith(expected_message(path))


def test_all_mistakes_in_a_file_are_reported_at_once(write: Writer) -> None:
    path = write(
        "many.yaml",
        """\
        title: T
        steps:
          - sya: Hello
          - pause: 0s
          - hold: "{hodl}"
        """,
    )
    with pytest.raises(RoutineError) as caught:
        load_routine(path)
    assert [(p.line, p.column) for p in caught.value.problems] == [(3, 5), (4, 12), (5, 11)]


def test_a_yaml_syntax_error_is_one_line_with_its_position(write: Writer) -> None:
    path = write("broken.yaml", "title: T\nsteps:\n  - say: [unclosed\n")
    with pytest.raises(SourceFileError, match=r"broken\.yaml:4:1: YAML syntax error: "):
        load_routine(path)


def test_a_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(SourceFileError, match=r"nope\.yaml: no such file$"):
        load_routine(tmp_path / "nope.yaml")


def test_defaults_fill_in_what_the_routine_leaves_out(write: Writer) -> None:
    routine = load_routine(write("r.yaml", "title: T\nsteps: [{say: Hi}]\n")).routine
    assert routine.voice.engine == "auto"
    assert routine.voice.name is None
    assert routine.voice.rate == 140
    assert routine.chime is True
    assert routine.steps == (Say(say="Hi"),)


def test_vars_fill_durations_counts_and_sentences(write: Writer) -> None:
    path = write(
        "r.yaml",
        """\
        title: "{reps} holds of {hold}"
        vars: {hold: 1m30s, reps: 4}
        steps:
          - repeat: "{reps}"
            steps:
              - hold: "{hold}"
                say: Hold {rep} of {reps}, for {hold}.
        """,
    )
    routine = load_routine(path).routine
    assert routine.title == "4 holds of 1 minute 30 seconds"
    repeat = routine.steps[0]
    assert isinstance(repeat, Repeat) and repeat.repeat == 4
    hold = repeat.steps[0]
    assert isinstance(hold, Hold) and hold.hold == 90
    # {rep} and {reps} belong to the block and are filled in as it unrolls.
    assert hold.say == "Hold {rep} of {reps}, for 1 minute 30 seconds."


def test_a_bare_number_used_as_a_duration_is_spoken_as_one(write: Writer) -> None:
    text = "title: T\nvars: {hold: 30, reps: 3}\nsteps:\n  - say: Hold for {hold}, {reps} times.\n"
    path = write("r.yaml", text + '  - hold: "{hold}"\n')
    [say, _] = load_routine(path).routine.steps
    assert isinstance(say, Say) and say.say == "Hold for 30 seconds, 3 times."
    [say, _] = load_routine(path, {"hold": "90"}).routine.steps
    assert isinstance(say, Say) and say.say == "Hold for 1 minute 30 seconds, 3 times."
    unused = write("u.yaml", text)  # never a duration anywhere: just a number
    [say] = load_routine(unused).routine.steps
    assert isinstance(say, Say) and say.say == "Hold for 30, 3 times."


def test_set_overrides_a_var(write: Writer) -> None:
    path = write("r.yaml", 'title: T\nvars: {hold: 20s}\nsteps: [{hold: "{hold}"}]\n')
    step = load_routine(path, {"hold": "45s"}).routine.steps[0]
    assert isinstance(step, Hold) and step.hold == 45


def test_set_for_an_unknown_var_is_a_usage_error(write: Writer) -> None:
    path = write("r.yaml", 'title: T\nvars: {hold: 20s}\nsteps: [{hold: "{hold}"}]\n')
    with pytest.raises(UsageError, match=r"no variable 'hodl' \(did you mean 'hold'\?\)"):
        load_routine(path, {"hodl": "45s"})


def test_loop_variables_are_known_inside_their_blocks(write: Writer) -> None:
    path = write(
        "r.yaml",
        """\
        title: T
        steps:
          - sides: [left, right]
            steps:
              - section: "{side} side"
                steps:
                  - say: Lift the {side} knee.
        """,
    )
    sides = load_routine(path).routine.steps[0]
    assert isinstance(sides, Sides) and sides.sides == ("left", "right")
    section = sides.steps[0]
    assert isinstance(section, Section) and section.section == "{side} side"


def test_shipped_routines_are_valid() -> None:
    shipped = sorted((TESTS.parent / "routines").glob("*.yaml"))
    assert len(shipped) >= 4
    for path in shipped:
        routine = load_routine(path).routine
        first = routine.steps[0]
        assert isinstance(first, Say), f"{path.name} must open with its safety note"
        assert re.search(r"\b(pain|hurts?|stop|ease off)\b", first.say.lower()), first.say


def test_a_var_that_is_a_whole_sentence_is_still_text(write: Writer) -> None:
    path = write("r.yaml", 'title: "{n}"\nvars: {n: 5, hold: 20s}\nsteps: [{say: "{hold}"}]\n')
    routine = load_routine(path).routine
    assert routine.title == "5"
    assert routine.steps == (Say(say="20 seconds"),)


def test_a_count_uses_the_routine_var_even_inside_another_repeat(write: Writer) -> None:
    path = write(
        "r.yaml",
        """\
        title: T
        vars: {reps: 3}
        steps:
          - repeat: 2
            steps:
              - repeat: "{reps}"
                steps:
                  - say: Round {rep} of {reps}.
        """,
    )
    outer = load_routine(path).routine.steps[0]
    assert isinstance(outer, Repeat)
    inner = outer.steps[0]
    assert isinstance(inner, Repeat) and inner.repeat == 3


@pytest.mark.parametrize(
    ("name", "text", "complaint"),
    [
        ("deep.yaml", "title: T\nsteps:\n" + "  " * 0 + "".join(
            "    " * i + "  - section: s\n" + "    " * i + "    steps:\n" for i in range(400)
        ) + "    " * 400 + "  - say: hi\n", "nested too deeply for a routine"),
        ("bomb.yaml", "a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
            f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 9)
        ) + "title: T\nsteps: [{say: hi}]\n", "more than 100,000 values; not a routine"),
    ],
)  # fmt: skip
def test_hostile_yaml_is_one_clear_line(
    write: Writer, name: str, text: str, complaint: str
) -> None:
    with pytest.raises(SourceFileError, match=complaint):
        load_routine(write(name, text))


def test_a_huge_unrolled_routine_is_refused_without_unrolling_it(write: Writer) -> None:
    path = write(
        "r.yaml", "title: T\nsteps:\n  - repeat: 100\n    steps:\n      - repeat: 100\n"
        "        steps:\n          - repeat: 100\n            steps:\n"
        "              - repeat: 100\n                steps:\n                  - say: hi\n",
    )  # fmt: skip
    started = time.monotonic()
    with pytest.raises(RoutineError, match="unrolls into 100,000,000 steps"):
        check(path)
    assert time.monotonic() - started < 2


def test_the_step_vocabulary_has_one_home() -> None:
    """The raw-YAML pass and the model agree on every action: both read psoas_audio.steps."""
    from psoas_audio.routine import STEP_MODELS, Routine
    from psoas_audio.steps import ACTIONS

    assert set(STEP_MODELS) == set(ACTIONS)
    tags = Routine.model_json_schema()["$defs"]
    assert {action.capitalize() for action in ACTIONS} <= set(tags)
