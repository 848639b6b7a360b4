"""Cues spoken inside a hold or rest: a countdown, a halfway mark, gentle reminders.

They sit inside the silence and never lengthen it. Pure: seconds and texts in, placements out.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class CueWords:
    """What the cues say: the halfway mark, and the numbers of a countdown from one up."""

    halfway: str | None
    numbers: tuple[str, ...]


# The cue words in the languages eSpeak NG speaks best; a routine in another language (or one
# that wants other words) sets its own with `cue_words:`. Keyed by the language's first part.
CUE_WORDS = {
    "en": CueWords("Halfway.", ("one", "two", "three", "four", "five", "six", "seven",
                                "eight", "nine", "ten")),
    "de": CueWords("Halbzeit.", ("eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben",
                                 "acht", "neun", "zehn")),
    "fr": CueWords("À mi-chemin.", ("un", "deux", "trois", "quatre", "cinq", "six", "sept",
                                    "huit", "neuf", "dix")),
    "es": CueWords("A la mitad.", ("uno", "dos", "tres", "cuatro", "cinco", "seis", "siete",
                                   "ocho", "nueve", "diez")),
    "it": CueWords("A metà.", ("uno", "due", "tre", "quattro", "cinque", "sei", "sette",
                               "otto", "nove", "dieci")),
    "nl": CueWords("Halverwege.", ("een", "twee", "drie", "vier", "vijf", "zes", "zeven",
                                   "acht", "negen", "tien")),
    "pt": CueWords("Na metade.", ("um", "dois", "três", "quatro", "cinco", "seis", "sete",
                                  "oito", "nove", "dez")),
    "sv": CueWords("Halvvägs.", ("ett", "två", "tre", "fyra", "fem", "sex", "sju", "åtta",
                                 "nio", "tio")),
    "da": CueWords("Halvvejs.", ("en", "to", "tre", "fire", "fem", "seks", "syv", "otte",
                                 "ni", "ti")),
    "nb": CueWords("Halvveis.", ("en", "to", "tre", "fire", "fem", "seks", "sju", "åtte",
                                 "ni", "ti")),
    "pl": CueWords("Połowa.", ("jeden", "dwa", "trzy", "cztery", "pięć", "sześć", "siedem",
                                "osiem", "dziewięć", "dziesięć")),
    "fi": CueWords("Puolivälissä.", ("yksi", "kaksi", "kolme", "neljä", "viisi", "kuusi",
                                     "seitsemän", "kahdeksan", "yhdeksän", "kymmenen")),
}  # fmt: skip
CUE_WORDS["no"] = CUE_WORDS["nb"]
ENGLISH = CUE_WORDS["en"]


def built_in_cue_words(language: str | None) -> CueWords | None:
    """The cue words for a language code such as en-gb or de (None: English), if we have them."""
    if language is None:
        return ENGLISH
    return CUE_WORDS.get(language.casefold().split("-")[0])


REMINDERS_STOP = 10.0  # seconds before a hold or rest ends: the last stretch stays quiet
MAX_REMINDERS = 5_000  # in one hold or rest: every 1.5 s for 2 h; beyond it is a mistake
CueRole = Literal["countdown", "halfway", "remind"]
CUE_GAIN_DB: dict[CueRole, float] = {"countdown": -3.0, "halfway": -6.0, "remind": -3.0}


@dataclass(frozen=True)
class InnerCue:
    at: float  # seconds after the silence starts
    text: str
    role: CueRole
    until: float  # the spoken cue must be over by then: the next cue, or its quiet end


def inner_cues(
    seconds: float,
    countdown: int | None = None,
    halfway: bool = False,
    every: float | None = None,
    reminders: tuple[str, ...] = (),
    words: CueWords = ENGLISH,
) -> list[InnerCue]:
    """Where each cue starts in a silence of `seconds`, sorted; see cue_problems() for misfits.

    The routine's checks make sure `words` has a word for every number counted and for halfway.
    """
    timed: list[tuple[float, str, CueRole]] = []
    if countdown:
        timed += [(seconds - k, words.numbers[k - 1], "countdown") for k in range(countdown, 0, -1)]
    if halfway and words.halfway:
        timed.append((seconds / 2, words.halfway, "halfway"))
    if every and reminders:
        stop = seconds - REMINDERS_STOP
        # Strictly before the quiet end, counted in whole milliseconds: 13.3 - 10 is not 3.3.
        count = (round(stop * 1000) - 1) // round(every * 1000)
        timed += [(k * every, reminders[(k - 1) % len(reminders)], "remind")
                  for k in range(1, count + 1)]  # fmt: skip
    timed.sort()
    cues = []
    for index, (at, text, role) in enumerate(timed):
        end = timed[index + 1][0] if index + 1 < len(timed) else seconds
        if role == "remind":
            end = min(end, seconds - REMINDERS_STOP)
        cues.append(InnerCue(at, text, role, end))
    return cues


def cue_problems(
    seconds: float,
    countdown: int | None = None,
    halfway: bool = False,
    every: float | None = None,
) -> list[tuple[str, str]]:
    """(field, message) for cues that cannot fit, whatever the voice: checked before speaking."""
    problems = []
    length = f"{_ms(seconds)}s"
    if countdown and countdown >= seconds:
        problems.append(("countdown", f"a countdown from {countdown} does not fit in {length}"))
    elif countdown and halfway and seconds / 2 >= seconds - countdown:
        problems.append(("halfway", f"halfway ({_ms(seconds / 2)}s) falls inside the countdown"))
    if every is not None and (seconds - REMINDERS_STOP) / every > MAX_REMINDERS:
        return [("remind", f"reminders every {_ms(every)}s in {length} would be "
                           f"{int((seconds - REMINDERS_STOP) / every):,}; at most "
                           f"{MAX_REMINDERS:,} fit one hold or rest")]  # fmt: skip
    if every is not None and every >= seconds - REMINDERS_STOP:
        problems.append(
            ("remind", f"no reminder fits: every {_ms(every)}s in {length}, and reminders stop "
                       f"{REMINDERS_STOP:g}s before the end")
        )  # fmt: skip
    if not problems:
        placed = inner_cues(seconds, countdown, halfway, every, ("x",))
        for before, after in itertools.pairwise(placed):
            if after.at - before.at < 1.0:
                field = "remind" if "remind" in (before.role, after.role) else after.role
                problems.append(
                    (field, f"the {before.role} and {after.role} cues fall together "
                            f"at {_ms(before.at)}s; move one")
                )  # fmt: skip
                break
    return problems


def _ms(seconds: float) -> str:
    """Seconds for a message, to the millisecond: a fitted 49.9998 s hold is 50 s."""
    return f"{round(seconds, 3):g}"
