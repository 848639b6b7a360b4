"""Fake speech engines for fast tests; they run in the engine process like the real one."""

from __future__ import annotations

import os
import time
import wave
from pathlib import Path

import numpy as np

from psoas_audio.speech.engine import VoiceInfo

SECONDS_PER_CHARACTER = 0.05  # a fixed speaking speed, so golden plans are stable
ENGINE_RATE = 22_050  # like eSpeak, so every clip is resampled


class FakeEngine:
    """Speaks a 220 Hz tone as long as the text, padded with silence like eSpeak NG."""

    multicore = False

    @staticmethod
    def setting(wpm: float) -> float:
        return wpm

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo("fake/calm", "Calm", ("en",)), VoiceInfo("fake/brisk", "Brisk", ("en",))]

    def default_voice(self) -> str | None:
        return "fake/calm"

    def synthesize(self, text: str, voice_id: str | None, rate: float, path: Path) -> None:
        log = os.environ.get("FAKE_ENGINE_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(f"{voice_id}|{rate}|{text}|{os.getpid()}\n")
        seconds = len(text) * SECONDS_PER_CHARACTER * 150 / rate
        t = np.arange(int(seconds * ENGINE_RATE)) / ENGINE_RATE
        tone = 0.5 * np.sin(2 * np.pi * 220 * t)
        padded = np.concatenate([np.zeros(220), tone, np.zeros(int(0.25 * ENGINE_RATE))])
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(ENGINE_RATE)
            wav.writeframes((padded * 32767).astype("<i2").tobytes())
        time.sleep(float(os.environ.get("FAKE_ENGINE_DELAY", "0")))  # to be caught mid-phrase


class HangingEngine(FakeEngine):
    def synthesize(self, text: str, voice_id: str | None, rate: float, path: Path) -> None:
        time.sleep(600)


class CrashingEngine(FakeEngine):
    def synthesize(self, text: str, voice_id: str | None, rate: float, path: Path) -> None:
        os._exit(3)


class MissingEngine(FakeEngine):
    """Like pyttsx3 on a machine without eSpeak NG: fails as it starts."""

    def __init__(self) -> None:
        from psoas_audio.errors import EngineError

        raise EngineError("eSpeak NG is not available; install it with 'apt-get install espeak-ng'")
