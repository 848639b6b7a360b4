"""Routine -> Timeline: each sound and silence at an exact sample position. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .cues import CUE_GAIN_DB
from .errors import Loc, PlanError, shorten
from .pcm import to_samples, to_seconds
from .routine import Routine
from .script import Instruction, Quiet, Ring, Role, Speak, step_path
from .speech.pace import pace

Kind = Literal["speech", "silence", "chime"]


@dataclass(frozen=True)
class PlanSettings:
    """Spacing the planner adds; none of it touches the length of a pause, hold or rest."""

    lead_in: float = 1.0  # some players clip the first moment of a file
    gap: float = 1.2  # a breath between two spoken lines: longer than a pause inside a line
    before_chime: float = 2.0  # after a last spoken line, before the chime: let it settle
    tail: float = 1.0  # after a last spoken line when there is no chime


@dataclass(frozen=True)
class Event:
    start: int  # samples from the start of the track
    length: int
    kind: Kind
    role: Role
    text: str = ""
    step: str | None = None
    gain_db: float = 0.0  # cues inside holds are spoken softer

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass(frozen=True)
class Span:
    """A named stretch of the track, in samples: a section, or a chapter of the MP3."""

    title: str
    start: int
    end: int


MAX_CHAPTERS = 255  # an ID3 table of contents counts its entries in one byte
INTRO_CHAPTER = "Introduction"


@dataclass(frozen=True)
class Timeline:
    title: str
    events: tuple[Event, ...]
    sections: tuple[Span, ...] = field(default=())  # every section, sorted by start, outer first
    chapters: tuple[Span, ...] = field(default=())  # what players list; see track_chapters()

    @property
    def length(self) -> int:
        return self.events[-1].end if self.events else 0

    @property
    def seconds(self) -> float:
        return to_seconds(self.length)

    def pace(self) -> float:
        """Words per minute of the routine's own lines as spoken (cues inside holds aside),
        every occurrence counted, over their spoken seconds."""
        said = [e for e in self.events if e.kind == "speech" and e.role == "say"]
        words = sum(len(e.text.split()) for e in said)
        return pace(words, to_seconds(sum(e.length for e in said)))

    def as_json(self) -> dict[str, Any]:
        """The plan as `psoas-audio plan --json` prints it: seconds to the millisecond."""

        def seconds(samples: int) -> float:
            return round(to_seconds(samples), 3)

        return {
            "title": self.title,
            "duration": seconds(self.length),
            "events": [
                {"start": seconds(e.start), "end": seconds(e.end), "kind": e.kind,
                 "role": e.role, "text": e.text, "step": e.step}
                for e in self.events
            ],
            "sections": [
                {"title": s.title, "start": seconds(s.start), "end": seconds(s.end)}
                for s in self.sections
            ],
        }  # fmt: skip


def plan(
    routine: Routine,
    script: tuple[Instruction, ...],
    speech_lengths: Mapping[str, int],
    chime_lengths: Mapping[str, int],
    settings: PlanSettings = PlanSettings(),
    *,
    cues_must_fit: bool = True,
) -> Timeline:
    """Lay the script end to end. A hold's silence starts where its text ends, to the sample.

    A cue too long for its slot is a PlanError, unless cues_must_fit is False: then it is left
    out, which changes no lengths (a length fit only asks how long the track is).
    """
    events: list[Event] = []
    sections: list[tuple[Span, int]] = []  # with its depth: a parent before its only child
    open_sections: list[tuple[str, int]] = []

    def add(length: int, kind: Kind, role: Role, text: str = "", step: str | None = None,
            gain_db: float = 0.0) -> None:  # fmt: skip
        start = events[-1].end if events else 0
        if length > 0:
            events.append(Event(start, length, kind, role, text, step, gain_db))

    def after_speech() -> bool:  # a line of the routine's own, not a cue inside a hold
        return bool(events) and events[-1].kind == "speech" and events[-1].role == "say"

    breath = to_samples(routine.breath if routine.breath is not None else settings.gap)
    misfits: dict[Loc, str] = {}  # by step: a repeated step's misfit is reported once
    add(to_samples(settings.lead_in), "silence", "lead-in")
    for item in script:
        if isinstance(item, Speak):
            if after_speech():
                add(breath, "silence", "gap")
            add(speech_lengths[item.text], "speech", "say", item.text, step_path(item.loc))
        elif isinstance(item, Quiet):
            _quiet(item, speech_lengths, add, misfits)
        elif isinstance(item, Ring):
            if after_speech():
                add(to_samples(settings.before_chime), "silence", "gap")
            step = step_path(item.loc) if item.loc else None
            add(chime_lengths[item.style], "chime", "chime", item.style, step)
        elif item.opening:
            open_sections.append((item.title, events[-1].end))
        else:
            title, start = open_sections.pop()
            sections.append((Span(title, start, events[-1].end), len(open_sections)))
    if misfits and cues_must_fit:
        raise PlanError(list(misfits.items()))
    if after_speech() and not routine.chime:
        add(to_samples(settings.tail), "silence", "tail")
    sections.sort(key=lambda item: (item[0].start, -item[0].end, item[1]))
    ordered = tuple(span for span, _ in sections)
    return Timeline(routine.title, tuple(events), ordered, track_chapters(events, ordered))


def track_chapters(events: list[Event], sections: tuple[Span, ...]) -> tuple[Span, ...]:
    """The chapters a player lists: the outermost sections, in time order and end to end.

    The first starts at 0 (an Introduction chapter holds anything heard before the first
    section), each ends where the next begins, the last at the end; titles are made unique.
    """
    outer: list[Span] = []
    for section in sections:
        if section.end > section.start and (not outer or section.start >= outer[-1].end):
            outer.append(section)
    if not outer:
        return ()
    heard_before = any(e.kind != "silence" and e.start < outer[0].start for e in events)
    if heard_before:
        outer.insert(0, Span(INTRO_CHAPTER, 0, outer[0].start))
    if len(outer) > MAX_CHAPTERS:
        message = (
            f"the routine has {len(outer)} chapters (top-level sections); an MP3 can list at "
            f"most {MAX_CHAPTERS}"
        )
        raise PlanError([(("steps",), message)])
    starts = [0, *(span.start for span in outer[1:])]
    ends = [*starts[1:], events[-1].end]
    seen: set[str] = set()
    chapters = []
    for span, start, end in zip(outer, starts, ends, strict=True):
        title, number = span.title, 1
        while title in seen:
            number += 1
            title = f"{span.title} ({number})"
        seen.add(title)
        chapters.append(Span(title, start, end))
    return tuple(chapters)


def _quiet(
    quiet: Quiet,
    speech_lengths: Mapping[str, int],
    add: Callable[..., None],
    misfits: dict[Loc, str],
) -> None:
    """A silence of exactly quiet.seconds, with its inner cues spoken at their own times.

    A cue too long for its slot is noted in misfits (by its key's YAML path) and left out.
    """
    step, total = step_path(quiet.loc), to_samples(quiet.seconds)
    done = 0
    for inner in quiet.inner:
        start, length = to_samples(inner.at), speech_lengths[inner.text]
        if start + length > to_samples(inner.until):
            slot = inner.until - inner.at
            where = (*quiet.loc, "remind" if inner.role == "remind" else inner.role)
            takes, has = f"{to_seconds(length):.2f}", f"{slot:.2f}"
            if takes == has:  # 1.004 s against 1 s: say it to the millisecond
                takes, has = f"{to_seconds(length):.3f}", f"{slot:.3f}"
            misfits.setdefault(
                where,
                f"the {inner.role} cue {shorten(inner.text)!r} takes {takes}s but has "
                f"{float(has):g}s before the next cue or the end",
            )
            continue
        add(start - done, "silence", quiet.role, step=step)
        add(length, "speech", inner.role, inner.text, step, CUE_GAIN_DB[inner.role])
        done = start + length
    add(total - done, "silence", quiet.role, step=step)
