"""Turns the phrases of a routine into clips: from the cache, or from the engine on a miss."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import EngineError
from ..pcm import Samples
from .cache import PhraseCache
from .clips import load_phrase
from .engine import VoiceInfo, VoiceRequest, engine_path, resolve_voice
from .process import EngineProcess

DEFAULT_TIMEOUT = 60.0


class Speaker:
    """Speaks with one voice; starts the engine only when a phrase is not cached yet."""

    def __init__(
        self,
        request: VoiceRequest,
        cache: PhraseCache | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.request = request
        self.cache = cache or PhraseCache()
        self.timeout = timeout
        self._path = engine_path(request.engine)  # an unknown engine fails before any work
        self._process: EngineProcess | None = None
        self._voice_id: str | None = None

    def _engine(self) -> EngineProcess:
        if self._process is None:
            self._process = EngineProcess(self.request.engine, self._path, self.timeout)
            voices: list[VoiceInfo] = self._process.call("voices")
            self._voice_id = resolve_voice(self.request.name, voices, self.request.engine)
        return self._process

    def clips(
        self, texts: Iterable[str], progress: Callable[[int, int], None] | None = None
    ) -> dict[str, Samples]:
        """A clip per distinct text; progress(done, total) after each phrase."""
        wanted = list(dict.fromkeys(texts))
        result: dict[str, Samples] = {}
        missing: list[tuple[str, str]] = []
        for text in wanted:
            key = self.cache.key(self.request.engine, self.request.name, self.request.rate, text)
            clip = self.cache.get(key)
            if clip is None:
                missing.append((text, key))
            else:
                result[text] = clip
        if progress:
            progress(len(result), len(wanted))
        if missing:
            engine = self._engine()
            with tempfile.TemporaryDirectory(prefix="psoas-speech-") as folder:
                for index, (text, key) in enumerate(missing):
                    target = Path(folder) / f"{index}.wav"
                    engine.call("synthesize", text, self._voice_id, self.request.rate, target)
                    try:
                        clip = load_phrase(target)
                    except EngineError as exc:
                        raise EngineError(f"{exc}, for {text!r}") from None
                    self.cache.put(key, clip)
                    result[text] = clip
                    if progress:
                        progress(len(result), len(wanted))
        return result

    def close(self) -> None:
        if self._process is not None:
            self._process.close()
            self._process = None

    def __enter__(self) -> Speaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def list_voices(engine: str, timeout: float = DEFAULT_TIMEOUT) -> list[VoiceInfo]:
    """The voices an engine offers on this machine."""
    with EngineProcess(engine, engine_path(engine), timeout) as process:
        found: list[VoiceInfo] = process.call("voices")
    return found
