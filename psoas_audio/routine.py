"""The routine format: pydantic models, {var} templating, and validation with source positions."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from .ambience import Ambience
from .cues import CueWords, built_in_cue_words, cue_problems
from .durations import parse_duration, parse_length
from .errors import EngineError, Loc, Problem, RoutineError, closest, did_you_mean
from .speech.engine import AUTO, BUILT_IN
from .speech.pace import DEFAULT_WPM, FASTEST_WPM, SLOWEST_WPM
from .steps import ACTIONS, NEEDS_AN_ACTION
from .steps import action_of as _action_of_mapping
from .template import Choice, RangeUse, template
from .yamlsource import SourceDocument, load_document

MAX_REPEAT = 100
DEFAULT_GENRE = "Health & Fitness"  # what podcast directories call it, too


def _duration(value: object) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", str(exc)) from None


def _length(value: object) -> float:
    try:
        return parse_length(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", str(exc)) from None


def _count(value: object) -> int:
    if isinstance(value, str) and value.strip().isdecimal() and value.strip().isascii():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError("count", f"expected a whole number of times, got {value!r}")
    if not 1 <= value <= MAX_REPEAT:
        raise PydanticCustomError("count", f"a count must be 1 to {MAX_REPEAT}, got {value}")
    return value


MAX_WORDS_PER_LINE = 150  # about a minute of speech: the engine speaks a line in one go
MAX_CHARACTERS_PER_LINE = 1_200
_MARKUP = re.compile(r"</?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>")  # <break time="1s"/>, </s>
# Pictographs and dingbats: eSpeak NG reads an emoji's name out ("smiling face").
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f]")


def spoken_problem(text: str) -> str | None:
    """Why an engine cannot speak this text in one go, as written, or None if it can."""
    if not any(char.isalnum() for char in text):
        return f"nothing to say in {text!r}: no letters or digits"
    markup = _MARKUP.search(text)
    if markup:
        return (
            f"{markup[0]!r} looks like SSML or HTML markup, which would be read out literally; "
            "write plain words, and use a pause step for silence"
        )
    emoji = _EMOJI.search(text)
    if emoji:
        return (
            f"{emoji[0]!r} is an emoji or symbol, which the voice would read out by its name "
            '("smiling face"); write it in words, or leave it out'
        )
    words = len(text.split())
    if words > MAX_WORDS_PER_LINE or len(text) > MAX_CHARACTERS_PER_LINE:
        return (
            f"this line is too long to speak in one go ({words:,} words, {len(text):,} "
            f"characters); a line may have at most {MAX_WORDS_PER_LINE} words and "
            f"{MAX_CHARACTERS_PER_LINE:,} characters: split it into several say steps"
        )
    return None


def _speakable(text: str) -> str:
    problem = spoken_problem(text)
    if problem:
        raise PydanticCustomError("speakable", problem)
    return text


def _chime_style(name: str) -> str:
    from .chime import STYLES

    if name not in STYLES:
        hint = did_you_mean(name, STYLES)
        raise PydanticCustomError(
            "chime", f"no chime style '{name}'{hint}; styles: {', '.join(STYLES)}"
        )
    return name


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def _language(value: object) -> object:
    """YAML 1.1 reads an unquoted no (Norwegian) as false."""
    if value is False:
        raise PydanticCustomError(
            "language", 'YAML reads an unquoted no as false: write "no" in quotes, or nb'
        )
    return value


def _one_line(text: str) -> str:
    """A title or a name: a line break would split a playlist entry or a feed's title."""
    if any(char in text for char in "\n\r\v\f\x85\u2028\u2029"):
        raise PydanticCustomError("one_line", "this is one line of text; remove the line break")
    return text


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_one_line),
]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)
]  # what podcast directories take
Spoken = Annotated[Text, AfterValidator(_speakable)]  # eSpeak says nothing for "..." alone


