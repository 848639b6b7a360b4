"""Turns the lines of a routine into clips: from the cache, or spoken clause by clause on a miss.

A line is spoken as its clauses with pauses between them (pace.py); each clause is a phrase of
its own in the cache, and the joined line is cached too. Missing clauses are spoken by one
engine process per core, each loading its voice once (one in all for an engine that already
uses every core on its own, as piper does).
"""

from __future__ import annotations

import math
import os
import queue
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from pydantic import BaseModel, ConfigDict

from ..cache import AudioRef, Cache
from ..errors import CacheError, EngineError, PsoasError, shorten
from ..pcm import Samples, to_samples, to_seconds
from .clips import load_phrase
from .engine import (
    VoiceInfo,
    VoiceRequest,
    engine_class,
    engine_path,
    resolve_language,
    resolve_voice,
)
from .pace import VERSION, Pause, clauses, pace, phrasing
from .process import EngineProcess

DEFAULT_TIMEOUT = 60.0  # seconds for the engine to start or answer, before the text's share
SECONDS_PER_CHARACTER = 0.05  # more time for longer lines: 1,000 characters get 50 s more
PROBE_FROM, PROBE_LINES = 40, 12  # distinct lines for a pace to be probed; lines it speaks
CLAUSES_PER_ENGINE = 6  # fewer missing clauses than this per extra engine: not worth starting it

Progress = Callable[[int, int], None]


class VoiceRecord(BaseModel):
    """The voice a request came to, remembered so a warm build can name it without an engine."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    name: str


class Speed(BaseModel):
    """The speed a routine's lines were last corrected to, so its next build starts there (and
    finds its clips) instead of at the calibrated speed and correcting again."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    articulation: float


@dataclass(frozen=True)
class Voice:
    """Who spoke a track, as build, plan and the MP3's tags say it."""

    engine: str
    id: str
    name: str
    rate: int  # words per minute asked for

    def __str__(self) -> str:
        return f"{self.engine}: {self.name}, {self.rate} wpm"


