"""--profile: one person's settings (vars, voice, length, loudness) over any routine."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from conftest import TESTS, Writer
from measure import ebur128
from test_cli import run

MINI = TESTS / "golden" / "lunge-mini.yaml"  # vars: hold 5s, reps 2

RANGED = """\
title: Ranged
vars: {rest: 1m..3m}
steps:
  - say: Rest here.
  - rest: "{rest}"
"""


def plan(routine: Path, *options: str | Path) -> dict[str, Any]:
    code, out, err = run("plan", routine, "--engine", "fake", "--json", *options)
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def holds(shown: dict[str, Any]) -> list[float]:
    return [round(e["end"] - e["start"], 3) for e in shown["events"] if e["role"] == "hold"]


def test_a_profile_sets_the_vars_a_routine_has_and_ignores_the_rest(write: Writer) -> None:
    me = write("me.yaml", "vars: {hold: 7s, rest: 2m, pace: slow}\n")
    shown = plan(MINI, "--profile", me)
    assert holds(shown) == [7.0] * 4
    assert shown["profile"] == {"applied": ["hold"], "ignored": ["rest", "pace"]}
    code, out, _ = run("plan", MINI, "--engine", "fake", "--profile", me)
    assert code == 0
    assert out.splitlines()[-2:] == [
        f"profile {me}: vars applied: hold",
        "  not used by this routine: rest, pace",
    ]


def test_flags_win_over_the_profile_and_the_profile_over_the_routine(write: Writer) -> None:
    me = write("me.yaml", "vars: {hold: 7s}\nvoice: {rate: 300}\n")
    assert holds(plan(MINI, "--profile", me, "--set", "hold=9s")) == [9.0] * 4
    plain, fast = plan(MINI)["duration"], plan(MINI, "--profile", me, "--set", "hold=5s")
    assert fast["duration"] < plain  # the fake engine speaks faster at a higher rate
    flagged = plan(MINI, "--profile", me, "--set", "hold=5s", "--rate", "140")
    assert flagged["duration"] == plain


def test_a_profile_var_that_set_replaces_is_not_listed_as_applied(write: Writer) -> None:
    me = write("me.yaml", "vars: {hold: 7s}\n")
    shown = plan(MINI, "--profile", me, "--set", "hold=9s")
    assert shown["profile"] == {"applied": [], "ignored": ["hold"]}


def test_a_profile_length_leaves_a_routine_without_ranges_as_written(write: Writer) -> None:
    me = write("me.yaml", "length: 20m\n")
    code, _, err = run("plan", MINI, "--engine", "fake", "--profile", me)
    assert code == 0, err
    assert "no duration ranges to fit the profile's length 20m" in err
    assert plan(MINI, "--profile", me)["duration"] == plan(MINI)["duration"]
    code, _, err = run("plan", MINI, "--engine", "fake", "--profile", me, "--length", "20m")
    assert code == 1 and "no duration ranges to fit" in err  # asked for on the command line


def test_set_stays_strict_with_a_profile(write: Writer) -> None:
    me = write("me.yaml", "vars: {rest: 2m}\n")
    code, _, err = run("plan", MINI, "--engine", "fake", "--profile", me, "--set", "rest=2m")
    assert code == 1
    assert (
        err.strip()
        == f"{MINI}: --set rest: the routine has no variable 'rest' (did you mean 'reps'?)"
    )


def test_a_profile_length_fits_the_routine_and_length_wins_over_it(write: Writer) -> None:
    routine = write("r.yaml", RANGED)
    me = write("me.yaml", "length: 2m30s\n")
    assert plan(routine, "--profile", me)["duration"] == pytest.approx(150, abs=0.001)
    assert plan(routine, "--profile", me, "--length", "3m")["duration"] == pytest.approx(
        180, abs=0.001
    )
    far = write("far.yaml", "\nlength: 1h\n")
    code, _, err = run("check", routine, "--engine", "fake", "--profile", far)
    assert code == 1
    assert err.startswith(f"{routine}: length 1h ({far}:2:9): this routine can be 1:")


def test_a_profile_sets_the_loudness_and_the_flag_wins(write: Writer, tmp_path: Path) -> None:
    me = write("me.yaml", "loudness: -23\n")
    for extra, target in (((), -23.0), (("--loudness", "-16"), -16.0)):
        mp3 = tmp_path / f"mini{target}.mp3"
        code, _, err = run("build", MINI, "--engine", "fake", "--profile", me, *extra, "-o", mp3)
        assert code == 0, err
        assert ebur128(mp3)[0] == pytest.approx(target, abs=0.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lenght: 15m\n", "1:1: unknown key 'lenght' (did you mean 'length'?)"),
        ("voice: {rat: 140}\n", "1:9: unknown key 'rat' (did you mean 'rate'?)"),
        ("voice: {rate: 20}\n", "1:15: 'rate' must be at least 80, got 20"),
        ("voice: {engine: espeak}\n", "1:17: unknown speech engine 'espeak'"),
        ("vars: {rest: 9m..2m}\n", "1:14: a range goes from shorter to longer, like 5m..10m; "
                                   "got '9m..2m'"),
        ("vars: {2fast: 1}\n", "1:7: '2fast' is not a valid variable name"),
        ("vars: {hold: yes}\n", "1:14: a variable holds text or a number, got True"),
        ("vars: {hold: [1, 2]}\n", "1:14: "),
        ("length: soon\n", "1:9: expected a duration like 20s, 1.5s, 2m, 1m30s or 90, got 'soon'"),
        ("loudness: -5\n", "1:11: 'loudness' must be at most -14.0, got -5"),
        ("- hold: 5s\n", "1:1: a profile is a mapping of vars, voice, length and loudness"),
        ("title: T\nsteps: [{say: Hi.}]\n", "1:1: this is a routine (it has a title or steps)"),
        ("loudness: loud\n", "1:11: expected a number, got 'loud'"),
        ("", "1:1: the file is empty; a profile sets vars, voice, length or loudness"),
    ],
    ids=["typo", "voice-typo", "slow", "engine", "range", "name", "flag", "list", "length", "loud",
         "list-file", "routine", "not-a-number", "empty"],
)  # fmt: skip
def test_a_bad_profile_is_file_line_col_and_nothing_is_built(
    write: Writer, tmp_path: Path, text: str, message: str
) -> None:
    me = write("me.yaml", text)
    target = tmp_path / "out.mp3"
    code, out, err = run("build", MINI, "--engine", "fake", "--profile", me, "-o", target)
    assert code == 1 and "Traceback" not in out + err
    assert err.startswith(f"{me}:{message}"), err
    assert not target.exists()


def test_a_missing_profile_is_one_line() -> None:
    code, _, err = run("check", MINI, "--profile", "nowhere.yaml")
    assert code == 1 and err.strip() == "nowhere.yaml: no such file"


def test_a_fifo_or_a_device_is_refused_as_a_profile_or_a_routine(tmp_path: Path) -> None:
    fifo = tmp_path / "me.yaml"
    os.mkfifo(fifo)
    code, _, err = run("check", MINI, "--profile", fifo)  # would block forever if read
    assert code == 1 and err.strip() == f"{fifo}: not a regular file (a device, FIFO or socket)"
    code, _, err = run("check", "/dev/zero")  # would never end
    assert code == 1 and err.strip() == "/dev/zero: not a regular file (a device, FIFO or socket)"


def test_a_profile_value_a_routine_cannot_use_is_blamed_on_the_profile(write: Writer) -> None:
    me = write("me.yaml", "vars: {hold: 1.5.5}\n")
    code, _, err = run("check", MINI, "--engine", "fake", "--profile", me)
    assert code == 1
    assert err.strip() == (
        f"{MINI}: the profile's hold: 1.5.5: expected a duration like 20s, 1.5s, 2m, 1m30s or "
        "90, got '1.5.5'"
    )


def test_the_ambience_comes_from_the_flag_then_the_profile_then_the_routine(
    write: Writer,
) -> None:
    me = write("me.yaml", "ambience: ocean\n")
    routine = write("r.yaml", MINI.read_text(encoding="utf-8") + "ambience: drone\n")
    assert plan(MINI)["ambience"] == "none"  # off unless asked for
    assert plan(routine)["ambience"] == "drone"
    assert plan(routine, "--profile", me)["ambience"] == "ocean"
    assert plan(routine, "--profile", me, "--ambience", "rain")["ambience"] == "rain"
    code, _, err = run("plan", MINI, "--engine", "fake", "--ambience", "rian")
    assert code == 1
    assert err.strip() == (
        "--ambience rian: no such bed (did you mean 'rain'?); choose from none, rain, ocean, drone"
    )