def _final_chime(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _chime_style(value)
    raise PydanticCustomError("chime", f"expected true, false or a chime style name, got {value!r}")


# How these are written in a file, for the JSON Schema editors read (`psoas-audio schema`):
# a var such as "{hold}" may stand wherever a duration or a count goes.
_VAR = r"^\s*\{[A-Za-z_][A-Za-z0-9_]*\}\s*$"
_ONE = r"\s*(\d+(\.\d+)?\s*(h|ms|m|s)?\s*)+"
_DURATION = rf"^{_ONE}$"
_RANGE = rf"^{_ONE}\.\.{_ONE}$"
_DURATION_SCHEMA = {
    "anyOf": [{"type": "number", "exclusiveMinimum": 0},
              {"type": "string", "pattern": _DURATION}, {"type": "string", "pattern": _RANGE},
              {"type": "string", "pattern": _VAR}],
    "description": "A duration: 20s, 1.5s, 2m, 1m30s, 1h, 500ms, a number of seconds, a var, "
                   "or a range such as 5m..10m (fitted to --length, else its shorter end).",
}  # fmt: skip
_LENGTH_SCHEMA = {
    "anyOf": [{"type": "number", "exclusiveMinimum": 0},
              {"type": "string", "pattern": _DURATION}, {"type": "string", "pattern": _VAR}],
    "description": "The whole track's length, such as 15m: the ranges are fitted to it.",
}  # fmt: skip


def _whole(low: int, high: int, what: str) -> dict[str, object]:
    return {
        "anyOf": [{"type": "integer", "minimum": low, "maximum": high},
                  {"type": "string", "pattern": _VAR}],
        "description": f"{what}: {low} to {high}, or a var.",
    }  # fmt: skip


def _styles() -> list[str]:
    from .chime import STYLES

    return list(STYLES)


ChimeName = Annotated[str, AfterValidator(_chime_style), WithJsonSchema({"enum": _styles()})]
FinalChime = Annotated[
    bool | str,
    BeforeValidator(_final_chime),
    WithJsonSchema(
        {"anyOf": [{"type": "boolean"}, {"enum": _styles()}],
         "description": "The chime at the end: true (the bell), false, or a style."}
    ),
]  # fmt: skip
Seconds = Annotated[float, BeforeValidator(_duration), WithJsonSchema(_DURATION_SCHEMA)]
Length = Annotated[float, BeforeValidator(_length), WithJsonSchema(_LENGTH_SCHEMA)]
Count = Annotated[
    int, BeforeValidator(_count), WithJsonSchema(_whole(1, MAX_REPEAT, "How many times"))
]
Countdown = Annotated[
    int, Field(ge=1, le=10), WithJsonSchema(_whole(1, 10, "Seconds counted down at the end"))
]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _engine(name: object) -> object:
    from .speech.engine import check_engine

    if isinstance(name, str):
        try:
            check_engine(name)
        except EngineError as exc:
            raise PydanticCustomError("engine", str(exc)) from None
    return name


EngineName = Annotated[str, BeforeValidator(_engine), WithJsonSchema({"enum": list(BUILT_IN)})]
Rate = Annotated[
    int,
    Field(ge=SLOWEST_WPM, le=FASTEST_WPM),
    WithJsonSchema(
        {"type": "integer", "minimum": SLOWEST_WPM, "maximum": FASTEST_WPM,
         "description": "Words per minute of actual speech, the same for every engine."}
    ),
]  # fmt: skip


class Voice(Model):
    """Who speaks and how fast; every part can be overridden from the command line."""

    engine: EngineName = AUTO
    name: str | None = None
    rate: Rate = DEFAULT_WPM


THEN = Annotated[
    Spoken | None,
    Field(description="Said instead of `say` from a repeat's second time round: the short cue."),
]


class Say(Model):
    say: Spoken
    then: THEN = None


class Pause(Model):
    pause: Seconds


def _one_or_many(value: object) -> object:
    return (value,) if isinstance(value, str) else value


class Remind(Model):
    """Gentle lines spread through a long hold or rest, cycling, never in its last seconds."""

    every: Seconds
    say: Annotated[tuple[Spoken, ...], BeforeValidator(_one_or_many), Field(min_length=1)]


class _Timed(Model):
    """What holds and rests share: a text before the silence, and cues inside it."""

    say: Spoken | None = None
    then: THEN = None
    countdown: Countdown | None = None
    halfway: bool = False
    remind: Remind | None = None


class Hold(_Timed):
    hold: Seconds


class Rest(_Timed):
    rest: Seconds


class Chime(Model):
    chime: ChimeName


class CueWordsSetting(Model):
    """What the countdown and halfway cues say, over the built-in words for the language."""

    halfway: Annotated[Spoken | None, Field(description="Said at a hold's midpoint.")] = None
    countdown: Annotated[
        tuple[Spoken, ...] | None,
        Field(min_length=1, max_length=10, description="The numbers from one up: [one, two]."),
    ] = None


class Section(Model):
    section: Text
    steps: Steps


class Sides(Model):
    sides: Annotated[tuple[Spoken, ...], Field(min_length=1, max_length=8)]  # said as {side}
    steps: Steps


class Repeat(Model):
    repeat: Count
    steps: Steps


def action_of(step: object) -> str | None:
    """The action key that decides a step's kind, or None when it has none or several."""
    if isinstance(step, BaseModel):
        step = step.model_dump()
    return _action_of_mapping(step) if isinstance(step, Mapping) else None


STEP_MODELS: dict[str, type[Model]] = {
    "say": Say, "pause": Pause, "hold": Hold, "rest": Rest,
    "section": Section, "sides": Sides, "repeat": Repeat, "chime": Chime,
}  # fmt: skip

Step = Annotated[
    Annotated[Say, Tag("say")]
    | Annotated[Pause, Tag("pause")]
    | Annotated[Hold, Tag("hold")]
    | Annotated[Rest, Tag("rest")]
    | Annotated[Section, Tag("section")]
    | Annotated[Sides, Tag("sides")]
    | Annotated[Repeat, Tag("repeat")]
    | Annotated[Chime, Tag("chime")],
    Discriminator(action_of),
]
Steps = Annotated[tuple[Step, ...], Field(min_length=1)]


class Routine(Model):
    """A validated routine with its {vars} already filled in (loop variables stay as {side})."""

    title: Annotated[Name, Field(description="The track's title.")]
    author: Annotated[Name | None, Field(description="The MP3's artist.")] = None
    description: Annotated[Description | None, Field(description="The MP3's comment.")] = None
    album: Annotated[
        Name | None, Field(description="Default: the folder's name in a batch, else the title.")
    ] = None
    genre: Name = DEFAULT_GENRE
    cover: Annotated[
        Text | None,
        Field(description="A PNG or JPEG beside the routine; without it, a cover is drawn."),
    ] = None
    voice: Voice = Voice()
    vars: Annotated[
        dict[str, str | int | float],
        Field(description="Values for {name} anywhere below; --set NAME=VALUE overrides them."),
    ] = {}
    chime: FinalChime = True
    tick: Annotated[
        bool,
        Field(
            description="A soft tick before the first words after a silence of a minute or "
            "more, so that they do not come unannounced (default true)."
        ),
    ] = True
    breath: Annotated[
        Seconds | None, Field(description="The pause between two spoken lines (0.6 s).")
    ] = None
    language: Annotated[
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]+)*$")] | None,
        BeforeValidator(_language),
        Field(description="A language code such as de or en-gb: picks the voice and cue words."),
    ] = None
    pronounce: Annotated[
        dict[Text, Spoken], Field(description="Words respelled for every engine: {psoas: so-az}.")
    ] = {}
    ambience: Annotated[
        Ambience,
        Field(description="A soft bed under the voice: none, rain, ocean or drone (synthesized)."),
    ] = "none"
    cue_words: Annotated[
        CueWordsSetting | None,
        Field(description="The countdown's and halfway cue's words (default: the language's)."),
    ] = None
    length: Length | None = None
    steps: Steps


