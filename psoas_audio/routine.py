"""The routine format: pydantic models, {var} templating, and validation with source positions."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from .durations import parse_duration, spoken_length
from .errors import Problem, RoutineError, UsageError
from .yamlsource import Path_, SourceDocument, load_document

MAX_REPEAT = 100
LOOP_VARS = frozenset({"side", "rep", "reps"})
RESERVED_VARS = frozenset({"side", "rep"})  # {reps} may be a routine var, as in repeat: "{reps}"
PRIMARY_ACTIONS = ("pause", "hold", "rest", "section", "sides", "repeat")
ACTIONS = ("say", *PRIMARY_ACTIONS)
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _duration(value: object) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", str(exc)) from None


def _count(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError("count", f"expected a whole number of times, got {value!r}")
    if not 1 <= value <= MAX_REPEAT:
        raise PydanticCustomError("count", f"a count must be 1 to {MAX_REPEAT}, got {value}")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Seconds = Annotated[float, BeforeValidator(_duration)]
Count = Annotated[int, BeforeValidator(_count)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _engine(name: object) -> object:
    from .speech.engine import ENGINES

    if isinstance(name, str) and name not in ENGINES:
        hint = _did_you_mean(name, ENGINES)
        raise PydanticCustomError(
            "engine", f"unknown speech engine '{name}'{hint}; available: {', '.join(ENGINES)}"
        )
    return name


class Voice(_Model):
    """Who speaks and how fast; every part can be overridden from the command line."""

    engine: Annotated[str, BeforeValidator(_engine)] = "pyttsx3"
    name: str | None = None
    rate: Annotated[int, Field(ge=80, le=450)] = 150


class Say(_Model):
    say: Text


class Pause(_Model):
    pause: Seconds


class Hold(_Model):
    hold: Seconds
    say: Text | None = None


class Rest(_Model):
    rest: Seconds
    say: Text | None = None


class Section(_Model):
    section: Text
    steps: Steps


class Sides(_Model):
    sides: Annotated[tuple[Text, ...], Field(min_length=1, max_length=8)]
    steps: Steps


class Repeat(_Model):
    repeat: Count
    steps: Steps


def action_of(step: object) -> str | None:
    """The action key that decides a step's kind, or None when it has none or several."""
    if isinstance(step, BaseModel):
        step = step.model_dump()
    if not isinstance(step, Mapping):
        return None
    primary = [key for key in PRIMARY_ACTIONS if key in step]
    if len(primary) == 1:
        return primary[0]
    return "say" if not primary and "say" in step else None


STEP_MODELS: dict[str, type[_Model]] = {
    "say": Say, "pause": Pause, "hold": Hold, "rest": Rest,
    "section": Section, "sides": Sides, "repeat": Repeat,
}  # fmt: skip

Step = Annotated[
    Annotated[Say, Tag("say")]
    | Annotated[Pause, Tag("pause")]
    | Annotated[Hold, Tag("hold")]
    | Annotated[Rest, Tag("rest")]
    | Annotated[Section, Tag("section")]
    | Annotated[Sides, Tag("sides")]
    | Annotated[Repeat, Tag("repeat")],
    Discriminator(action_of),
]
Steps = Annotated[tuple[Step, ...], Field(min_length=1)]


class Routine(_Model):
    """A validated routine with its {vars} already filled in (loop variables stay as {side})."""

    title: Text
    author: Text | None = None
    description: Text | None = None
    voice: Voice = Voice()
    vars: dict[str, str | int | float] = {}
    chime: bool = True
    steps: Steps


for _model in (Section, Sides, Repeat, Routine):
    _model.model_rebuild()


@dataclass(frozen=True)
class RoutineFile:
    """A routine with the document it came from, so later stages can still point at lines."""

    path: Path
    routine: Routine
    document: SourceDocument


def load_routine(path: Path, overrides: Mapping[str, str] | None = None) -> RoutineFile:
    """Parse, template and validate a routine file; raise RoutineError listing every mistake."""
    document = load_document(path)
    data, problems = _template(document, dict(overrides or {}))
    try:
        routine = Routine.model_validate(data)
    except ValidationError as exc:
        reported = [p for p, _ in problems]
        errors = [(error, _data_loc(error["loc"])) for error in exc.errors()]
        misspelt = {  # a key reported as a typo of "title" need not also be "missing title"
            (*loc[:-1], match)
            for error, loc in errors
            if error["type"] == "extra_forbidden"
            for match in [_closest(str(loc[-1]), _fields_at(data, loc[:-1]))]
            if match
        }
        for error, loc in errors:
            if error["type"] == "too_short" and error["input"]:
                continue  # pydantic's echo of a failed item, not an empty list
            if error["type"] == "missing" and loc in misspelt:
                continue
            if not any(_overlaps(loc, r, error["type"]) for r in reported):
                problems.append((loc, _translate(error, loc, data, document)))
        raise RoutineError([problem for _, problem in problems]) from None
    if problems:
        raise RoutineError([problem for _, problem in problems])
    return RoutineFile(path=path, routine=routine, document=document)


