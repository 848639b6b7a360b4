"""The {var} pass over raw routine data: check every name is in scope, fill in routine vars.

Runs before validation, on the plain data from the YAML, so its mistakes point at lines too.
Loop variables ({side}, {rep}, {reps}) stay as written until the timeline unrolls the blocks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .durations import (
    is_range,
    parse_duration,
    parse_range,
    said_seconds,
    said_step,
    spoken_length,
)
from .errors import Loc, Problem, UsageError, did_you_mean
from .steps import (
    ACTIONS,
    DURATION_FIELDS,
    NEEDS_AN_ACTION,
    VALUE_FIELDS,
    action_of,
    primary_actions,
)
from .yamlsource import SourceDocument, control_character

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_VARS = frozenset({"side", "rep"})  # {reps} may be a routine var, as in repeat: "{reps}"

Found = list[tuple[Loc, Problem]]


def fill(text: str, values: Mapping[str, object]) -> str:
    """Replace each {name} whose name is in values; leave the rest as written."""
    return PLACEHOLDER.sub(lambda m: str(values.get(m[1], m[0])), text)


@dataclass(frozen=True)
class Choice:
    """Where every duration range lands: low + fraction x (high - low), one fraction for all,
    so the time a fit adds is spread in proportion to each range's width.

    `spoken` is the fraction for lengths said in words ("rest for {rest}"), kept apart so a
    fit can settle the words first and then move the silences alone, which move smoothly.
    """

    fraction: float = 0.0
    spoken: float | None = None


@dataclass(frozen=True)
class RangeUse:
    """One range and the value chosen for it: a var by its name, else the step's path."""

    name: str
    low: float
    high: float
    value: float


@dataclass(frozen=True)
class Templated:
    data: object  # the routine's data with vars filled in
    found: Found  # the mistakes found on the way
    from_set: dict[Loc, str]  # durations and counts filled from --set or a profile: loc -> which
    ranges: tuple[RangeUse, ...] = ()
    applied: tuple[str, ...] = ()  # the profile's vars this routine uses
    said: tuple[str, ...] = ()  # the range vars said in words somewhere


def template(
    document: SourceDocument,
    overrides: Mapping[str, str],
    profile_vars: Mapping[str, object] | None = None,
    choice: Choice = Choice(),
) -> Templated:
    """The routine's data with vars filled in, the mistakes found, and what --set filled.

    A profile's vars replace the routine's own where it has them and are ignored where it
    does not; --set names must exist. Precedence: --set, then the profile, then the routine.
    """
    templater = _Templater(document, dict(overrides), dict(profile_vars or {}), choice)
    data = templater.run()
    ranges = tuple(templater.ranges.values())
    said = tuple(sorted(templater.said))
    return Templated(data, templater.found, templater.from_set, ranges, templater.applied, said)