for _model in (Section, Sides, Repeat, Routine):
    _model.model_rebuild()


@dataclass(frozen=True)
class RoutineFile:
    """A routine with the document it came from, so later stages can still point at lines.

    It keeps what it was templated with, so a length fit can choose its ranges again.
    """

    path: Path
    routine: Routine
    document: SourceDocument
    ranges: tuple[RangeUse, ...] = ()  # the values its duration ranges took
    said: tuple[str, ...] = ()  # its range vars said in words
    applied: tuple[str, ...] = ()  # the profile's vars it uses
    overrides: Mapping[str, str] = field(default_factory=dict)
    profile_vars: Mapping[str, object] = field(default_factory=dict)
    choice: Choice = field(default_factory=Choice)

    def choose(self, choice: Choice, *, cues: bool = True) -> RoutineFile:
        """The same routine with its ranges placed elsewhere; the file is not read again."""
        return routine_from(self.document, self.overrides, self.profile_vars, choice, cues=cues)


def load_routine(
    path: Path,
    overrides: Mapping[str, str] | None = None,
    profile_vars: Mapping[str, object] | None = None,
    *,
    cues: bool = True,
) -> RoutineFile:
    """Parse, template and validate a routine file; raise RoutineError listing every mistake.

    Its ranges take their lower bounds; RoutineFile.choose() places them elsewhere. With
    cues=False, cues that do not fit their hold at these values are not (yet) mistakes: a
    length fit checks them at the values it chooses.
    """
    document = load_document(path)
    return routine_from(document, overrides or {}, profile_vars or {}, Choice(), cues=cues)


