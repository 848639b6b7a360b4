"""Speech engines behind one small interface, run out of process, with a phrase cache."""

from .engine import ENGINES, Engine, VoiceInfo, VoiceRequest, resolve_voice
from .speaker import DEFAULT_TIMEOUT, Speaker, list_voices

__all__ = [
    "DEFAULT_TIMEOUT", "ENGINES", "Engine", "Speaker", "VoiceInfo", "VoiceRequest",
    "list_voices", "resolve_voice",
]  # fmt: skip
