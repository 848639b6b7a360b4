"""Durations as people write them ("1m30s", "1.5s", 20) and as the plan prints them."""

from __future__ import annotations

import re

MAX_STEP_SECONDS = 2 * 3600.0
MIN_SECONDS = 0.001  # anything shorter rounds to no samples at all and would vanish

_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_NUMBER = r"\d+(?:\.\d+)?"
_DURATION = re.compile(
    rf"^(?:(?P<h>{_NUMBER})h)?(?:(?P<m>{_NUMBER})m(?!s))?(?:(?P<s>{_NUMBER})s)?"
    rf"(?:(?P<ms>{_NUMBER})ms)?$"
)


def parse_duration(value: object) -> float:
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
    if seconds > MAX_STEP_SECONDS:
        raise ValueError(f"{value!r} is longer than the 2h a single step may last")
    return seconds


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