def routine_from(
    document: SourceDocument,
    overrides: Mapping[str, str],
    profile_vars: Mapping[str, object],
    choice: Choice,
    *,
    cues: bool = True,
) -> RoutineFile:
    path = document.path
    templated = template(document, overrides, profile_vars, choice)
    data, problems = templated.data, templated.found
    try:
        routine = Routine.model_validate(data)
    except ValidationError as exc:
        reported = [p for p, _ in problems]
        errors = [(error, _data_loc(error["loc"])) for error in exc.errors()]
        misspelt = {  # a key reported as a typo of "title" need not also be "missing title"
            (*loc[:-1], match)
            for error, loc in errors
            if error["type"] == "extra_forbidden"
            for match in [closest(str(loc[-1]), _fields_at(data, loc[:-1]))]
            if match
        }
        for error, loc in errors:
            if error["type"] == "too_short" and error["input"]:
                continue  # pydantic's echo of a failed item, not an empty list
            if error["type"] == "missing" and loc in misspelt:
                continue
            if not any(_overlaps(loc, r, error["type"]) for r in reported):
                problem = translate_error(error, loc, data, document)
                if loc in templated.from_set:  # not a mistake in the file: name what set it
                    problem = Problem(path, 0, 0, f"{templated.from_set[loc]}: {problem.message}")
                problems.append((loc, problem))
        raise RoutineError([problem for _, problem in problems]) from None
    if cues:  # reported with any other mistakes, all at once
        problems += [
            (loc, document.problem(loc, message)) for loc, message in _misfits(routine.steps)
        ]
    problems += [
        (loc, document.problem(loc, message)) for loc, message in _unsaid(routine, routine.steps)
    ]
    if problems:
        raise RoutineError([problem for _, problem in problems])
    return RoutineFile(
        path, routine, document, templated.ranges, templated.said, templated.applied,
        dict(overrides), dict(profile_vars), choice,
    )  # fmt: skip


def require_cues_fit(source: RoutineFile) -> None:
    """RoutineError for cues that cannot fit their hold or rest at the values it has."""
    found = _misfits(source.routine.steps)
    if found:
        raise RoutineError([source.document.problem(loc, message) for loc, message in found])


def _misfits(steps: tuple[Step, ...], loc: Loc = ("steps",)) -> list[tuple[Loc, str]]:
    """Cues that cannot fit in their hold or rest, whatever the voice."""
    found: list[tuple[Loc, str]] = []
    for index, step in enumerate(steps):
        here = (*loc, index)
        if isinstance(step, Hold | Rest):
            seconds = step.hold if isinstance(step, Hold) else step.rest
            every = step.remind.every if step.remind else None
            for key, message in cue_problems(seconds, step.countdown, step.halfway, every):
                found.append(((*here, key), message))
        elif isinstance(step, Section | Sides | Repeat):
            found += _misfits(step.steps, (*here, "steps"))
    return found


def cue_words(routine: Routine) -> CueWords:
    """What this routine's cues say: its own cue_words over its language's built-in ones."""
    base = built_in_cue_words(routine.language) or CueWords(None, ())
    own = routine.cue_words
    if own is None:
        return base
    return CueWords(
        own.halfway if own.halfway is not None else base.halfway,
        own.countdown if own.countdown is not None else base.numbers,
    )


def _unsaid(
    routine: Routine, steps: tuple[Step, ...], loc: Loc = ("steps",)
) -> list[tuple[Loc, str]]:
    """Countdowns and halfway marks with no words to say them in the routine's language."""
    words, own = cue_words(routine), routine.cue_words
    found: list[tuple[Loc, str]] = []
    how = (
        f"; the language '{routine.language}' has no built-in cue words, so give them with "
        "cue_words:"
    )
    for index, step in enumerate(steps):
        here = (*loc, index)
        if isinstance(step, Hold | Rest):
            if step.countdown and len(words.numbers) < step.countdown:
                message = f"a countdown from {step.countdown} needs {step.countdown} number words"
                if own is not None and own.countdown is not None:
                    message += f"; cue_words gives {len(own.countdown)}"
                else:
                    message += f"{how} {{countdown: [...]}}"
                found.append(((*here, "countdown"), message))
            if step.halfway and not words.halfway:
                found.append(((*here, "halfway"), f"nothing to say halfway{how} {{halfway: ...}}"))
        elif isinstance(step, Section | Sides | Repeat):
            found += _unsaid(routine, step.steps, (*here, "steps"))
    return found