def _overlaps(loc: Path_, reported: Path_, kind: str) -> bool:
    """Whether a pydantic error repeats a mistake the templating pass already reported."""
    return loc[: len(reported)] == reported or (
        kind.startswith("union_tag") and reported[: len(loc)] == loc
    )


def fill(text: str, values: Mapping[str, object]) -> str:
    """Replace each {name} whose name is in values; leave the rest as written."""
    return PLACEHOLDER.sub(lambda m: str(values.get(m[1], m[0])), text)


# -- templating ---------------------------------------------------------------------------------

Found = list[tuple[Path_, Problem]]


def _template(document: SourceDocument, overrides: dict[str, str]) -> tuple[object, Found]:
    """Check every {name} is in scope and substitute routine vars; collect shape mistakes."""
    data = document.data
    problems: Found = []
    if not isinstance(data, dict):
        problems.append(((), document.problem((), "a routine is a mapping with a title and steps")))
        return data, problems
    raw_vars = data.get("vars", {})
    variables: dict[str, object] = {}
    if isinstance(raw_vars, dict):
        for name, value in raw_vars.items():
            loc: Path_ = ("vars", name)
            if not VAR_NAME.match(name):
                problems.append(
                    (loc, document.problem(loc, f"'{name}' is not a valid variable name", key=True))
                )
            elif name in RESERVED_VARS:
                problems.append(
                    (
                        loc,
                        document.problem(
                            loc,
                            f"'{name}' is set by sides/repeat blocks; choose another name",
                            key=True,
                        ),
                    )
                )
            elif isinstance(value, bool) or not isinstance(value, str | int | float):
                problems.append(
                    (
                        loc,
                        document.problem(loc, f"a variable holds text or a number, got {value!r}"),
                    )
                )
            else:
                variables[name] = value
    for name in overrides:
        if name not in variables:
            hint = _did_you_mean(name, variables)
            raise UsageError(
                f"{document.path}: --set {name}: the routine has no variable '{name}'{hint}"
            )
    variables.update(overrides)
    filled = {
        key: value
        if key == "vars"
        else _fill_tree(value, (key,), variables, frozenset(), document, problems)
        for key, value in data.items()
    }
    if isinstance(data.get("vars"), dict):
        filled["vars"] = {k: v for k, v in variables.items() if k in data["vars"] or k in overrides}
    return filled, problems


def _fill_tree(
    value: object,
    loc: Path_,
    variables: dict[str, object],
    loop_vars: frozenset[str],
    document: SourceDocument,
    problems: Found,
) -> object:
    if isinstance(value, str):
        return _fill_text(value, loc, variables, loop_vars, document, problems)
    if isinstance(value, list):
        return [
            _fill_tree(item, (*loc, i), variables, loop_vars, document, problems)
            for i, item in enumerate(value)
        ]
    if not isinstance(value, dict):
        return value
    if loc[-2:-1] == ("steps",) or loc == ("steps",):
        _check_step(value, loc, document, problems)
    inner = (
        loop_vars
        | ({"side"} if "sides" in value else set())
        | ({"rep", "reps"} if "repeat" in value else set())
    )
    return {
        key: _fill_tree(
            item, (*loc, key), variables, inner if key == "steps" else loop_vars, document, problems
        )
        for key, item in value.items()
    }


def _fill_text(
    text: str,
    loc: Path_,
    variables: dict[str, object],
    loop_vars: frozenset[str],
    document: SourceDocument,
    problems: Found,
) -> object:
    for name in PLACEHOLDER.findall(text):
        if name not in variables and name not in loop_vars:
            known = set(variables) | loop_vars
            where = (
                " (only inside a sides block's steps)"
                if name == "side"
                else (" (only inside a repeat block's steps)" if name in ("rep", "reps") else "")
            )
            message = (
                f"undefined variable {{{name}}}{where}{_did_you_mean(name, known, braces=True)}"
            )
            problems.append((loc, document.problem(loc, message)))
    in_scope = {name: value for name, value in variables.items() if name not in loop_vars}
    whole = PLACEHOLDER.fullmatch(text)
    if whole and whole[1] in in_scope:
        return in_scope[whole[1]]  # keep the type: repeat: "{reps}" -> 4
    return fill(text, {name: _as_words(value) for name, value in in_scope.items()})


