"""Duration ranges and --length: a personal track fitted to the time someone has."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from conftest import Writer
from psoas_audio.durations import parse_length, parse_range, said_seconds, short_clock, tenths_clock
from psoas_audio.errors import RoutineError
from psoas_audio.fit import OutOfSpan, fit
from psoas_audio.routine import Rest, Say, load_routine
from psoas_audio.template import Choice
from test_cli import run

RANGED = """\
title: Ranged
vars:
  rest: 1m..3m
  settle: 5s
steps:
  - say: Rest here for {rest}.
  - rest: "{rest}"
  - hold: "{settle}..20s"
  - repeat: 2
    steps:
      - say: Once more.
      - rest: "{rest}"
"""


def planned(routine: Path, *options: str) -> dict[str, Any]:
    code, out, err = run("plan", routine, "--engine", "fake", "--json", *options)
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


# -- the syntax ---------------------------------------------------------------------------------


def test_a_range_is_two_durations_shorter_first() -> None:
    assert parse_range("5m..10m") == (300.0, 600.0)
    assert parse_range(" 1.5s .. 2s ") == (1.5, 2.0)
    for bad in ("10m..5m", "5m..5m", "5m..", "..5m", "5m..7m..9m", "5x..9m"):
        with pytest.raises(ValueError):
            parse_range(bad)


def test_a_chosen_length_is_said_as_a_person_would_say_it() -> None:
    assert said_seconds(7 * 60 + 23.4) == 7 * 60 + 30
    assert said_seconds(92.4) == 90
    assert said_seconds(23.4) == 23
    assert said_seconds(2.54) == 2.5
    assert short_clock(552) == "9:12" and short_clock(3725) == "1:02:05"


def test_without_a_target_every_range_takes_its_lower_bound(write: Writer) -> None:
    source = load_routine(write("r.yaml", RANGED))
    steps = source.routine.steps
    assert steps[0] == Say(say="Rest here for 1 minute.")
    assert isinstance(steps[1], Rest) and steps[1].rest == 60
    assert [(r.name, r.low, r.high, r.value) for r in source.ranges] == [
        ("rest", 60, 180, 60),
        ("steps[2].hold", 5, 20, 5),
    ]


def test_one_fraction_spreads_time_in_proportion_to_each_range_and_a_var_is_one_value(
    write: Writer,
) -> None:
    source = load_routine(write("r.yaml", RANGED)).choose(Choice(0.5))
    values = {r.name: r.value for r in source.ranges}
    assert values == {"rest": 120, "steps[2].hold": 12.5}
    rests = [s.rest for s in source.routine.steps if isinstance(s, Rest)]
    assert rests == [120]
    assert source.routine.steps[0] == Say(say="Rest here for 2 minutes.")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("vars: {rest: 3m..1m}\nsteps:\n  - rest: '{rest}'\n",
         "r.yaml:2:14: a range goes from shorter to longer, like 5m..10m; got '3m..1m'"),
        ("steps:\n  - rest: 1m..2x\n",
         "r.yaml:3:11: expected a duration like 20s, 1.5s, 2m, 1m30s or 90, got '2x'"),
        ("vars: {n: 2..4}\nsteps:\n  - repeat: '{n}'\n    steps: [{say: Hi.}]\n",
         "r.yaml:4:13: 'repeat' takes one value; a range fits only a duration"),
    ],
    ids=["backwards", "bad-end", "count"],
)  # fmt: skip
def test_a_bad_range_points_at_its_line(write: Writer, text: str, message: str) -> None:
    path = write("r.yaml", "title: T\n" + text)
    with pytest.raises(RoutineError) as caught:
        load_routine(path)
    assert str(caught.value) == f"{path.parent}/{message}"


def test_set_can_give_a_var_a_range(write: Writer) -> None:
    path = write("r.yaml", RANGED)
    source = load_routine(path, {"settle": "10s"})
    assert [r.low for r in source.ranges] == [60, 10]
    code, _, err = run("plan", path, "--engine", "fake", "--set", "rest=2m..1m")
    assert code == 1
    assert err.strip() == (
        f"{path}: --set rest: a range goes from shorter to longer, like 5m..10m; got '2m..1m'"
    )


# -- the fit, on its own ------------------------------------------------------------------------


def linear_track(words_jump: float = 0.0):  # type: ignore[no-untyped-def]
    """A track of 100 s plus 200 s per unit of fraction, with words that lengthen halfway."""

    def evaluate(choice: Choice) -> tuple[Choice, float]:
        spoken = choice.fraction if choice.spoken is None else choice.spoken
        words = words_jump if spoken >= 0.5 else 0.0
        samples = round((100 + 200 * choice.fraction + words) * 44_100)
        return choice, samples / 44_100

    return evaluate


@pytest.mark.parametrize("target", [100.0, 123.4567, 200.0, 299.99, 300.0])
def test_the_fit_lands_on_any_target_in_the_span(target: float) -> None:
    fitted = fit(linear_track(words_jump=0.7), target)
    assert fitted.seconds == pytest.approx(target, abs=0.0005)


def test_a_target_outside_the_span_names_both_ends() -> None:
    with pytest.raises(OutOfSpan) as caught:
        fit(linear_track(words_jump=0.7), 99.0)
    assert (caught.value.shortest, caught.value.longest) == (100.0, 300.7)


# -- the command line ---------------------------------------------------------------------------


def test_length_lands_within_a_millisecond_across_the_span(write: Writer) -> None:
    path = write("r.yaml", RANGED)
    shortest = planned(path)["duration"]
    _, _, err = run("plan", path, "--engine", "fake", "--length", "1s")
    longest = err.split(" to ")[1].split()[0]  # "... can be 3:17 to 9:31.2 long ..."
    longest_seconds = int(longest.split(":")[0]) * 60 + float(longest.split(":")[1])
    for target in (shortest, shortest + 61.25, (shortest + longest_seconds) / 2, longest_seconds):
        plan = planned(path, "--length", f"{target}s")
        assert plan["duration"] == pytest.approx(target, abs=0.001)
        rest, hold = (r["value"] for r in plan["ranges"])
        assert 60 <= rest <= 180 and 5 <= hold <= 20
        assert (rest - 60) / 120 == pytest.approx((hold - 5) / 15, abs=1e-5)  # in proportion


def test_a_range_that_can_reach_a_minute_is_ticked_at_every_length(write: Writer) -> None:
    """The tick before words after a minute of silence follows a range's longest end: had it
    come and gone as the rest crossed a minute, lengths 1.5 s apart were all a fit reached."""
    steps = "  - say: Lie back.\n  - rest: '{rest}'\n  - say: Roll to one side.\n"
    path = write("r.yaml", "title: R\nvars: {rest: 30s..90s}\nsteps:\n" + steps)
    start = planned(path, "--length", "1m")
    for step in range(40):  # a tenth of a second apart, across the minute
        target = start["duration"] + 14 + step / 10
        plan = planned(path, "--length", f"{target:.1f}s")
        assert plan["duration"] == pytest.approx(target, abs=0.001)
        assert next(e["text"] for e in plan["events"] if e["kind"] == "chime") == "tick"


def test_plan_shows_what_the_fit_chose_and_the_total(write: Writer) -> None:
    path = write("r.yaml", RANGED)
    code, out, _ = run("plan", path, "--engine", "fake", "--length", "8m")
    assert code == 0
    lines = out.splitlines()
    assert "total 08:00 (480.000s)" in lines
    assert lines[-3] == "ranges (fitted to 8:00):"
    assert lines[-2].startswith("  rest           1:00..3:00  ->  2:")
    assert lines[-1].startswith("  steps[2].hold  5s..20s  ->  ")


def test_an_impossible_length_names_the_possible_ones_and_writes_nothing(
    write: Writer, tmp_path: Path
) -> None:
    path = write("r.yaml", RANGED)
    target = tmp_path / "out.mp3"
    code, _, err = run("build", path, "--engine", "fake", "--length", "2m", "-o", target)
    assert code == 1
    assert err.strip().startswith(f"{path}: --length 2m: this routine can be 3:")
    assert err.strip().endswith(" long with its ranges at their shortest and longest")
    assert not target.exists() and sorted(tmp_path.iterdir()) == [path]


def test_a_routine_without_ranges_says_so(write: Writer) -> None:
    path = write("fixed.yaml", "title: Fixed\nsteps:\n  - say: Hello.\n  - rest: 1m\n")
    code, _, err = run("check", path, "--engine", "fake", "--length", "15m")
    assert code == 1
    assert err.strip().startswith(f"{path}: --length 15m: this routine has no duration ranges")
    assert "as written it lasts 1:0" in err


def test_a_routine_can_ask_for_its_own_length_and_the_flag_wins(write: Writer) -> None:
    path = write("r.yaml", "length: 6m\n" + RANGED)
    assert planned(path)["duration"] == pytest.approx(360, abs=0.001)
    assert planned(path, "--length", "7m")["duration"] == pytest.approx(420, abs=0.001)
    short = write("short.yaml", "length: 1m\n" + RANGED)
    code, _, err = run("check", short, "--engine", "fake")
    assert code == 1 and err.startswith(f"{short}:1:9: this routine can be 3:")


def test_check_checks_the_values_the_fit_chooses(write: Writer) -> None:
    """Halfway (at hold/2) and a reminder every 25 s meet only when the hold lasts 50 s."""
    path = write(
        "cued.yaml",
        """\
        title: Cued
        steps:
          - say: Settle.
          - hold: 40s..60s
            halfway: true
            remind: {every: 25s, say: Soft.}
        """,
    )
    shortest = planned(path)["duration"]
    assert run("check", path, "--engine", "fake")[0] == 0
    assert run("check", path, "--engine", "fake", "--length", f"{shortest + 5}s")[0] == 0
    code, _, err = run("check", path, "--engine", "fake", "--length", f"{shortest + 10}s")
    assert code == 1
    assert err.strip() == f"{path}:6:13: the halfway and remind cues fall together at 25s; move one"


def test_a_length_can_be_written_as_a_clock_too(write: Writer) -> None:
    path = write("r.yaml", RANGED)
    assert planned(path, "--length", "8:00")["duration"] == pytest.approx(480, abs=0.001)
    assert parse_length("1:02:03") == 3723 and parse_length("9:12.5") == 552.5


def test_the_possible_span_is_said_to_the_tenth_a_fit_can_reach(write: Writer) -> None:
    path = write("r.yaml", RANGED)
    shortest = planned(path)["duration"]
    _, _, err = run("plan", path, "--engine", "fake", "--length", "1s")
    said = err.split("can be ")[1].split(" to ")[0]
    assert said == tenths_clock(math.ceil(shortest * 10) / 10)
    minutes, seconds = said.split(":")
    assert planned(path, "--length", f"{minutes}m{seconds}s")["duration"] >= shortest


def test_a_routine_whose_range_was_replaced_says_by_what(write: Writer) -> None:
    path = write("r.yaml", RANGED.replace('"{settle}..20s"', "10s"))
    code, _, err = run("plan", path, "--engine", "fake", "--set", "rest=2m", "--length", "8m")
    assert code == 1
    assert "no duration ranges to fit (its range rest replaced by a single value" in err


def test_a_bad_length_flag_is_one_line(write: Writer) -> None:
    path = write("r.yaml", RANGED)
    for value, message in (("15x", "expected a duration"), ("11h", "longer than the 10h")):
        code, _, err = run("plan", path, "--engine", "fake", "--length", value)
        assert code == 1 and err.startswith(f"--length {value}: ") and message in err


def test_ranges_that_do_not_change_the_length_say_so(write: Writer) -> None:
    path = write(
        "every.yaml",
        """\
        title: Every
        steps:
          - rest: 2m
            say: Rest.
            remind: {every: 20s..50s, say: Soft.}
        """,
    )
    fixed = planned(path)["duration"]
    assert planned(path, "--length", f"{fixed}s")["duration"] == fixed
    code, _, err = run("plan", path, "--engine", "fake", "--length", "3m")
    assert code == 1
    assert err.strip() == (
        f"{path}: --length 3m: this routine lasts {fixed:.3f}s whatever its ranges (they do not "
        "change its length)"
    )
