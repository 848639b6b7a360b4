"""The whole compiler in a few calls: load -> expand -> speak -> plan -> render -> encode."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Protocol

from .chime import chime
from .errors import PlanError, RoutineError
from .export import DEFAULT_BITRATE, Tags, encode_mp3, ffmpeg_path, measure_loudness
from .level import TARGET_LUFS, Leveler, Source
from .pcm import Samples, quantize
from .render import render
from .routine import RoutineFile, load_routine
from .speech import Speaker, VoiceRequest
from .speech.cache import PhraseCache
from .speech.engine import UnknownVoice
from .speech.speaker import DEFAULT_TIMEOUT, CachedClips
from .timeline import PlanSettings, Timeline, chime_styles, expand, measure, phrases, plan

MAX_TRACK_SECONDS = 10 * 3600.0
MAX_CUES = 50_000


@dataclass(frozen=True)
class Options:
    """Everything the command line can change, as one value passed down the pipeline."""

    overrides: Mapping[str, str] = field(default_factory=dict)  # --set NAME=VALUE
    engine: str | None = None
    voice: str | None = None
    rate: int | None = None
    cache_dir: Path | None = None
    timeout: float = DEFAULT_TIMEOUT
    spacing: PlanSettings = field(default_factory=PlanSettings)
    bitrate: int = DEFAULT_BITRATE
    loudness: float = TARGET_LUFS  # integrated LUFS of the finished track


class Progress(Protocol):
    """Told about long work; the CLI draws bars, the library stays silent."""

    def start(self, stage: str, total: int) -> None: ...

    def update(self, done: int) -> None: ...


class _NoProgress:
    def start(self, stage: str, total: int) -> None:
        pass

    def update(self, done: int) -> None:
        pass


@dataclass(frozen=True)
class Planned:
    source: RoutineFile
    timeline: Timeline
    speech: CachedClips
    chimes: Mapping[str, Samples]  # by style

    def leveler(self, loudness: float, sound: str = "") -> Leveler:
        """Levels this plan's clips for a track at `loudness` LUFS."""

        def raw(source: Source) -> Samples:
            kind, name = source
            return self.chimes[name] if kind == "chime" else self.speech[name]

        def key(source: Source) -> str:
            kind, name = source
            if kind == "chime":
                samples = hashlib.sha256(self.chimes[name].tobytes()).hexdigest()
                return PhraseCache.digest(kind="chime", samples=samples)
            return self.speech.key(name)

        return Leveler(raw, key, self.speech.cache, loudness, sound)


@dataclass(frozen=True)
class Built:
    output: Path
    seconds: float


def check(path: Path, options: Options = Options()) -> RoutineFile:
    """Load and validate a routine; RoutineError lists every mistake with its line."""
    source = load_routine(path, options.overrides)
    size = measure(source.routine.steps)  # without unrolling: 100 x 100 x 100 x ... stays cheap
    limit = None
    if size.silent_seconds > MAX_TRACK_SECONDS:
        limit = (
            f"the routine's pauses, holds and rests alone last {size.silent_seconds / 3600:.1f}h; "
            f"a track may last {MAX_TRACK_SECONDS / 3600:g}h"
        )
    elif size.cues > MAX_CUES:
        limit = f"the routine unrolls into {size.cues:,} steps; at most {MAX_CUES:,} are allowed"
    if limit:
        raise RoutineError([source.document.problem(("steps",), limit)])
    return source


def voice_request(source: RoutineFile, options: Options) -> VoiceRequest:
    routine = source.routine
    return VoiceRequest(
        engine=options.engine or routine.voice.engine,
        name=options.voice if options.voice is not None else routine.voice.name,
        rate=options.rate or routine.voice.rate,
        language=routine.language,
        pronounce=tuple(routine.pronounce.items()),
    )


def plan_routine(
    source: RoutineFile, options: Options = Options(), progress: Progress | None = None
) -> Planned:
    """Synthesize (or fetch from the cache) every phrase, then lay out the timeline."""
    progress = progress or _NoProgress()
    cues = expand(source.routine)
    texts = phrases(cues)
    cache = PhraseCache(options.cache_dir)
    with Speaker(voice_request(source, options), cache, options.timeout) as speaker:
        progress.start("speaking", len(texts))
        try:
            speech = speaker.clips(texts, lambda done, total: progress.update(done))
        except UnknownVoice as exc:
            if options.voice is not None:
                raise  # it came from --voice, not from the file
            where = ("voice", "name") if source.routine.voice.name else ("language",)
            raise RoutineError([source.document.problem(where, str(exc))]) from None
    chimes = {style: quantize(chime(style)) for style in chime_styles(cues)}
    lengths = {style: len(samples) for style, samples in chimes.items()}
    try:
        timeline = plan(source.routine, cues, speech.lengths, lengths, options.spacing)
    except PlanError as exc:
        raise RoutineError([source.document.problem(exc.loc, exc.message)]) from None
    return Planned(source, timeline, speech, chimes)


def leveler_for(planned: Planned, options: Options) -> Leveler:
    """Levels for this plan's voice and encoding, at the loudness the options ask for."""
    sound = f"{voice_request(planned.source, options)} mp3 {options.bitrate}k"
    return planned.leveler(options.loudness, sound)


def build(
    source: RoutineFile,
    output: Path,
    options: Options = Options(),
    progress: Progress | None = None,
) -> Built:
    """Compile one validated routine into an MP3 at output, atomically."""
    ffmpeg_path()  # fail before any speech work when ffmpeg is missing
    progress = progress or _NoProgress()
    planned = plan_routine(source, options, progress)
    routine = source.routine
    tags = Tags(routine.title, routine.author, routine.description, planned.timeline.sections)
    done = 0

    def advance(samples: int) -> None:
        nonlocal done
        done += samples
        progress.update(done)

    leveler = leveler_for(planned, options)
    progress.start("leveling", 1)
    levels = leveler.levels(planned.timeline)
    for attempt in range(3):
        progress.start("encoding", planned.timeline.length)
        done = 0
        encode_mp3(
            render(planned.timeline, partial(leveler.clip, levels=levels)),
            output,
            tags,
            options.bitrate,
            advance,
        )
        if levels.verified:
            break  # this very track was measured on target before
        if attempt == 2:
            leveler.settle(levels)
            break
        levels = leveler.verify(levels, planned.timeline, measure_loudness(output))
        if levels.verified:
            break
    return Built(output, planned.timeline.seconds)
