"""pyttsx3: eSpeak NG on Linux, SAPI5 on Windows, NSSpeechSynthesizer on macOS."""

from __future__ import annotations

import ctypes
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import EngineError
from .engine import VoiceInfo
from .pace import setting_for

FINISH_TIMEOUT = 30.0
_WORD_GAP = 7  # espeakWORDGAP: a pause between words, in 10 ms units (pyttsx3 has no name for it)
ESPEAK_SLOWEST_RATE = 80  # eSpeak NG speaks no slower than this; slower is done with word gaps
# eSpeak NG's articulation: (setting, words per minute) of every clause of the shipped routines,
# trimmed as a build trims it (scripts/calibrate.py pyttsx3; eSpeak NG 1.51, 2026-12-02). A
# setting of 80 and up is eSpeak's own rate, which counts pauses of its own: rate 150 speaks
# 201 wpm within a clause. Below 80 the rate stays 80 and each 4 under adds 10 ms between words.
CALIBRATION = (
    (40, 74.3), (48, 79.0), (56, 84.4), (64, 90.5), (72, 97.3), (80, 114.5),
    (90, 121.9), (100, 135.2), (110, 148.5), (120, 161.7), (130, 175.6), (140, 189.1),
    (150, 201.2), (160, 214.6), (180, 241.3), (200, 267.0), (230, 306.1), (260, 343.7),
    (300, 399.3), (340, 458.3),
)  # fmt: skip
_INSTALL_HINT = "on Debian/Ubuntu install eSpeak NG with 'sudo apt-get install espeak-ng'"


class Pyttsx3Engine:
    multicore = False  # eSpeak NG speaks on one core: the flagship's clauses, 2.1 s, 1.4 s on two

    def __init__(self) -> None:
        try:
            import pyttsx3
        except ImportError as exc:  # pragma: no cover - a broken install
            raise EngineError(f"pyttsx3 is not installed: {exc}") from None
        if sys.platform not in ("win32", "darwin"):
            _start_espeak_synchronously()
        try:
            self._engine: Any = pyttsx3.init()
        except (OSError, RuntimeError) as exc:
            message = f"pyttsx3 could not start a speech driver ({exc}); {_INSTALL_HINT}"
            raise EngineError(message) from None
        self._finished = threading.Event()
        self._engine.connect("finished-utterance", lambda **_: self._finished.set())
        _patch_espeak_driver(self._engine.proxy._driver)

    def voices(self) -> list[VoiceInfo]:
        return [
            VoiceInfo(
                id=str(voice.id),
                name=str(voice.name),
                languages=tuple(_text(lang) for lang in (voice.languages or ())),
                gender=voice.gender,
            )
            for voice in self._engine.getProperty("voices")
        ]

    def default_voice(self) -> str | None:
        found = self._engine.getProperty("voice")
        return None if found is None else str(found)

    @staticmethod
    def setting(wpm: float) -> float:
        """The driver's rate for an articulation of `wpm`: calibrated for eSpeak NG, which this
        project measures; SAPI5 and NSSpeech are given words per minute as they are."""
        if sys.platform in ("win32", "darwin"):
            return float(round(wpm))
        setting = setting_for(wpm, CALIBRATION)
        if setting >= ESPEAK_SLOWEST_RATE:
            return float(round(setting))
        return ESPEAK_SLOWEST_RATE - 4.0 * round((ESPEAK_SLOWEST_RATE - setting) / 4)

    def synthesize(self, text: str, voice_id: str | None, rate: float, path: Path) -> None:
        self.synthesize_setting(text, voice_id, self.setting(rate), path)

    def synthesize_setting(
        self, text: str, voice_id: str | None, setting: float, path: Path
    ) -> None:
        """Speak at the driver's own rate setting (below 80 on eSpeak: with word gaps)."""
        if voice_id is not None:
            self._engine.setProperty("voice", voice_id)
        rate, gap = espeak_parameters(setting)
        self._engine.setProperty("rate", rate)
        if hasattr(self._engine.proxy._driver, "_data_buffer"):  # eSpeak, patched below
            from pyttsx3.drivers import _espeak

            _espeak.SetParameter(_WORD_GAP, gap, 0)
        self._finished.clear()
        # One phrase per runAndWait(): queue two saves and only the last file is written.
        self._engine.save_to_file(text, str(path))
        self._engine.runAndWait()
        if not self._finished.wait(FINISH_TIMEOUT):
            raise EngineError(f"pyttsx3 did not finish speaking {text!r}")
        if not path.exists() or path.stat().st_size <= 44:
            raise EngineError(f"pyttsx3 wrote no audio for {text!r}")


