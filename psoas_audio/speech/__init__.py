"""Speech engines behind one small interface, run out of process, with a phrase cache.

The names load on first use: an engine process imports only what it runs (process.py, the
engine and its driver), not the speaker's numpy, pydantic and cache, which took an engine
0.2 s of its 0.3 s start.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .engine import ENGINES, Engine, VoiceInfo, VoiceRequest, resolve_voice
    from .speaker import DEFAULT_TIMEOUT, Speaker, list_voices

_HOMES = {
    **dict.fromkeys(["ENGINES", "Engine", "VoiceInfo", "VoiceRequest", "resolve_voice"], "engine"),
    **dict.fromkeys(["DEFAULT_TIMEOUT", "Speaker", "list_voices"], "speaker"),
}
__all__ = [
    "DEFAULT_TIMEOUT", "ENGINES", "Engine", "Speaker", "VoiceInfo", "VoiceRequest",
    "list_voices", "resolve_voice",
]  # fmt: skip


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'psoas_audio.speech' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