class Speaker:
    """Speaks with one voice; starts engines only when a clause is not cached yet."""

    def __init__(
        self,
        request: VoiceRequest,
        cache: Cache | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        engines: int | None = None,  # at most this many engine processes (default: the cores)
    ) -> None:
        self.request = request
        self.cache = cache or Cache()
        self.timeout = timeout
        self._path = engine_path(request.engine)  # an unknown engine fails before any work
        self.phrasing = phrasing(request.rate)
        kind = engine_class(self._path)
        self.setting = kind.setting(self.phrasing.articulation)
        self._engines = engines if engines is not None else (os.cpu_count() or 1)
        if kind.multicore:
            self._engines = 1
        self._process: EngineProcess | None = None
        self._extra: list[EngineProcess] = []  # more engines, kept from the probe to the end
        self._resolved = False  # the first engine is ready and its voice chosen
        self._voice_id: str | None = None
        self._record: VoiceRecord | None = None
        self._known: dict[str, AudioRef] = {}  # checked once per speaker: a fit plans many times

    def resume_speed(self, said: Sequence[str]) -> None:
        """Start at the speed these lines were corrected to last time, if they were."""
        found = self.cache.load_value(self._speed_key(said), Speed)
        if found is not None and found.articulation > 0:
            self.correct_pace(found.articulation / self.phrasing.articulation)

    def keep_speed(self, said: Sequence[str]) -> None:
        """Remember the speed these lines came to, for resume_speed()."""
        if self.phrasing.articulation != phrasing(self.request.rate).articulation:
            self.cache.save_value(
                self._speed_key(said), Speed(articulation=self.phrasing.articulation)
            )

    def _speed_key(self, said: Sequence[str]) -> str:
        request = self.request
        return self.cache.key(
            kind="speed", engine=request.engine, voice=request.name, language=request.language,
            rate=request.rate, pace=VERSION, lines=sorted(set(said)),
        )  # fmt: skip

    def probe(self, said: Sequence[str], within: float) -> None:
        """Before a routine's lines are spoken: speak the few that weigh most in it, and if
        their pace misses the rate by more than twice `within` (a sample: only a clear miss),
        correct the speed now. The rest are then spoken once, at the right speed, instead of
        all twice (a routine unlike the ones the engines were calibrated on: short numbered
        clauses, another language's voice).

        `said` is every line as the routine says it, repeats included. Only for a routine
        of many lines with any to speak (a short one is checked after it is laid out); the
        same lines, whatever is cached, so the next build comes to the same speed.
        """
        distinct = list(dict.fromkeys(said))
        if len(distinct) < PROBE_FROM or all(self._cached(text) for text in distinct):
            return
        times = Counter(said)  # the lines that weigh most in the pace: said often, or long
        # From every line, not only the missing ones: the next build draws the same sample
        # (now cached), comes to the same speed, and finds its clips.
        sample = sorted(distinct, key=lambda text: -times[text] * len(text.split()))[:PROBE_LINES]
        lengths = self.clips(sample).lengths
        heard = [text for text in sample for _ in range(times[text])]
        seconds = to_seconds(sum(lengths[text] * times[text] for text in sample))
        measured = pace(sum(len(text.split()) for text in heard), seconds)
        if measured and abs(measured / self.request.rate - 1) > 2 * within:
            self.correct_pace(self.speed_for(heard, seconds))

    def speed_for(self, said: Sequence[str], seconds: float) -> float:
        """How much faster to speak the words of these lines (every occurrence), which took
        `seconds`, so that they come to the rate asked for. Only the words change speed: the
        pauses between clauses stay, so a routine of many pauses needs a bigger step than
        rate / pace (with which a correction took two tries)."""
        pauses = sum(
            self.phrasing.pause(kind)
            for text in said
            for _, kind in clauses(self.request.respell(text))
            if kind is not None
        )
        words = sum(len(text.split()) for text in said)
        speaking, wanted = seconds - pauses, words * 60.0 / self.request.rate - pauses
        if speaking <= 0 or wanted <= 0:  # the pauses alone take the time: as near as it goes
            return self.request.rate / pace(words, seconds) if seconds > 0 else 1.0
        return float(np.clip(speaking / wanted, 0.5, 2.0))

    def correct_pace(self, factor: float) -> None:
        """Speak the words `factor` times faster from now on (the pauses stay as they are):
        for a voice or routine whose measured pace misses the calibration."""
        articulation = round(self.phrasing.articulation * factor, 1)
        self.phrasing = replace(self.phrasing, articulation=articulation)
        self.setting = engine_class(self._path).setting(articulation)
        self._known.clear()

    def _engine(self) -> EngineProcess:
        if self._process is None or not self._resolved:
            if self._process is None:
                self._process = EngineProcess(self.request.engine, self._path, self.timeout)
            else:  # begun by _more_engines(), which boots the engines together
                try:
                    self._process.wait_ready()
                except BaseException:
                    self._process = None  # closed
                    raise
            voices: list[VoiceInfo] = self._process.call("voices")
            request = self.request
            if request.name is None and request.language:
                self._voice_id = resolve_language(request.language, voices, request.engine)
            else:
                self._voice_id = resolve_voice(request.name, voices, request.engine)
            used = self._voice_id or self._process.call("default_voice")
            names = {voice.id: voice.name for voice in voices}
            self._record = VoiceRecord(
                id=used or "default", name=names.get(used or "", used or "default")
            )
            self.cache.save_value(self._voice_key(), self._record)
            self._resolved = True
        return self._process

    def voice(self) -> Voice:
        """The voice this speaker speaks with; from the cache when no engine was needed."""
        if self._record is None:
            self._record = self.cache.load_value(self._voice_key(), VoiceRecord)
        if self._record is None:
            self._engine()
        assert self._record is not None
        return Voice(self.request.engine, self._record.id, self._record.name, self.request.rate)

    def _voice_key(self) -> str:
        request = self.request
        return self.cache.key(kind="voice", engine=request.engine, voice=request.name,
                              language=request.language, platform=sys.platform)  # fmt: skip

    def clips(self, texts: Iterable[str], progress: Progress | None = None) -> Clips:
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
            self._speak(missing, refs, lambda: progress and progress(len(refs), len(wanted)))
        return Clips(self.cache, {text: refs[text] for text in wanted}, len(wanted) - len(missing))

    def _speak(
        self, lines: list[str], refs: dict[str, AudioRef], advance: Callable[[], object]
    ) -> None:
        """Speak the missing lines: their uncached clauses (in parallel), then join each line."""
        parts = {text: clauses(self.request.respell(text)) for text in lines}
        spoken: dict[str, AudioRef] = {}
        needed: list[str] = []
        for clause in dict.fromkeys(c for found in parts.values() for c, _ in found):
            entry = self.cache.load_clip(self._clause_key(clause))
            if entry is None:
                needed.append(clause)
            else:
                spoken[clause] = entry[0]
        waiting = list(lines)

        def join_ready() -> None:
            for text in list(waiting):
                if all(clause in spoken for clause, _ in parts[text]):
                    waiting.remove(text)
                    refs[text] = self._known[text] = self._join(text, parts[text], spoken)
                    advance()

        join_ready()
        for clause, ref in self._synthesize(needed):
            spoken[clause] = ref
            join_ready()

    def _join(
        self, text: str, parts: list[tuple[str, Pause | None]], spoken: Mapping[str, AudioRef]
    ) -> AudioRef:
        """The line's clip: its clauses with their pauses between them, cached under the line."""
        pieces: list[Samples] = []
        for clause, pause in parts:
            clip = self.cache.load_audio(spoken[clause])
            if clip is None:
                raise CacheError(
                    f"the cached speech for {shorten(clause)!r} was removed or damaged during "
                    "the build; build again"
                )
            pieces.append(clip)
            if pause is not None:
                pieces.append(np.zeros(to_samples(self.phrasing.pause(pause)), dtype=np.int16))
        return self.cache.save_clip(self.cache_key(text), np.concatenate(pieces))

    def _synthesize(self, clauses_: list[str]) -> Iterator[tuple[str, AudioRef]]:
        """Each clause spoken and cached, yielded as it is done; by several engines when many.

        Every engine is started, and ready, before any speaks: a build stopped while an engine
        process is still being born leaves that child to print a traceback. In a batch (engine
        slots shared between builds) the extra engines take only cores free at that moment.
        """
        if not clauses_:
            return
        count = min(self._engines, math.ceil(len(clauses_) / CLAUSES_PER_ENGINE))
        self._extra += self._more_engines(count - 1 - len(self._extra))
        engines = [self._engine(), *self._extra[: count - 1]]
        todo: queue.SimpleQueue[str] = queue.SimpleQueue()
        for clause in clauses_:
            todo.put(clause)
        results: queue.SimpleQueue[tuple[str, AudioRef] | BaseException] = queue.SimpleQueue()
        stop = threading.Event()

        def work(engine: EngineProcess) -> None:
            try:
                while not stop.is_set():
                    try:
                        clause = todo.get_nowait()
                    except queue.Empty:
                        return
                    results.put((clause, self._speak_clause(engine, clause)))
            except BaseException as exc:  # handed to the main thread
                results.put(exc)

        threads = [threading.Thread(target=work, args=(e,), daemon=True) for e in engines]
        for thread in threads:
            thread.start()
        done = False
        try:
            for _ in clauses_:
                result = results.get()
                if isinstance(result, BaseException):
                    raise result
                yield result
            done = True
        finally:
            stop.set()
            if not done:  # leaving early: every engine stops, so a thread waiting on one gets
                self.close()  # an error and ends, removing its scratch file before we go on
            for thread in threads:
                thread.join(timeout=10)

    def _more_engines(self, count: int) -> list[EngineProcess]:
        """Up to `count` more engine processes after the first, started one by one from this
        (the main) thread, so that each is born deaf to a terminal's Ctrl-C (see process.py).

        One that cannot start means fewer engines, not a failed build: the first one speaks.
        """
        started: list[EngineProcess] = []
        if count <= 0:
            return started
        try:
            if self._process is None:  # the first one boots beside the others
                self._process = EngineProcess(
                    self.request.engine, self._path, self.timeout, ready=False
                )
            for _ in range(count):
                try:
                    started.append(EngineProcess(self.request.engine, self._path, self.timeout,
                                                 wait=False, ready=False))  # fmt: skip
                except PsoasError:
                    break
            self._engine()
            ready: list[EngineProcess] = []
            for engine in started:
                try:
                    engine.wait_ready()
                except PsoasError:
                    continue  # closed: one engine fewer
                ready.append(engine)
            return ready
        except BaseException:
            for engine in started:
                engine.close()
            raise

    def _speak_clause(self, engine: EngineProcess, clause: str) -> AudioRef:
        with self.cache.scratch(".wav") as target:
            timeout = self.timeout + SECONDS_PER_CHARACTER * len(clause)
            engine.call(
                "synthesize", clause, self._voice_id, self.phrasing.articulation, target,
                timeout=timeout, doing=f"while speaking {shorten(clause)!r}",
            )  # fmt: skip
            try:
                clip = load_phrase(target)
            except EngineError as exc:
                raise EngineError(f"{exc}, for {clause!r}") from None
            return self.cache.save_clip(self._clause_key(clause), clip)

    def _cached(self, text: str) -> AudioRef | None:
        """The line's clip if the cache has it whole (a damaged one is discarded)."""
        if text in self._known:
            return self._known[text]
        found = self.cache.load_clip(self.cache_key(text))
        if found is not None:
            self._known[text] = found[0]
        return None if found is None else found[0]

    def cache_key(self, text: str) -> str:
        """Everything that changes how a line sounds: a new voice never reuses a wrong clip."""
        pauses = (self.phrasing.comma, self.phrasing.sentence)
        return self._key("line", self.request.respell(text), pauses=pauses)

    def _clause_key(self, clause: str) -> str:
        return self._key("speech", clause)

    def _key(self, kind: str, text: str, **more: object) -> str:
        request = self.request
        return self.cache.key(
            kind=kind, engine=request.engine, voice=request.name, language=request.language,
            pace=VERSION, setting=self.setting, text=text, **more,
        )  # fmt: skip

    def _close_extra(self) -> None:
        for engine in self._extra:
            engine.close()
        self._extra.clear()

    def close(self) -> None:
        self._close_extra()  # a batch's other builds may take their cores now
        if self._process is not None:
            self._process.close()
            self._process = None
            self._resolved = False

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

    def __init__(self, cache: Cache, refs: dict[str, AudioRef], cached: int = 0) -> None:
        self.cache, self.refs = cache, refs
        self.cached = cached  # lines found whole in the cache (the rest were spoken)
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
