"""Routine -> Script: the steps unrolled into a flat list of instructions (say this, be quiet
this long, ring, a section opens or closes), with {side}, {rep} and {reps} filled in. Pure.

The timeline (timeline.py) then lays these end to end at exact sample positions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from .chime import DEFAULT_STYLE, STYLES, TICK_STYLE
from .cues import CueWords, InnerCue, inner_cues
from .errors import Loc
from .pcm import to_samples
from .routine import (
    Chime,
    Hold,
    Pause,
    Repeat,
    Rest,
    Routine,
    Say,
    Section,
    Sides,
    Step,
    cue_words,
)
from .template import fill

# What a silence is for: the YAML's own (pause/hold/rest) or one the planner adds around speech.
Role = Literal[
    "say", "pause", "hold", "rest", "lead-in", "gap", "tail", "chime",
    "countdown", "halfway", "remind",
]  # fmt: skip


def step_path(loc: Loc) -> str:
    """("steps", 2, "steps", 0) -> "steps[2].steps[0]", as plans print it."""
    return ".".join(f"{key}[{index}]" for key, index in zip(loc[::2], loc[1::2], strict=True))


@dataclass(frozen=True)
class Speak:
    text: str
    loc: Loc


@dataclass(frozen=True)
class Quiet:
    seconds: float
    role: Role
    loc: Loc
    inner: tuple[InnerCue, ...] = ()  # spoken inside the silence, never lengthening it


@dataclass(frozen=True)
class Ring:
    style: str
    loc: Loc | None  # None for the final chime


@dataclass(frozen=True)
class Mark:
    title: str
    opening: bool


Instruction = Speak | Quiet | Ring | Mark  # one line of the flat script


LONG_SILENCE = 60.0  # seconds of silence after which words are announced by a tick
TICK_LEAD = 1.5  # seconds from the tick's start to the words


def expand(routine: Routine, longest: Routine | None = None) -> tuple[Instruction, ...]:
    """Unroll sides and repeats, fill in {side}, {rep} and {reps}, and add the final chime;
    with routine.tick, the ticks that announce words after a long silence.

    longest: the same routine with its duration ranges at their longest ends. A silence is
    long if it can be: a length fit then moves smoothly, where a tick that came and went as
    a range crossed a minute made lengths 1.5 s apart the nearest it could reach."""
    words = cue_words(routine)
    script = list(_expand(routine.steps, ("steps",), {}, words))
    if routine.tick:
        longest_script = script
        if longest is not None:  # ranges change lengths and words, never the steps
            longest_script = list(_expand(longest.steps, ("steps",), {}, words))
        script = _announced(script, longest_script)
    if routine.chime:
        script.append(Ring(DEFAULT_STYLE if routine.chime is True else str(routine.chime), None))
    return tuple(script)


def _announced(script: list[Instruction], longest: list[Instruction]) -> list[Instruction]:
    """A soft tick where the first words after a minute or more of silence begin (a hold, a
    rest or pauses, end to end; the soft reminders inside a rest are part of it), then the
    words TICK_LEAD seconds after the tick starts. The tick is the next sound after the
    silence, so the silence keeps its exact length; someone lying with eyes closed is not
    startled by a full voice out of nowhere."""
    if len(longest) != len(script):
        longest = script
    out: list[Instruction] = []
    quiet = 0  # in samples, as the timeline lays them: four pauses making 60 s are 60 s
    for item, at_longest in zip(script, longest, strict=True):
        if isinstance(item, Speak) and quiet >= to_samples(LONG_SILENCE):
            out.append(Ring(TICK_STYLE, item.loc))  # as soft as level.py makes it
            out.append(Quiet(TICK_LEAD - STYLES[TICK_STYLE].seconds, "gap", item.loc))
        if isinstance(at_longest, Quiet):
            quiet += to_samples(at_longest.seconds)
        elif not isinstance(at_longest, Mark):
            quiet = 0
        out.append(item)
    return out


def phrases(script: tuple[Instruction, ...]) -> list[str]:
    """Every distinct text the voice will say, in order of first use."""
    texts: list[str] = []
    for item in script:
        if isinstance(item, Speak):
            texts.append(item.text)
        elif isinstance(item, Quiet):
            texts += [inner.text for inner in item.inner]
    return list(dict.fromkeys(texts))


def chime_styles(script: tuple[Instruction, ...]) -> list[str]:
    return list(dict.fromkeys(item.style for item in script if isinstance(item, Ring)))


def _expand(
    steps: tuple[Step, ...], loc: Loc, scope: Mapping[str, object], words: CueWords
) -> Iterator[Instruction]:
    for index, step in enumerate(steps):
        here = (*loc, index)
        match step:
            case Say():
                yield Speak(fill(_said(step, scope), scope), here)
            case Pause(pause=seconds):
                yield Quiet(seconds, "pause", here)
            case Hold(hold=seconds) | Rest(rest=seconds):
                if step.say:
                    yield Speak(fill(_said(step, scope), scope), here)
                reminders = tuple(fill(t, scope) for t in step.remind.say) if step.remind else ()
                every = step.remind.every if step.remind else None
                inner = inner_cues(seconds, step.countdown, step.halfway, every, reminders, words)
                role: Role = "hold" if isinstance(step, Hold) else "rest"
                yield Quiet(seconds, role, here, tuple(inner))
            case Chime(chime=style):
                yield Ring(style, here)
            case Section(section=title, steps=inner_steps):
                yield Mark(_title(title, scope), opening=True)
                yield from _expand(inner_steps, (*here, "steps"), scope, words)
                yield Mark(_title(title, scope), opening=False)
            case Sides(sides=sides, steps=inner_steps):
                for side in sides:
                    side_scope = {**scope, "side": side}
                    yield from _expand(inner_steps, (*here, "steps"), side_scope, words)
            case Repeat(repeat=count, steps=inner_steps):
                for rep in range(1, count + 1):
                    inner_scope = {**scope, "rep": rep, "reps": count}
                    yield from _expand(inner_steps, (*here, "steps"), inner_scope, words)


def _title(title: str, scope: Mapping[str, object]) -> str:
    """A section's title as a chapter list shows it: "{side} side" with sides [left, right]
    is "Left side" (the side as spoken stays "left" in the lines)."""
    filled = fill(title, scope)
    return filled[:1].upper() + filled[1:] if title.startswith("{") else filled


def _said(step: Say | Hold | Rest, scope: Mapping[str, object]) -> str:
    """The step's line this time round: its short form (`then`) after a repeat's first."""
    later = scope.get("rep", 1) != 1
    return step.then if later and step.then else step.say or ""


@dataclass(frozen=True)
class Size:
    silent_seconds: float
    instructions: int  # what the steps unroll into: the planner's work
    spoken_words: int  # of the lines between silences (cues inside holds add no time)


def measure(steps: tuple[Step, ...], later: bool = False) -> Size:
    """How much silence, how many instructions and spoken words the steps unroll into,
    without unrolling them (later: as said after their repeat's first time round). The ticks
    after long silences are left out: a few instructions and seconds more."""
    silent, count, words = 0.0, 0, 0
    for step in steps:
        match step:
            case Say():
                count, words = count + 1, words + _words(step, later)
            case Chime():
                count += 1
            case Pause(pause=seconds):
                silent, count = silent + seconds, count + 1
            case Hold(hold=seconds) | Rest(rest=seconds):
                silent, count = silent + seconds, count + 1 + bool(step.say)
                words += _words(step, later)
            case Repeat(repeat=times, steps=inner):
                first = measure(inner)
                rest = measure(inner, later=True) if times > 1 and _has_then(inner) else first
                silent += times * first.silent_seconds
                count += times * first.instructions
                words += first.spoken_words + (times - 1) * rest.spoken_words
            case Section(steps=inner) | Sides(steps=inner):
                inner_size = measure(inner, later)
                times = _times(step)
                silent += times * inner_size.silent_seconds
                count += times * inner_size.instructions + 2 * isinstance(
                    step, Section
                )  # its marks
                words += times * inner_size.spoken_words
    return Size(silent, count, words)


def _words(step: Say | Hold | Rest, later: bool) -> int:
    text = step.then if later and step.then else step.say
    return len(text.split()) if text else 0


def _has_then(steps: tuple[Step, ...]) -> bool:
    for step in steps:
        if isinstance(step, Say | Hold | Rest) and step.then:
            return True
        if isinstance(step, Section | Sides | Repeat) and _has_then(step.steps):
            return True
    return False


def _times(block: Section | Sides) -> int:
    return len(block.sides) if isinstance(block, Sides) else 1
