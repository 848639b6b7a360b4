"""The shipped routines as someone lying with eyes closed meets them: time to move after every
instruction to change position, a soft tick before words that follow a long silence, and in
the kneeling lunge "Hold N of M" right before each hold with shorter cues after the first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT
from psoas_audio import Options, check, plan_routine
from psoas_audio.pcm import to_seconds
from psoas_audio.timeline import Event, Timeline

SHIPPED = sorted((ROOT / "routines").glob("*.yaml"))
FAKE = Options(engine="fake")

# Instructions to change position, wherever they stand in a line: lying down, sitting up,
# getting onto or off a bed, roller or bolster, into or out of a lunge, a leg over the edge.
MOVES = re.compile(
    r"\b(lie (on|back|face|flat|down)|sit (up|on|or lie)|roll (to|slowly|off)|"
    r"come (back up|all the way down|into|out of|up onto)|lower yourself|lean back|shuffle|"
    r"step into|kneel|get(ting)? up|bring your \w+ leg|let your \w+ leg hang)\b",
    re.IGNORECASE,
)
LEAST_MOVE_SECONDS = 8.0


def moves_now(text: str) -> bool:
    """Whether a line tells the listener to change position now: "If it hurts, come out of
    the stretch" is a rule for later, not a move."""
    sentences = re.split(r"(?<=[.!?])\s+", text)
    return any(MOVES.search(s) and not s.startswith("If ") for s in sentences)


LONG_SILENCE_SECONDS = 60.0


def planned(path: Path) -> Timeline:
    return plan_routine(check(path, FAKE), FAKE).timeline


def quiet_after(events: tuple[Event, ...], index: int) -> float:
    """Seconds of silence from the end of events[index] to the next sound."""
    end = index + 1
    while end < len(events) and events[end].kind == "silence":
        end += 1
    return to_seconds(sum(e.length for e in events[index + 1 : end]))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_instruction_to_change_position_is_followed_by_time_to_do_it(path: Path) -> None:
    events = planned(path).events
    moves = [i for i, e in enumerate(events) if e.role == "say" and moves_now(e.text)]
    assert len(moves) >= 4, "the routine moves more than this: is the pattern still right?"
    for i in moves:
        assert quiet_after(events, i) >= LEAST_MOVE_SECONDS, events[i].text


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_each_change_of_position_says_take_your_time(path: Path) -> None:
    events = planned(path).events
    long_moves = [e for i, e in enumerate(events) if e.role == "say" and moves_now(e.text)
                  and events[i + 1].role == "pause"]  # fmt: skip
    told = [e for e in long_moves if "take your time" in e.text.lower()]
    assert len(told) >= len(long_moves) // 2, "say so in words, at least on most moves"


def long_silences(events: tuple[Event, ...]) -> list[tuple[int, int]]:
    """(first, last) event index of each run of holds, rests and pauses (with the soft cues
    inside them) that lasts a minute or more and is followed by something."""
    runs: list[tuple[int, int]] = []
    first = None
    for i, event in enumerate(events):
        inside = event.role in ("hold", "rest", "pause", "countdown", "halfway", "remind")
        if inside and first is None:
            first = i
        if not inside and first is not None:
            seconds = to_seconds(events[i - 1].end - events[first].start)
            if seconds >= LONG_SILENCE_SECONDS:
                runs.append((first, i - 1))
            first = None
    return runs


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_words_after_a_minute_of_silence_come_after_a_soft_tick(path: Path) -> None:
    events = planned(path).events
    for _, last in long_silences(events):
        tick = events[last + 1]
        assert tick.kind == "chime" and tick.text == "tick" and tick.start == events[last].end
        words = next(e for e in events[last + 2 :] if e.kind == "speech")
        assert 1.0 <= to_seconds(words.start - tick.start) <= 3.0
        assert to_seconds(tick.length) < 1.0
    if path.stem == "psoas-release":
        assert long_silences(events), "the flagship's rest is long"


def test_the_kneeling_lunge_says_hold_n_of_m_right_before_each_hold() -> None:
    events = planned(ROOT / "routines" / "kneeling-lunge-stretch.yaml").events
    holds = [i for i, e in enumerate(events) if e.role == "hold"]
    assert len(holds) == 2 * (4 + 1)  # four a side and the side bend
    for i in holds:
        said = events[i - 1]
        assert said.kind == "speech" and re.match(r"Hold \d+ of \d+\b", said.text), said.text
    numbered = [events[i - 1].text.split(".")[0] for i in holds]
    assert numbered[:4] == [f"Hold {n} of 4" for n in range(1, 5)]


def cues_before(events: tuple[Event, ...], hold: int) -> int:
    """Words of the lines said in a row before a hold's own text (back to the last silence)."""
    words, i = 0, hold - 2
    while i >= 0 and events[i].role in ("say", "gap"):
        words += len(events[i].text.split())
        i -= 1
    return words


def test_the_kneeling_lunges_later_repetitions_use_shorter_cues() -> None:
    events = planned(ROOT / "routines" / "kneeling-lunge-stretch.yaml").events
    holds = [i for i, e in enumerate(events) if e.role == "hold"]
    for side in (holds[:4], holds[5:9]):  # each side's four, the side bend apart
        first, *later = (cues_before(events, hold) for hold in side)
        assert first >= 30 and all(words <= first / 2 for words in later), (first, later)