class _Templater:
    def __init__(
        self,
        document: SourceDocument,
        overrides: dict[str, str],
        profile_vars: dict[str, object],
        choice: Choice,
    ) -> None:
        self.document, self.overrides, self.profile_vars = document, overrides, profile_vars
        self.choice = choice
        self.found: Found = []
        self.variables: dict[str, object] = {}
        self.from_set: dict[Loc, str] = {}
        self.duration_vars = _duration_vars(document.data)
        self.range_vars: dict[str, tuple[float, float]] = {}
        self.bad_ranges: set[str] = set()  # reported once, at the var
        self.ranges: dict[str, RangeUse] = {}
        self.applied: tuple[str, ...] = ()
        self.said: set[str] = set()

    def report(self, loc: Loc, message: str, *, key: bool = False) -> None:
        self.found.append((loc, self.document.problem(loc, message, key=key)))

    def run(self) -> object:
        data, overrides = self.document.data, self.overrides
        if not isinstance(data, dict):
            self.report((), "a routine is a mapping with a title and steps")
            return data
        raw_vars = data.get("vars", {})
        if isinstance(raw_vars, dict):
            for name, value in raw_vars.items():
                self._define(name, value)
        for name, value in overrides.items():
            bad = control_character(value)
            if bad is not None:
                raise UsageError(
                    f"{self.document.path}: --set {name}: {bad} in the value; remove it"
                )
            if name not in self.variables:
                hint = did_you_mean(name, self.variables)
                where = f"{self.document.path}: --set {name}"
                raise UsageError(f"{where}: the routine has no variable '{name}'{hint}")
        self.applied = tuple(
            name for name in self.profile_vars if name in self.variables and name not in overrides
        )
        self.variables.update({name: self.profile_vars[name] for name in self.applied})
        self.variables.update(overrides)
        for name, value in self.variables.items():
            if is_range(value):
                self._range_var(name, str(value))
        filled = {
            key: value if key == "vars" else self._tree(value, (key,), frozenset())
            for key, value in data.items()
        }
        if isinstance(raw_vars, dict):
            filled["vars"] = {k: v for k, v in self.variables.items() if k in raw_vars}
        return filled

    def _range_var(self, name: str, value: str) -> None:
        try:
            self.range_vars[name] = parse_range(value)
        except ValueError as exc:
            if name in self.overrides:
                raise UsageError(f"{self.document.path}: --set {name}: {exc}") from None
            self.report(("vars", name), str(exc))
            self.bad_ranges.add(name)

    def _chosen(self, name: str, bounds: tuple[float, float], loc: Loc) -> object:
        """The value a range takes under this choice, recorded for the plan to show."""
        if loc[-1] not in DURATION_FIELDS:
            self.report(loc, f"'{loc[-1]}' takes one value; a range fits only a duration")
            return bounds[0]
        low, high = bounds
        value = low + self.choice.fraction * (high - low)
        self.ranges.setdefault(name, RangeUse(name, low, high, value))
        return value

    def _said(self, name: str) -> str:
        """A range var inside a sentence: the chosen length in words, rounded as people say it."""
        low, high = self.range_vars[name]
        self.said.add(name)
        value = low + self.choice.fraction * (high - low)
        self.ranges.setdefault(name, RangeUse(name, low, high, value))  # said only: listed too
        spoken = self.choice.fraction if self.choice.spoken is None else self.choice.spoken
        return spoken_length(said_seconds(low + spoken * (high - low)))

    def _define(self, name: str, value: object) -> None:
        loc: Loc = ("vars", name)
        if not VAR_NAME.match(name):
            self.report(loc, f"'{name}' is not a valid variable name", key=True)
        elif name in RESERVED_VARS:
            self.report(
                loc, f"'{name}' is set by sides/repeat blocks; choose another name", key=True
            )
        elif isinstance(value, bool) or not isinstance(value, str | int | float):
            self.report(loc, f"a variable holds text or a number, got {value!r}")
        else:
            self.variables[name] = value

    def _tree(self, value: object, loc: Loc, loop_vars: frozenset[str]) -> object:
        if isinstance(value, str):
            return self._text(value, loc, loop_vars)
        if isinstance(value, list):
            return [self._tree(item, (*loc, i), loop_vars) for i, item in enumerate(value)]
        if not isinstance(value, dict):
            return value
        if len(loc) >= 2 and loc[-2] == "steps":
            self._check_step(value, loc, loop_vars)
        inner = loop_vars
        if "sides" in value:
            inner |= {"side"}
        if "repeat" in value:
            inner |= {"rep", "reps"}
        return {
            key: self._tree(item, (*loc, key), inner if key == "steps" else loop_vars)
            for key, item in value.items()
        }

    def _text(self, text: str, loc: Loc, loop_vars: frozenset[str]) -> object:
        is_value = bool(loc) and loc[-1] in VALUE_FIELDS
        for name in PLACEHOLDER.findall(text):
            if name in self.variables:
                continue
            if is_value and name in loop_vars:
                what = "a count" if loc[-1] == "repeat" else "a duration"
                self.report(loc, f"{what} can use the routine's vars but not {{{name}}}")
            elif is_value or name not in loop_vars:
                hint = did_you_mean(name, set(self.variables) | loop_vars, braces=True)
                self.report(loc, f"undefined variable {{{name}}}{_scope_hint(name)}{hint}")
        if is_value:  # routine vars, typed: repeat: "{reps}" -> 4, even inside another repeat
            for name in PLACEHOLDER.findall(text):
                if name in self.overrides:
                    self.from_set[loc] = f"--set {name}={self.overrides[name]}"
                elif name in self.applied:
                    self.from_set[loc] = f"the profile's {name}: {self.profile_vars[name]}"
            whole = PLACEHOLDER.fullmatch(text)
            if whole and whole[1] in self.bad_ranges:
                return 1.0  # a stand-in: the routine is already wrong, at the var
            if whole and whole[1] in self.range_vars:
                return self._chosen(whole[1], self.range_vars[whole[1]], loc)
            if whole and whole[1] in self.variables:
                return self.variables[whole[1]]
            filled = fill(text, self.variables)
            if is_range(filled):
                try:
                    bounds = parse_range(filled)
                except ValueError as exc:
                    self.report(loc, str(exc))
                    return filled
                return self._chosen(_label(loc), bounds, loc)
            return filled
        # In text a block's own {rep}/{reps}/{side} win over a routine var of the same name.
        visible = {
            k: self._said(k) if k in self.range_vars else _as_words(v, k in self.duration_vars)
            for k, v in self.variables.items()
            if k not in loop_vars
        }
        return fill(text, visible)

    def _check_step(self, step: dict[str, Any], loc: Loc, loop_vars: frozenset[str]) -> None:
        kind = action_of(step)
        if "then" in step and kind not in ("say", "hold", "rest"):
            self.report(
                (*loc, "then"),
                "'then' is the short form of a line: only a say, hold or rest step has one",
            )
        elif "then" in step and "say" not in step:
            self.report((*loc, "then"), "'then' is the short form of the step's 'say': add one")
        elif "then" in step and "rep" not in loop_vars:
            self.report(
                (*loc, "then"),
                "'then' is said from a repeat's second time round: this step is in no repeat",
            )
        primary = primary_actions(step)
        if len(primary) > 1:
            self.report(loc, f"a step takes one action, this one has {' and '.join(primary)}")
        elif not primary and "say" not in step:
            for key in step:
                hint = did_you_mean(key, ACTIONS)
                if hint:
                    self.report((*loc, key), f"unknown key '{key}'{hint}", key=True)
                    return
            self.report(loc, NEEDS_AN_ACTION)


