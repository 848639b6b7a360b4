"""Routine -> Timeline: each sound and silence at an exact sample position. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .pcm import SAMPLE_RATE, to_samples, to_seconds
from .routine import Hold, Pause, Repeat, Rest, Routine, Say, Section, Sides, Step
from .template import fill

Kind = Literal["speech", "silence", "chime"]
# What a silence is for: the YAML's own (pause/hold/rest) or one the planner adds around speech.
Role = Literal["say", "pause", "hold", "rest", "lead-in", "gap", "tail", "chime"]


@dataclass(frozen=True)
class PlanSettings:
    """Spacing the planner adds; none of it touches the length of a pause, hold or rest."""

    lead_in: float = 1.0  # some players clip the first moment of a file
    gap: float = 0.6  # a breath between two consecutive spoken lines
    before_chime: float = 1.0  # after a last spoken line, before the chime
    tail: float = 1.0  # after a last spoken line when there is no chime


# -- expansion: the routine's steps as a flat script ------------------------------------------


@dataclass(frozen=True)
class Speak:
    text: str
    step: str


@dataclass(frozen=True)
class Quiet:
    seconds: float
    role: Role
    step: str


@dataclass(frozen=True)
class Mark:
    title: str
    opening: bool


Cue = Speak | Quiet | Mark


def expand(routine: Routine) -> tuple[Cue, ...]:
    """Unroll sides and repeats and fill in {side}, {rep} and {reps}."""
    return tuple(_expand(routine.steps, "steps", {}))


def phrases(cues: tuple[Cue, ...]) -> list[str]:
    """Every distinct text the voice will say, in order of first use."""
    return list(dict.fromkeys(cue.text for cue in cues if isinstance(cue, Speak)))


def _expand(steps: tuple[Step, ...], path: str, scope: Mapping[str, object]) -> Iterator[Cue]:
    for index, step in enumerate(steps):
        here = f"{path}[{index}]"
        match step:
            case Say(say=text):
                yield Speak(fill(text, scope), here)
            case Pause(pause=seconds):
                yield Quiet(seconds, "pause", here)
            case Hold(hold=seconds, say=text) | Rest(rest=seconds, say=text):
                if text:
                    yield Speak(fill(text, scope), here)
                yield Quiet(seconds, "hold" if isinstance(step, Hold) else "rest", here)
            case Section(section=title, steps=inner):
                yield Mark(fill(title, scope), opening=True)
                yield from _expand(inner, f"{here}.steps", scope)
                yield Mark(fill(title, scope), opening=False)
            case Sides(sides=sides, steps=inner):
                for side in sides:
                    yield from _expand(inner, f"{here}.steps", {**scope, "side": side})
            case Repeat(repeat=count, steps=inner):
                for rep in range(1, count + 1):
                    yield from _expand(inner, f"{here}.steps", {**scope, "rep": rep, "reps": count})


@dataclass(frozen=True)
class Size:
    silent_seconds: float
    cues: int


def measure(steps: tuple[Step, ...]) -> Size:
    """How much silence and how many cues the steps unroll into, without unrolling them."""
    silent, cues = 0.0, 0
    for step in steps:
        match step:
            case Say():
                cues += 1
            case Pause(pause=seconds):
                silent, cues = silent + seconds, cues + 1
            case Hold(hold=seconds, say=text) | Rest(rest=seconds, say=text):
                silent, cues = silent + seconds, cues + 1 + bool(text)
            case Section(steps=inner) | Sides(steps=inner) | Repeat(steps=inner):
                inner_size = measure(inner)
                times = _times(step)
                silent += times * inner_size.silent_seconds
                cues += times * inner_size.cues + 2 * isinstance(step, Section)  # its marks
    return Size(silent, cues)


def _times(block: Section | Sides | Repeat) -> int:
    if isinstance(block, Sides):
        return len(block.sides)
    return block.repeat if isinstance(block, Repeat) else 1


# -- planning: cues + clip lengths -> positions ------------------------------------------------


@dataclass(frozen=True)
class Event:
    start: int  # samples from the start of the track
    length: int
    kind: Kind
    role: Role
    text: str = ""
    step: str | None = None

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass(frozen=True)
class Chapter:
    title: str
    start: int
    end: int


@dataclass(frozen=True)
class Timeline:
    title: str
    events: tuple[Event, ...]
    sections: tuple[Chapter, ...] = field(default=())
    sample_rate: int = SAMPLE_RATE

    @property
    def length(self) -> int:
        return self.events[-1].end if self.events else 0

    @property
    def seconds(self) -> float:
        return to_seconds(self.length)

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
    cues: tuple[Cue, ...],
    speech_lengths: Mapping[str, int],
    chime_length: int,
    settings: PlanSettings = PlanSettings(),
) -> Timeline:
    """Lay the cues end to end. A hold's silence starts where its text ends, to the sample."""
    events: list[Event] = []
    chapters: list[Chapter] = []
    open_sections: list[tuple[str, int]] = []
    position = 0

    def add(length: int, kind: Kind, role: Role, text: str = "", step: str | None = None) -> None:
        nonlocal position
        events.append(Event(position, length, kind, role, text, step))
        position += length

    add(to_samples(settings.lead_in), "silence", "lead-in")
    for cue in cues:
        if isinstance(cue, Speak):
            if events[-1].kind == "speech":
                add(to_samples(settings.gap), "silence", "gap")
            add(speech_lengths[cue.text], "speech", "say", cue.text, cue.step)
        elif isinstance(cue, Quiet):
            add(to_samples(cue.seconds), "silence", cue.role, step=cue.step)
        elif cue.opening:
            open_sections.append((cue.title, position))
        else:
            title, start = open_sections.pop()
            chapters.append(Chapter(title, start, position))
    ends_in_speech = events[-1].kind == "speech"
    if routine.chime:
        if ends_in_speech:
            add(to_samples(settings.before_chime), "silence", "gap")
        add(chime_length, "chime", "chime", "chime")
    elif ends_in_speech:
        add(to_samples(settings.tail), "silence", "tail")
    chapters.sort(key=lambda chapter: (chapter.start, -chapter.end))
    return Timeline(routine.title, tuple(events), tuple(chapters))
