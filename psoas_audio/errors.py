"""The one error hierarchy. The CLI turns these into messages in exactly one place."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


class PsoasError(Exception):
    """Base of every error the user can cause or fix; its str() is the whole message."""


@dataclass(frozen=True)
class Problem:
    """One mistake at a place in a source file; line and column are 1-based.

    line 0 means the mistake is not on a line of the file (a bad --set value for it).
    """

    file: Path
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        if not self.line:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class RoutineError(PsoasError):
    """A routine file has one or more mistakes, all reported at once."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        unique = dict.fromkeys(problems)  # the same mistake found twice is reported once
        self.problems = tuple(sorted(unique, key=lambda p: (str(p.file), p.line, p.column)))
        super().__init__("\n".join(str(p) for p in self.problems))


Loc = tuple[str | int, ...]  # where in a YAML file: ("steps", 2, "say") is the third step's say


class PlanError(PsoasError):
    """Steps that cannot be laid out with the speech they got (cues longer than their slots).

    Each problem is (the YAML path of the offending key, a message); the pipeline turns the
    paths into FILE:LINE:COL.
    """

    def __init__(self, problems: Sequence[tuple[Loc, str]]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(message for _, message in self.problems))


class SourceFileError(PsoasError):
    """A routine file that cannot be read at all (missing, unreadable, not YAML)."""


class UsageError(PsoasError):
    """Options that do not fit together or name nothing (e.g. a --set for an unknown var)."""


class EngineError(PsoasError):
    """The speech engine is missing, failed, hung, or lacks the voice asked for."""


class UnknownVoice(EngineError):
    """The engine has no such voice (pyttsx3 would silently keep speaking with another)."""


class CacheError(PsoasError):
    """The cache folder cannot be written, or an entry a build was using changed under it."""


class OutputError(PsoasError):
    """An output file cannot be written, or would replace something that is not a track."""


class EncodeError(PsoasError):
    """ffmpeg is missing or failed to write the MP3."""


class ChecksFailed(PsoasError):
    """Several routines were refused: each one's message, one after another."""


class NotPublished(PsoasError):
    """A routine of a site did not build, so nothing of the site changed."""


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice a typo most likely meant, if any is close enough; case does not count
    (RAIN means rain)."""
    folded = {choice.lower(): choice for choice in sorted(choices)}  # "calm" over "Calm"
    matches = difflib.get_close_matches(name.lower(), sorted(folded), n=1, cutoff=0.6)
    return folded[matches[0]] if matches else None


def did_you_mean(name: str, choices: Iterable[str], *, braces: bool = False) -> str:
    """' (did you mean 'x'?)' for a typo, or '' when nothing is close."""
    match = closest(name, choices)
    if match is None:
        return ""
    return f" (did you mean {{{match}}}?)" if braces else f" (did you mean '{match}'?)"


def shorten(text: str, limit: int = 40) -> str:
    """The start of a long text for a message, cut at a word."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"
