from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from psoas_audio.durations import format_clock, parse_duration, spoken_length


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("20s", 20), ("1.5s", 1.5), ("2m", 120), ("1m30s", 90), ("1h", 3600), ("1h30m", 5400),
     (45, 45), (2.5, 2.5), ("45", 45), ("0.25", 0.25), (" 20s ", 20), ("2h", 7200)],
)  # fmt: skip
def test_durations_people_write(written: object, seconds: float) -> None:
    assert parse_duration(written) == seconds


@pytest.mark.parametrize(
    ("written", "complaint"),
    [("0s", "more than zero"), (0, "more than zero"), (-5, "more than zero"),
     ("3h", "longer than the 2h"), ("2h1s", "longer than the 2h"),
     ("abc", "expected a duration"), ("20 sec", "expected a duration"),
     (True, "expected a duration"), (None, "expected a duration"),
     ("", "expected a duration"), ("s", "expected a duration")],
)  # fmt: skip
def test_bad_durations_say_what_is_wrong(written: object, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_duration(written)


@given(st.integers(0, 1), st.integers(0, 59), st.integers(0, 59))
def test_hours_minutes_seconds_add_up(hours: int, minutes: int, seconds: int) -> None:
    total = hours * 3600 + minutes * 60 + seconds
    text = f"{hours}h" * bool(hours) + f"{minutes}m" * bool(minutes) + f"{seconds}s" * bool(seconds)
    if total == 0:
        return
    assert parse_duration(text) == total


def test_clock_and_spoken_forms() -> None:
    assert format_clock(0) == "00:00"
    assert format_clock(90.4) == "01:30"
    assert format_clock(3725) == "1:02:05"
    assert spoken_length(20) == "20 seconds"
    assert spoken_length(90) == "1 minute 30 seconds"
    assert spoken_length(7200) == "2 hours"