def _as_words(value: object) -> object:
    """A duration inside a sentence is said in words: "hold for {hold}" -> "hold for 20 seconds"."""
    if isinstance(value, str) and re.fullmatch(r"[\d.hms ]+", value) and re.search("[hms]", value):
        try:
            return spoken_length(parse_duration(value))
        except ValueError:
            return value
    return value


def _check_step(
    step: dict[str, Any], loc: Path_, document: SourceDocument, problems: Found
) -> None:
    primary = [key for key in PRIMARY_ACTIONS if key in step]
    if len(primary) > 1:
        problems.append(
            (
                loc,
                document.problem(
                    loc, f"a step takes one action, this one has {' and '.join(primary)}"
                ),
            )
        )
    elif not primary and "say" not in step:
        for key in step:
            hint = _did_you_mean(key, ACTIONS)
            if hint:
                problems.append(
                    (
                        (*loc, key),
                        document.problem((*loc, key), f"unknown key '{key}'{hint}", key=True),
                    )
                )
                return
        problems.append(
            (
                loc,
                document.problem(
                    loc, "a step needs an action: say, pause, hold, rest, section, sides or repeat"
                ),
            )
        )


def _closest(name: str, choices: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _did_you_mean(name: str, choices: Iterable[str], *, braces: bool = False) -> str:
    match = _closest(name, choices)
    if match is None:
        return ""
    return f" (did you mean {{{match}}}?)" if braces else f" (did you mean '{match}'?)"


# -- pydantic errors -> messages ----------------------------------------------------------------


def _data_loc(loc: tuple[int | str, ...]) -> Path_:
    """Drop the union tags pydantic puts after a step's index (steps, 2, 'hold', ...)."""
    cleaned: list[int | str] = []
    for i, part in enumerate(loc):
        is_tag = (
            i >= 2 and isinstance(loc[i - 1], int) and loc[i - 2] == "steps" and part in STEP_MODELS
        )
        if not is_tag:
            cleaned.append(part)
    return tuple(cleaned)


def _node(data: object, loc: Path_) -> object:
    for part in loc:
        if not isinstance(data, dict | list):
            return None
        try:
            data = data[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _fields_at(data: object, parent: Path_) -> list[str]:
    if parent == ():
        return list(Routine.model_fields)
    if parent == ("voice",):
        return list(Voice.model_fields)
    action = action_of(_node(data, parent))
    return list(STEP_MODELS[action].model_fields) if action else list(ACTIONS)


_TYPE_NAMES = {str: "text", int: "a number", float: "a number", bool: "true or false",
               list: "a list", dict: "a mapping", type(None): "nothing"}  # fmt: skip


def _translate(error: Any, loc: Path_, data: object, document: SourceDocument) -> Problem:
    kind, value = error["type"], error.get("input")
    got = _TYPE_NAMES.get(type(value), type(value).__name__)
    name = str(loc[-1]) if loc else "routine"
    ctx = error.get("ctx") or {}
    if kind.startswith("union_tag"):
        example = f": to speak it, write `- say: {value}`" if isinstance(value, str) else ""
        return document.problem(
            loc, f"a step needs an action (say, pause, hold, rest, section, sides, repeat){example}"
        )
    if kind == "extra_forbidden" and name in ACTIONS and len(loc) >= 2:
        action = action_of(_node(data, loc[:-1]))
        return document.problem(
            loc,
            f"'{name}' cannot share a step with '{action}'; give it a step of its own",
            key=True,
        )
    if kind == "extra_forbidden":
        hint = _did_you_mean(name, _fields_at(data, loc[:-1]))
        return document.problem(loc, f"unknown key '{name}'{hint}", key=True)
    if kind == "missing":
        return document.problem(loc[:-1], f"missing '{name}'")
    messages = {
        "string_type": f"expected text, got {got}",
        "string_too_short": f"'{name}' must not be empty",
        "int_type": f"expected a whole number, got {got}",
        "int_parsing": f"expected a whole number, got {value!r}",
        "int_from_float": f"expected a whole number, got {value!r}",
        "bool_type": f"expected true or false, got {value!r}",
        "bool_parsing": f"expected true or false, got {value!r}",
        "dict_type": f"expected a mapping (key: value), got {got}",
        "model_type": f"expected a mapping (key: value), got {got}",
        "tuple_type": f"expected a list, got {got}",
        "list_type": f"expected a list, got {got}",
        "too_short": f"'{name}' needs at least one entry",
        "too_long": f"'{name}' takes at most {ctx.get('max_length')} entries",
        "greater_than_equal": f"'{name}' must be at least {ctx.get('ge')}, got {value!r}",
        "less_than_equal": f"'{name}' must be at most {ctx.get('le')}, got {value!r}",
    }
    message = messages.get(kind, error["msg"])
    if kind in ("string_type", "int_type", "float_type") and isinstance(loc[-1], str):
        message = f"'{name}': {message}"
    return document.problem(loc, message)
