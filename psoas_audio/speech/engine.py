"""The engine interface and registry; each engine lives in its own module and is loaded lazily."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import EngineError, did_you_mean


@dataclass(frozen=True)
class VoiceInfo:
    id: str
    name: str
    languages: tuple[str, ...] = ()
    gender: str | None = None


@dataclass(frozen=True)
class VoiceRequest:
    """What the routine (or the command line) asks for; name None means the engine's default."""

    engine: str = "pyttsx3"
    name: str | None = None
    rate: int = 150
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
    """A text-to-speech engine: lists its voices and writes one phrase to an audio file."""

    def voices(self) -> list[VoiceInfo]: ...

    def synthesize(self, text: str, voice_id: str | None, rate: int, path: Path) -> None: ...


# name -> "module:Class"; tests may add entries (the engine process imports by this path).
ENGINES: dict[str, str] = {
    "pyttsx3": "psoas_audio.speech.pyttsx3_engine:Pyttsx3Engine",
    "piper": "psoas_audio.speech.piper_engine:PiperEngine",  # pip install 'psoas-audio[neural]'
}
BUILT_IN = tuple(sorted(ENGINES))  # what routines may name, whatever a test adds


def engine_path(name: str) -> str:
    if name not in ENGINES:
        hint = did_you_mean(name, ENGINES)
        raise EngineError(
            f"unknown speech engine '{name}'{hint}; available: {', '.join(sorted(ENGINES))}"
        )
    return ENGINES[name]


def create_engine(path: str) -> Engine:
    module_name, _, class_name = path.partition(":")
    engine: Engine = getattr(importlib.import_module(module_name), class_name)()
    return engine


class UnknownVoice(EngineError):
    """The engine has no such voice (pyttsx3 would silently keep speaking with another)."""


def speaks(voice: VoiceInfo, language: str) -> bool:
    wanted = language.casefold()
    return any(lang.casefold() == wanted or lang.casefold().startswith(wanted + "-")
               for lang in voice.languages)  # fmt: skip


def resolve_language(language: str, voices: list[VoiceInfo], engine: str) -> str:
    """The id of the engine's first voice for a language code such as "de" or "en-gb"."""
    for voice in voices:
        if speaks(voice, language):
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
