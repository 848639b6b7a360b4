"""Turns the phrases of a routine into clips: from the cache, or from the engine on a miss."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from ..cache import AudioRef, Cache
from ..errors import CacheError, EngineError, shorten
from ..pcm import Samples
from .clips import load_phrase
from .engine import VoiceInfo, VoiceRequest, engine_path, resolve_language, resolve_voice
from .process import EngineProcess

DEFAULT_TIMEOUT = 60.0  # seconds for the engine to start or answer, before the text's share
SECONDS_PER_CHARACTER = 0.05  # more time for longer lines: 1,000 characters get 50 s more


class Speaker:
    """Speaks with one voice; starts the engine only when a phrase is not cached yet."""

    def __init__(
        self,
        request: VoiceRequest,
        cache: Cache | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.request = request
        self.cache = cache or Cache()
        self.timeout = timeout
        self._path = engine_path(request.engine)  # an unknown engine fails before any work
        self._process: EngineProcess | None = None
        self._voice_id: str | None = None
        self._known: dict[str, AudioRef] = {}  # checked once per speaker: a fit plans many times

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
    ) -> Clips:
        """A clip per distinct text, checked now and read again when used; progress(done, total).

        Clips stay on disk until rendered, so memory does not grow with a routine's lines.
        """
        wanted = list(dict.fromkeys(texts))
        refs: dict[str, AudioRef] = {}
        missing: list[str] = []
        for text in wanted:
            ref = self._cached(text)
            if ref is None:
                missing.append(text)
            else:
                refs[text] = ref
        if progress:
            progress(len(refs), len(wanted))
        if missing:
            engine = self._engine()
            for text in missing:
                with self.cache.scratch(".wav") as target:
                    spoken = self.request.respell(text)
                    timeout = self.timeout + SECONDS_PER_CHARACTER * len(spoken)
                    engine.call(
                        "synthesize", spoken, self._voice_id, self.request.rate, target,
                        timeout=timeout, doing=f"while speaking {shorten(text)!r}",
                    )  # fmt: skip
                    try:
                        clip = load_phrase(target)
                    except EngineError as exc:
                        raise EngineError(f"{exc}, for {text!r}") from None
                    refs[text] = self._known[text] = self.cache.save_clip(
                        self.cache_key(text), clip
                    )
                    if progress:
                        progress(len(refs), len(wanted))
        return Clips(self.cache, {text: refs[text] for text in wanted})

    def _cached(self, text: str) -> AudioRef | None:
        """The phrase's clip if the cache has it whole (a damaged one is discarded)."""
        if text in self._known:
            return self._known[text]
        found = self.cache.load_clip(self.cache_key(text))
        if found is not None:
            self._known[text] = found[0]
        return None if found is None else found[0]

    def cache_key(self, text: str) -> str:
        """Everything that changes how a phrase sounds: a new voice never reuses a wrong clip."""
        request = self.request
        return self.cache.key(
            kind="speech", engine=request.engine, voice=request.name, rate=request.rate,
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


class Clips(Mapping[str, Samples]):
    """text -> clip, read from the cache on each use; the lengths are those the plan used."""

    def __init__(self, cache: Cache, refs: dict[str, AudioRef]) -> None:
        self.cache, self.refs = cache, refs
        self.lengths = {text: ref.length for text, ref in refs.items()}

    def __getitem__(self, text: str) -> Samples:
        clip = self.cache.load_audio(self.refs[text])
        if clip is None:
            raise CacheError(
                f"the cached speech for {shorten(text)!r} was removed or damaged during the "
                "build; build again"
            )
        return clip

    def __iter__(self) -> Iterator[str]:
        return iter(self.refs)

    def __len__(self) -> int:
        return len(self.refs)
