"""--length: place every duration range so that the whole track lasts the time asked for.

Pure: it only asks `evaluate` how long the track is for a choice of ranges. One fraction
moves every range at once, so each range gives time in proportion to its width.

A track's length is not smooth in that fraction: a range said in a sentence ("rest for
{rest}") changes the words, and a line said differently lasts differently. So the words are
settled first, from the shortest and longest tracks, and then only the silences move; they
move the length almost linearly (each silence is rounded to a sample), so a step or two of
the secant method lands within a millisecond.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .template import Choice

TOLERANCE = 0.0005  # seconds: close enough to stop (each silence is within half a sample)
MAX_STEPS = 8

T = TypeVar("T")


class OutOfSpan(Exception):
    """The target lies outside what the ranges allow, from all shortest to all longest."""

    def __init__(self, shortest: float, longest: float) -> None:
        super().__init__(shortest, longest)
        self.shortest, self.longest = shortest, longest


@dataclass(frozen=True)
class Fitted(Generic[T]):
    result: T
    seconds: float


def fit(evaluate: Callable[[Choice], tuple[T, float]], target: float) -> Fitted[T]:
    """The result whose length is nearest the target; OutOfSpan when no choice can reach it."""
    shortest, low = evaluate(Choice(0.0))
    longest, high = evaluate(Choice(1.0))
    if not low - TOLERANCE <= target <= high + TOLERANCE:
        raise OutOfSpan(low, high)
    if high - low <= TOLERANCE:  # the ranges do not change the length (only `every:` ones)
        return Fitted(shortest, low)
    spoken = _clamp((target - low) / (high - low))
    (_, start), (_, end) = evaluate(Choice(0.0, spoken)), evaluate(Choice(1.0, spoken))
    slope = end - start
    if slope <= TOLERANCE:  # only words move: the nearest of the two ends
        return min((Fitted(shortest, low), Fitted(longest, high)),
                   key=lambda f: abs(f.seconds - target))  # fmt: skip
    fraction = _clamp((target - start) / slope)
    best: Fitted[T] | None = None
    for _ in range(MAX_STEPS):
        result, seconds = evaluate(Choice(fraction, spoken))
        if best is None or abs(seconds - target) < abs(best.seconds - target):
            best = Fitted(result, seconds)
        if abs(seconds - target) <= TOLERANCE:
            break
        fraction = _clamp(fraction - (seconds - target) / slope)
    assert best is not None
    return best


def _clamp(fraction: float) -> float:
    return min(1.0, max(0.0, fraction))
