"""Turns the phrases of a routine into clips: from the cache, or from the engine on a miss."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from ..errors import CacheError, EngineError
from ..pcm import Samples
from .cache import PhraseCache
from .clips import load_phrase
from .engine import VoiceInfo, VoiceRequest, engine_path, resolve_language, resolve_voice
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
            request = self.request
            if request.name is None and request.language:
                self._voice_id = resolve_language(request.language, voices, request.engine)
            else:
                self._voice_id = resolve_voice(request.name, voices, request.engine)
        return self._process

    def clips(
        self, texts: Iterable[str], progress: Callable[[int, int], None] | None = None
    ) -> CachedClips:
        """A clip per distinct text, read from the cache when used; progress(done, total).

        Clips stay on disk until rendered, so memory does not grow with a routine's lines.
        """
        wanted = list(dict.fromkeys(texts))
        keys = {text: self.cache_key(text) for text in wanted}
        lengths: dict[str, int] = {}
        missing: list[str] = []
        for text in wanted:
            length = self.cache.length(keys[text])
            if length is None:
                missing.append(text)
            else:
                lengths[text] = length
        if progress:
            progress(len(lengths), len(wanted))
        if missing:
            engine = self._engine()
            with tempfile.TemporaryDirectory(prefix="psoas-speech-") as folder:
                for index, text in enumerate(missing):
                    target = Path(folder) / f"{index}.wav"
                    spoken = self.request.respell(text)
                    engine.call("synthesize", spoken, self._voice_id, self.request.rate, target)
                    try:
                        clip = load_phrase(target)
                    except EngineError as exc:
                        raise EngineError(f"{exc}, for {text!r}") from None
                    self.cache.put(keys[text], clip)
                    lengths[text] = len(clip)
                    if progress:
                        progress(len(lengths), len(wanted))
        return CachedClips(self.cache, keys, lengths)

    def cache_key(self, text: str) -> str:
        """Everything that changes how a phrase sounds: a new voice never reuses a wrong clip."""
        request = self.request
        return self.cache.digest(
            engine=request.engine, voice=request.name, rate=request.rate,
            language=request.language, text=request.respell(text),
        )  # fmt: skip

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


class CachedClips(Mapping[str, Samples]):
    """text -> clip, loaded from the phrase cache on each use; lengths are known up front."""

    def __init__(self, cache: PhraseCache, keys: dict[str, str], lengths: dict[str, int]) -> None:
        self.cache, self._keys, self.lengths = cache, keys, lengths

    def key(self, text: str) -> str:
        return self._keys[text]

    def __getitem__(self, text: str) -> Samples:
        clip = self.cache.get(self._keys[text])
        if clip is None:
            raise CacheError(f"the cached clip for {text!r} vanished from {self.cache.folder}")
        return clip

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)
