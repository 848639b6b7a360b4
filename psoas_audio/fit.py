"""--length: place every duration range so that the whole track lasts the time asked for.

Pure: it only asks `evaluate` how long the track is for a choice of ranges. One fraction
moves every range at once, so each range gives time in proportion to its width.

A track's length is not smooth in that fraction: a range said in a sentence ("rest for
{rest}") changes the words, and a line said differently lasts differently. So the words and
the silences get fractions of their own: with the words fixed, the silences move the length
almost linearly (each silence is rounded to a sample), so a step or two of the secant method
lands within a millisecond; the words' fraction is then halved towards the one whose words
say the lengths the silences got.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .template import Choice

TOLERANCE = 0.0005  # seconds: close enough to stop (each silence is within half a sample)
MAX_STEPS = 8  # secant steps with the words fixed
MAX_WORD_STEPS = 12  # halvings of the words' fraction

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


def fit(
    evaluate: Callable[[Choice], tuple[T, float]],
    target: float,
    agree: Callable[[Choice], bool] = lambda choice: True,
) -> Fitted[T]:
    """The result whose length is nearest the target, with words that agree with its silences
    (agree(choice): the lengths said in words are those chosen, as rounded for speech).

    OutOfSpan when no choice can reach the target.
    """
    shortest, low = evaluate(Choice(0.0))
    _, high = evaluate(Choice(1.0))
    if not low - TOLERANCE <= target <= high + TOLERANCE:
        raise OutOfSpan(low, high)
    if high - low <= TOLERANCE:  # the ranges do not change the length (only `every:` ones)
        return Fitted(shortest, low)
    # The words' fraction g and the silences' f must meet: f(g) is where the silences land with
    # the words of g; longer words leave less silence, so f(g) - g falls as g grows, and halving
    # [0, 1] finds where it crosses (the words change in steps: it stops once they agree).
    below, above = 0.0, 1.0
    spoken = _clamp((target - low) / (high - low))
    best: tuple[tuple[bool, bool, float], Fitted[T]] | None = None
    for _ in range(MAX_WORD_STEPS):
        fitted, fraction = _silences(evaluate, target, spoken)
        error = abs(fitted.seconds - target)
        rank = (error <= TOLERANCE, agree(Choice(fraction, spoken)), -error)  # best first
        if best is None or rank > best[0]:
            best = (rank, fitted)
        if rank[0] and rank[1]:
            break
        if fraction > spoken:
            below = spoken
        else:
            above = spoken
        spoken = (below + above) / 2
    assert best is not None
    return best[1]


def _silences(
    evaluate: Callable[[Choice], tuple[T, float]], target: float, spoken: float
) -> tuple[Fitted[T], float]:
    """With the words of `spoken` fixed, the silences' fraction nearest the target."""
    start_result, start = evaluate(Choice(0.0, spoken))
    end_result, end = evaluate(Choice(1.0, spoken))
    if target <= start or end - start <= TOLERANCE:
        return Fitted(start_result, start), 0.0
    if target >= end:
        return Fitted(end_result, end), 1.0
    slope = end - start
    fraction = (target - start) / slope
    best: tuple[Fitted[T], float] | None = None
    for _ in range(MAX_STEPS):
        result, seconds = evaluate(Choice(fraction, spoken))
        if best is None or abs(seconds - target) < abs(best[0].seconds - target):
            best = (Fitted(result, seconds), fraction)
        if abs(seconds - target) <= TOLERANCE:
            break
        fraction = _clamp(fraction - (seconds - target) / slope)
    assert best is not None
    return best


def _clamp(fraction: float) -> float:
    return min(1.0, max(0.0, fraction))
