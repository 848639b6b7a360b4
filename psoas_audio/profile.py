"""A person's own settings, kept in one file and applied over any routine (--profile).

Precedence: command-line flags, then the profile, then the routine. A profile's vars apply
where a routine has a var of that name and are ignored elsewhere, so one profile serves every
routine; the plan lists which applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError
from pydantic_core import PydanticCustomError

from .ambience import Ambience
from .durations import is_range, parse_range
from .errors import Loc, RoutineError
from .routine import EngineName, Length, Model, Rate, translate_error
from .template import VAR_NAME
from .yamlsource import SourceDocument, load_document

QUIETEST_LUFS, LOUDEST_LUFS = -30.0, -14.0  # what --loudness takes, too


def _var_value(value: str | int | float) -> str | int | float:
    """A range must be one a routine could use; anything else is checked where it is used."""
    if is_range(value):
        try:
            parse_range(str(value))
        except ValueError as exc:
            raise PydanticCustomError("range", str(exc)) from None
    return value


def _var_names(values: dict[str, str | int | float]) -> dict[str, str | int | float]:
    for name in values:
        if not VAR_NAME.match(name):
            raise PydanticCustomError("var", f"'{name}' is not a valid variable name")
    return values


def _not_a_flag(value: object) -> object:
    """YAML reads yes/no/true as booleans, which would pass as 1 and 0."""
    if isinstance(value, bool):
        raise PydanticCustomError("var", f"a variable holds text or a number, got {value!r}")
    return value


VarValue = Annotated[str | int | float, BeforeValidator(_not_a_flag), AfterValidator(_var_value)]


class ProfileVoice(Model):
    engine: EngineName | None = None
    name: str | None = None
    rate: Rate | None = None


class Profile(Model):
    """One person's settings; every field is optional."""

    vars: Annotated[
        dict[str, VarValue],
        AfterValidator(_var_names),
        Field(description="Values for the routine vars of these names, where a routine has them."),
    ] = Field(default_factory=dict)
    voice: ProfileVoice = ProfileVoice()
    length: Length | None = None
    loudness: Annotated[float, Field(ge=QUIETEST_LUFS, le=LOUDEST_LUFS)] | None = None
    ambience: Ambience | None = None


@dataclass(frozen=True)
class ProfileFile:
    path: Path
    profile: Profile
    document: SourceDocument

    def length_label(self) -> str:
        """The profile's length and where it is set, for messages: "length 15m (me.yaml:3:9)"."""
        position = self.document.position(("length",))
        written = _written(self.document.data, "length")
        return f"length {written} ({self.path}:{position.line}:{position.column})"


def load_profile(path: Path) -> ProfileFile:
    """Parse and validate a profile; RoutineError lists every mistake as FILE:LINE:COL."""
    document = load_document(path, empty="the file is empty; a profile sets vars, voice, length "
                                          "or loudness")  # fmt: skip
    data = document.data
    if not isinstance(data, dict):
        raise RoutineError([document.problem((), "a profile is a mapping of vars, voice, "
                                                 "length and loudness")])  # fmt: skip
    if "steps" in data or "title" in data:
        message = "this is a routine (it has a title or steps); a profile holds vars, voice, "
        raise RoutineError([document.problem((), message + "length and loudness")])
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        problems = [
            translate_error(error, tuple(error["loc"]), data, document, _fields_at)
            for error in exc.errors()
        ]
        raise RoutineError(problems) from None
    return ProfileFile(path, profile, document)


def _fields_at(data: object, parent: Loc) -> list[str]:
    return list(ProfileVoice.model_fields if parent == ("voice",) else Profile.model_fields)


def _written(data: object, key: str) -> str:
    value = data.get(key) if isinstance(data, dict) else None
    return str(value)
