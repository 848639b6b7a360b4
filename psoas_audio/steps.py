"""The step vocabulary, in one place: the actions a step may take, which of them decide its
kind, and which fields hold durations and counts rather than text.

Both the {var} pass over the raw YAML (template.py) and the model (routine.py) read it: the
first runs before there is a model, so the words live here and not in either.
"""

from __future__ import annotations

from collections.abc import Mapping

ACTIONS = ("say", "pause", "hold", "rest", "chime", "section", "sides", "repeat")
PRIMARY_ACTIONS = ACTIONS[1:]  # each decides a step's kind; `say` may ride along with a hold
NEEDS_AN_ACTION = f"a step needs an action: {', '.join(ACTIONS[:-1])} or {ACTIONS[-1]}"

# Durations and counts, not text: filled with typed routine vars only.
VALUE_FIELDS = frozenset({"pause", "hold", "rest", "repeat", "every", "countdown", "breath",
                          "length"})  # fmt: skip
DURATION_FIELDS = frozenset({"pause", "hold", "rest", "every", "breath"})


def primary_actions(step: Mapping[str, object]) -> list[str]:
    """The kind-deciding actions a step has: one for a good step, none for a bare `say`."""
    return [key for key in PRIMARY_ACTIONS if key in step]


def action_of(step: Mapping[str, object]) -> str | None:
    """The action that decides a step's kind, or None when it has none or several."""
    primary = primary_actions(step)
    if len(primary) == 1:
        return primary[0]
    return "say" if not primary and "say" in step else None
