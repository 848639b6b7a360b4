"""Durations as people write them ("1m30s", "1.5s", 20) and as the plan prints them."""

from __future__ import annotations

import re

MAX_STEP_SECONDS = 2 * 3600.0
MAX_TRACK_SECONDS = 10 * 3600.0
MIN_SECONDS = 0.001  # anything shorter rounds to no samples at all and would vanish

_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_NUMBER = r"\d+(?:\.\d+)?"
_DURATION = re.compile(
    rf"^(?:(?P<h>{_NUMBER})h)?(?:(?P<m>{_NUMBER})m(?!s))?(?:(?P<s>{_NUMBER})s)?"
    rf"(?:(?P<ms>{_NUMBER})ms)?$"
)


def parse_duration(value: object, longest: float = MAX_STEP_SECONDS) -> float:
    """Seconds from a number or text like "20s", "2m", "1m30s", "1h" or "500ms"; else ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 20s, 1m30s or 90, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        match = _DURATION.match(text)
        if not text or match is None:
            try:
                seconds = float(text)
            except ValueError:
                raise ValueError(
                    f"expected a duration like 20s, 1.5s, 2m, 1m30s or 90, got {value!r}"
                ) from None
        else:
            seconds = sum(
                float(amount) * _UNIT_SECONDS[unit]
                for unit, amount in match.groupdict().items()
                if amount is not None
            )
    else:
        raise ValueError(f"expected a duration like 20s, 1m30s or 90, got {type(value).__name__}")
    if not seconds > 0:
        raise ValueError(f"a duration must be more than zero, got {value!r}")
    if seconds < MIN_SECONDS:
        raise ValueError(f"a duration must be at least 1 ms (0.001s), got {value!r}")
    if seconds > longest:
        what = "a single step" if longest == MAX_STEP_SECONDS else "a track"
        raise ValueError(f"{value!r} is longer than the {longest / 3600:g}h {what} may last")
    return seconds


_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d{2}(?:\.\d+)?)$")


def parse_length(value: object) -> float:
    """A whole track's length, as --length and `length:` take it: up to 10h, also as 15:00."""
    if isinstance(value, str) and (clock := _CLOCK.match(value.strip())):
        hours, minutes, seconds = clock.groups()
        value = int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    return parse_duration(value, MAX_TRACK_SECONDS)


def is_range(value: object) -> bool:
    return isinstance(value, str) and ".." in value


def parse_range(value: str) -> tuple[float, float]:
    """(low, high) seconds from "5m..10m"; ValueError names what is wrong."""
    parts = value.split("..")
    if len(parts) != 2 or not all(part.strip() for part in parts):
        raise ValueError(f"expected a range like 5m..10m, got {value!r}")
    low, high = parse_duration(parts[0]), parse_duration(parts[1])
    if low >= high:
        raise ValueError(f"a range goes from shorter to longer, like 5m..10m; got {value!r}")
    return low, high


def said_seconds(seconds: float) -> float:
    """A chosen length as a calm voice says it: "6 minutes 30 seconds", not "6 minutes 27".

    To the nearest 30 s from 5 minutes, 5 s from a minute, a second from 10 s, else a tenth.
    """
    step = said_step(seconds)
    said = round(seconds / step) * step if step >= 1 else round(seconds, 1)
    return said or round(seconds, 3)  # 40 ms is not "0 seconds"


def said_step(seconds: float) -> float:
    """The rounding said_seconds() uses for a length this long."""
    for above, step in ((300, 30.0), (60, 5.0), (10, 1.0)):
        if seconds >= above:
            return step
    return 0.1


def tenths_clock(seconds: float) -> str:
    """m:ss.t, the tenth left out when it is 0: 4:55.1, 6:55 (a length a fit can reach)."""
    tenths = round(seconds * 10)
    minutes, rest = divmod(tenths, 600)
    text = f"{minutes}:{rest // 10:02d}" + (f".{rest % 10}" if rest % 10 else "")
    return text


def short_clock(seconds: float) -> str:
    """m:ss (or h:mm:ss), as people write a length: 9:12."""
    return format_clock(seconds).removeprefix("0")


def format_clock(seconds: float) -> str:
    """mm:ss (or h:mm:ss) for tables and messages."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def spoken_length(seconds: float) -> str:
    """A length as a voice should say it: "20 seconds", "1 minute 30 seconds"."""
    parts = []
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    for amount, unit in ((hours, "hour"), (minutes, "minute"), (secs, "second")):
        if amount:
            parts.append(f"{amount:g} {unit}{'' if amount == 1 else 's'}")
    return " ".join(parts)
