"""Pace: a routine's `rate` is words per minute of actual speech, the same for every engine.

A calm guide speaks words at a near-conversational speed and lets the pauses be long. So a line
is spoken clause by clause: each clause at the engine's articulation rate, then a pause after a
comma, a longer one after a sentence that does not end the line. The pace a listener hears is
the words of a line over its spoken seconds (trimmed, its inner pauses included); the engine's
articulation is set so that, with those pauses, the pace is the one asked for.

Engines differ in what their speed setting means (eSpeak NG's rate counts its own pauses; piper
stretches phonemes), so each engine module maps an articulation rate to its own setting through
a table measured on this project's lines (see its CALIBRATION). Pure: numbers in, numbers out.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

DEFAULT_WPM = 140  # near-conversational: calm without dragging
SLOWEST_WPM, FASTEST_WPM = 80, 300
REFERENCE_WPM = 140.0  # the pauses below are for this pace; they shrink and grow with it
COMMA_PAUSE = 0.45  # seconds after , ; : inside a line, at the reference pace
SENTENCE_PAUSE = 0.9  # seconds after . ? ! inside a line, at the reference pace
# How often lines pause, per word, over the four shipped routines' spoken lines (every
# occurrence counted; 2,170 words, 169 commas and 107 sentence ends inside a line). A routine
# that pauses more often than this speaks its words a little slower: rewritten with short cues
# (issue 11) the routines paused a third more often than these counts said, came 4 to 9% slow
# and were all spoken twice. With the counts and the engines' tables measured again they land
# within 3.2% (eSpeak NG). The counts stay the routines' average, not each routine's own: with
# a routine's own, adding a comma to one line changed the speed of every line, all re-spoken.
COMMAS_PER_WORD = 169 / 2170
SENTENCES_PER_WORD = 107 / 2170
VERSION = 5  # bump when clauses, pauses or any engine's calibration change: clips are remade

Pause = Literal["comma", "sentence"]
_BOUNDARY = re.compile(r"[,;:.?!][\"')\]]*(?=\s)")  # a clause ends here, before a space
# Words whose full stop ends no sentence (compared without case): "e.g. this" is one clause.
ABBREVIATIONS = frozenset({"e.g.", "i.e.", "etc.", "vs.", "cf.", "approx.", "dr.", "mr.", "mrs.",
                           "ms.", "st.", "no.", "z.b.", "bzw.", "usw.", "ca.", "d.h.", "u.a.",
                           "p.ex.", "env.", "etc"})  # fmt: skip


@dataclass(frozen=True)
class Phrasing:
    """How a line is spoken at one pace: the clauses' own speed and the pauses between them."""

    articulation: float  # words per minute within a clause
    comma: float  # seconds
    sentence: float  # seconds

    def pause(self, kind: Pause) -> float:
        return self.comma if kind == "comma" else self.sentence


def phrasing(wpm: float) -> Phrasing:
    """The articulation rate and pauses that make a typical line last words * 60 / wpm seconds.

    Per word: 60 / wpm = 60 / articulation + commas per word * comma + sentences * sentence.
    """
    scale = REFERENCE_WPM / wpm
    comma, sentence = COMMA_PAUSE * scale, SENTENCE_PAUSE * scale
    per_word = 60.0 / wpm - COMMAS_PER_WORD * comma - SENTENCES_PER_WORD * sentence
    return Phrasing(round(60.0 / per_word, 1), round(comma, 3), round(sentence, 3))


def clauses(text: str) -> list[tuple[str, Pause | None]]:
    """The line's clauses, each with the pause that follows it (None after the last).

    "If anything hurts, ease off. Then rest." -> [("If anything hurts,", "comma"),
    ("ease off.", "sentence"), ("Then rest.", None)]. A piece with no letters or digits stays
    with the clause before it, so "Wait ... now" is one clause.
    """
    ends = [found.end() for found in _BOUNDARY.finditer(text)]
    ends = [end for end in ends if text[:end].split()[-1].casefold() not in ABBREVIATIONS]
    cuts = [0, *ends, len(text)]
    pieces = [text[a:b].strip() for a, b in itertools.pairwise(cuts) if text[a:b].strip()]
    merged: list[str] = []
    for piece in pieces:
        wordless = not any(char.isalnum() for char in piece)
        if merged and (wordless or not any(char.isalnum() for char in merged[-1])):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    found: list[tuple[str, Pause | None]] = []
    for index, clause in enumerate(merged):
        if index == len(merged) - 1:
            found.append((clause, None))
        else:
            ending = clause.rstrip("\"')]")[-1:]
            found.append((clause, "sentence" if ending in ".?!" else "comma"))
    return found


Calibration = Sequence[tuple[float, float]]  # (an engine's own setting, measured words/minute)


def setting_for(wpm: float, calibration: Calibration) -> float:
    """The engine setting that speaks `wpm`, interpolated in a measured table.

    Interpolated in seconds per word, which is close to linear in every engine's setting;
    outside the table the nearest measured setting is used (the table spans the rates allowed).
    """
    points = sorted((60.0 / measured, setting) for setting, measured in calibration)
    x = 60.0 / wpm
    if x <= points[0][0]:
        return float(points[0][1])
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x <= x1:  # plain Python: an engine process imports no numpy for this
            return float(y0 + (y1 - y0) * (x - x0) / (x1 - x0)) if x1 > x0 else float(y1)
    return float(points[-1][1])


def pace(words: int, seconds: float) -> float:
    """Words per minute; 0 for no speech."""
    return words * 60.0 / seconds if seconds > 0 else 0.0