def _overlaps(loc: Loc, reported: Loc, kind: str) -> bool:
    """Whether a pydantic error repeats a mistake the templating pass already reported."""
    return loc[: len(reported)] == reported or (
        kind.startswith("union_tag") and reported[: len(loc)] == loc
    )


# -- pydantic errors -> messages ----------------------------------------------------------------


def _data_loc(loc: Loc) -> Loc:
    """Drop the union tags pydantic puts after a step's index (steps, 2, 'hold', ...)."""
    cleaned: list[int | str] = []
    for i, part in enumerate(loc):
        is_tag = (
            i >= 2 and isinstance(loc[i - 1], int) and loc[i - 2] == "steps" and part in STEP_MODELS
        )
        if not is_tag:
            cleaned.append(part)
    return tuple(cleaned)


def _node(data: object, loc: Loc) -> object:
    for part in loc:
        if not isinstance(data, dict | list):
            return None
        try:
            data = data[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _fields_at(data: object, parent: Loc) -> list[str]:
    if parent == ():
        return list(Routine.model_fields)
    if parent == ("voice",):
        return list(Voice.model_fields)
    if parent == ("cue_words",):
        return list(CueWordsSetting.model_fields)
    if parent and parent[-1] == "remind":
        return list(Remind.model_fields)
    action = action_of(_node(data, parent))
    return list(STEP_MODELS[action].model_fields) if action else list(ACTIONS)


_TYPE_NAMES = {str: "text", int: "a number", float: "a number", bool: "true or false",
               list: "a list", dict: "a mapping", type(None): "nothing"}  # fmt: skip


def translate_error(
    error: Any,
    loc: Loc,
    data: object,
    document: SourceDocument,
    fields_at: Callable[[object, Loc], list[str]] = _fields_at,
) -> Problem:
    kind, value = error["type"], error.get("input")
    got = _TYPE_NAMES.get(type(value), type(value).__name__)
    name = str(loc[-1]) if loc else "routine"
    ctx = error.get("ctx") or {}
    if kind.startswith("union_tag"):
        example = f"; to speak it, write `- say: {value}`" if isinstance(value, str) else ""
        return document.problem(loc, f"{NEEDS_AN_ACTION}{example}")
    if kind == "extra_forbidden" and name in ACTIONS and len(loc) >= 2:
        action = action_of(_node(data, loc[:-1]))
        return document.problem(
            loc,
            f"'{name}' cannot share a step with '{action}'; give it a step of its own",
            key=True,
        )
    if kind == "extra_forbidden":
        hint = did_you_mean(name, fields_at(data, loc[:-1]))
        return document.problem(loc, f"unknown key '{name}'{hint}", key=True)
    if kind == "missing":
        return document.problem(loc[:-1], f"missing '{name}'")
    choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))  # a Literal's values
    hint = did_you_mean(str(value), choices) if choices else ""
    messages = {
        "string_type": f"expected text, got {got}",
        "string_too_short": f"'{name}' must not be empty",
        "string_too_long": f"'{name}' may have at most {ctx.get('max_length')} characters",
        "int_type": f"expected a whole number, got {got}",
        "float_type": f"expected a number, got {got}",
        "float_parsing": f"expected a number, got {value!r}",
        "int_parsing": f"expected a whole number, got {value!r}",
        "int_from_float": f"expected a whole number, got {value!r}",
        "bool_type": f"expected true or false, got {value!r}",
        "bool_parsing": f"expected true or false, got {value!r}",
        "dict_type": f"expected a mapping (key: value), got {got}",
        "model_type": f"expected a mapping (key: value), got {got}",
        "tuple_type": f"expected a list, got {got}",
        "list_type": f"expected a list, got {got}",
        "too_short": f"'{name}' needs at least one entry",
        "string_pattern_mismatch": f"expected a language code like de or en-gb, got {value!r}",
        "too_long": f"'{name}' takes at most {ctx.get('max_length')} entries",
        "greater_than_equal": f"'{name}' must be at least {ctx.get('ge')}, got {value!r}",
        "literal_error": f"'{name}' is one of {ctx.get('expected')}, got {value!r}{hint}",
        "less_than_equal": f"'{name}' must be at most {ctx.get('le')}, got {value!r}",
    }
    message = messages.get(kind, error["msg"])
    if kind in ("string_type", "int_type", "float_type") and isinstance(loc[-1], str):
        message = f"'{name}': {message}"
    return document.problem(loc, message)