def words_agree(ranges: tuple[RangeUse, ...], said: tuple[str, ...], choice: Choice) -> bool:
    """Whether each range said in words is said as its chosen value, within the rounding
    a voice uses for it (one step: said "7 minutes 30 seconds" for 7:17 is fine, for 6:40 not)."""
    spoken = choice.fraction if choice.spoken is None else choice.spoken
    for use in ranges:
        if use.name in said:
            width = use.high - use.low
            value, words = use.low + choice.fraction * width, use.low + spoken * width
            if abs(said_seconds(words) - value) > said_step(value):
                return False
    return True


def _label(loc: Loc) -> str:
    """("steps", 2, "rest") -> "steps[2].rest", how the plan names a range written in place."""
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1] += f"[{part}]"
        else:
            parts.append(part)
    return ".".join(parts)


def _scope_hint(name: str) -> str:
    if name == "side":
        return " (only inside a sides block's steps)"
    return " (only inside a repeat block's steps)" if name in ("rep", "reps") else ""


def _as_words(value: object, is_duration: bool) -> str:
    """A duration inside a sentence is said in words: "hold for {hold}" -> "hold for 20 seconds".

    A var is a duration when it is written as one ("20s") or is used as one anywhere in the
    routine (hold: "{hold}" makes a bare 90 mean 90 seconds in "Hold for {hold}." too).
    """
    written_as_duration = (
        isinstance(value, str) and re.fullmatch(r"[\d.hms ]+", value) and re.search("[hms]", value)
    )
    if written_as_duration or (is_duration and isinstance(value, str | int | float)):
        try:
            return spoken_length(parse_duration(value))
        except ValueError:
            return str(value)
    return str(value)


def _duration_vars(data: object, key: object = None) -> set[str]:
    """The vars used, whole or in part, where a duration goes."""
    if isinstance(data, dict):
        return set().union(*(_duration_vars(value, name) for name, value in data.items()))
    if isinstance(data, list):
        return set().union(*(_duration_vars(item, key) for item in data))
    if isinstance(data, str) and key in DURATION_FIELDS:
        return set(PLACEHOLDER.findall(data))
    return set()