def espeak_parameters(setting: float) -> tuple[int, int]:
    """(rate, word gap in 10 ms units) for a calibration setting; see CALIBRATION."""
    if setting >= ESPEAK_SLOWEST_RATE:
        return round(setting), 0
    return ESPEAK_SLOWEST_RATE, round((ESPEAK_SLOWEST_RATE - setting) / 4)


def _start_espeak_synchronously() -> None:
    """Initialize eSpeak in synchronous mode before pyttsx3 does it in retrieval mode.

    In retrieval mode eSpeak speaks on its own thread, and pyttsx3 2.99 cancels "whatever is
    playing" at the start of each runAndWait(); that emptied about one phrase in ten here
    (eSpeak NG 1.51). In synchronous mode a phrase is complete when Synth() returns.
    """
    try:
        from pyttsx3.drivers import _espeak
        from pyttsx3.drivers.espeak import EspeakDriver
    except (OSError, ImportError, RuntimeError) as exc:
        raise EngineError(f"eSpeak NG is not available ({exc}); {_INSTALL_HINT}") from None
    if EspeakDriver._moduleInitialized:
        return
    if _espeak.Initialize(_espeak.AUDIO_OUTPUT_SYNCHRONOUS, 1000) == -1:
        raise EngineError(f"eSpeak NG could not start; {_INSTALL_HINT}")
    voice = _espeak.GetCurrentVoice()
    name = voice.contents.name if voice and voice.contents.name else b"gmw/en"
    EspeakDriver._defaultVoice = name.decode("utf-8")
    EspeakDriver._moduleInitialized = True


def _patch_espeak_driver(driver: Any) -> None:
    """Make pyttsx3 2.99's eSpeak driver finish each phrase in synchronous mode, completely.

    Its callback writes the WAV on the end-of-message event and only then appends that
    callback's samples (we append first), and synchronous mode sends no end-of-message event
    at all (we deliver one when Synth() returns, so the driver saves and ends its loop).
    """
    original = getattr(driver, "_onSynth", None)
    start = getattr(driver, "_start_synthesis", None)
    if original is None or start is None or not hasattr(driver, "_data_buffer"):
        return  # another driver (SAPI5, NSSpeech): nothing to mend
    from pyttsx3.drivers import _espeak

    def on_synth(wav: Any, numsamples: int, events: Any) -> int:
        if numsamples > 0 and driver._speaking:
            driver._data_buffer += ctypes.string_at(wav, numsamples * ctypes.sizeof(ctypes.c_short))
        result: int = original(wav, 0, events)
        return result

    def start_synthesis(text: str) -> None:
        start(text)  # returns once every sample has reached on_synth
        if driver._speaking:
            end = (_espeak.EVENT * 2)()
            end[0].type = _espeak.EVENT_MSG_TERMINATED
            end[1].type = _espeak.EVENT_LIST_TERMINATED
            on_synth(None, 0, end)

    def start_loop() -> None:
        """The driver's loop without its 10 ms sleep after each phrase: a phrase ends before
        Synth() returns, and the sleep was most of the time a short clause took (an engine
        sat idle 60% of a cold build)."""
        driver._looping = True
        driver._proxy.setBusy(False)
        if driver._text_to_say:
            driver._start_synthesis(driver._text_to_say)
        while driver._looping:  # only if the phrase did not end it (as the original loop)
            driver.iterate()
            time.sleep(0.01)

    driver._onSynth = on_synth
    driver._start_synthesis = start_synthesis
    driver.startLoop = start_loop
    _espeak.SetSynthCallback(on_synth)


def _text(value: object) -> str:
    return value.decode(errors="replace").lstrip("\x05") if isinstance(value, bytes) else str(value)
