"""Speech engines behind one small interface, run out of process, with a phrase cache."""

from .engine import ENGINES, Engine, VoiceInfo, VoiceRequest, resolve_voice
from .speaker import Speaker

__all__ = ["ENGINES", "Engine", "Speaker", "VoiceInfo", "VoiceRequest", "resolve_voice"]
