"""The whole compiler in a few calls: load -> expand -> speak -> plan -> render -> encode -> tag,
staged beside the output and put in place by one rename."""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import hashlib
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from . import files, interrupts, mp3join, tools
from .ambience import VERSION as AMBIENCE_VERSION
from .ambience import Ambience, Bed, below_voice
from .cache import Cache
from .chime import STYLES, chime
from .chime import VERSION as CHIME_VERSION
from .cover import CoverError, cover_from_file, generated_cover
from .durations import MAX_TRACK_SECONDS, is_range, short_clock, tenths_clock
from .errors import Loc, OutputError, PlanError, Problem, RoutineError, UnknownVoice
from .export import DEFAULT_BITRATE, encode_mp3, encode_parts, encoded_size
from .fit import OutOfSpan, fit
from .level import TARGET_LUFS, Leveler, Levels, Measured, Source, missed
from .pcm import Samples, quantize, to_samples, to_seconds
from .render import ahead, render
from .routine import RoutineFile, load_routine, require_cues_fit, spoken_problem
from .script import Instruction, Quiet, Size, Speak, chime_styles, expand, measure, phrases
from .speech import Speaker, VoiceRequest
from .speech.engine import AUTO, check_engine, choose_engine
from .speech.process import EngineStartError
from .speech.speaker import DEFAULT_TIMEOUT, Clips, Voice
from .tags import Tags, write_tags
from .template import Choice, words_agree
from .timeline import PlanSettings, Timeline, plan
from .transcript import lrc, spoken, webvtt

FIT_WITHIN = 0.05  # seconds: how close to --length a fitted track must land
PACE_WITHIN = 0.04  # a routine's lines further than this from the rate asked are re-spoken
PACE_MIN_WORDS = 30  # fewer words than this are too few to measure a pace by
MAX_INSTRUCTIONS = 50_000  # what a routine may unroll into: steps times repeats and sides
FASTEST_WORDS_PER_MINUTE = 600  # faster than any engine speaks: a lower bound on speech time


@dataclass(frozen=True)
class Options:
    """Everything the command line can change, as one value passed down the pipeline."""

    overrides: Mapping[str, str] = field(default_factory=dict)  # --set NAME=VALUE
    profile_vars: Mapping[str, object] = field(default_factory=dict)  # where a routine has them
    length: float | None = None  # fit the track to this many seconds (--length, or the profile's)
    length_label: str = ""  # where that length came from, for messages: "--length 15m"
    length_required: bool = True  # False for a profile's: a routine without ranges keeps its own
    engine: str | None = None
    voice: str | None = None
    rate: int | None = None
    cache_dir: Path | None = None
    timeout: float = DEFAULT_TIMEOUT
    spacing: PlanSettings = field(default_factory=PlanSettings)
    bitrate: int = DEFAULT_BITRATE
    loudness: float = TARGET_LUFS  # integrated LUFS of the finished track
    ambience: Ambience | None = None  # the bed under the voice (None: the routine's own)
    force: bool = False  # replace an existing output file even if it is not an MP3
    transcript: bool = True  # STEM.vtt beside the MP3
    lrc: bool = False  # STEM.lrc beside it too
    cores: int | None = None  # one build keeps this many busy: encoders, leveling (None: all)


class Reporter(Protocol):
    """Told about long work and what happened; the CLI shows it, the library stays silent."""

    def start(self, stage: str, total: int) -> None: ...

    def update(self, done: int) -> None: ...

    def notice(self, message: str) -> None: ...

    def speaking(self, voice: str, pace: float) -> None:
        """Who speaks the track ("piper: Joe (en_US, medium), 140 wpm") and the words per
        minute its lines measure; said once, before the work."""
        ...

    def written(self, path: Path) -> None: ...


class _Silent:
    def start(self, stage: str, total: int) -> None:
        pass

    def update(self, done: int) -> None:
        pass

    def notice(self, message: str) -> None:
        pass

    def speaking(self, voice: str, pace: float) -> None:
        pass

    def written(self, path: Path) -> None:
        pass


class _Again:
    """A reporter for the lines spoken again at a corrected pace: its stages say so."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter

    def start(self, stage: str, total: int) -> None:
        self.reporter.start(f"{stage} again", total)

    def update(self, done: int) -> None:
        self.reporter.update(done)

    def notice(self, message: str) -> None:
        self.reporter.notice(message)

    def speaking(self, voice: str, pace: float) -> None:
        self.reporter.speaking(voice, pace)

    def written(self, path: Path) -> None:
        self.reporter.written(path)


@dataclass(frozen=True)
class Planned:
    source: RoutineFile
    timeline: Timeline
    speech: Clips
    chimes: Mapping[str, Samples]  # by style
    chime_digests: Mapping[str, str]  # by style: the hash of its samples
    voice: Voice | None = None  # who speaks: known once the plan is made

    def leveler(self, loudness: float, sound: str = "", cores: int = 1) -> Leveler:
        """Levels this plan's clips for a track at `loudness` LUFS, on this many cores."""

        def raw(source: Source) -> Samples:
            kind, name = source
            return self.chimes[name] if kind == "chime" else self.speech[name]

        def content(source: Source) -> str:
            kind, name = source
            return self.chime_digests[name] if kind == "chime" else self.speech.refs[name].digest

        return Leveler(raw, content, self.speech.cache, loudness, sound, cores=cores)


@dataclass(frozen=True)
class Built:
    output: Path
    seconds: float
    written: tuple[Path, ...] = ()  # the MP3 and its sidecars
    title: str = ""
    artist: str | None = None
    tags: Tags | None = None  # as written into the MP3: what a published page shows too
    lines: tuple[tuple[float, str], ...] = ()  # (start in seconds, text) of each spoken line
    language: str | None = None
    measured: Measured | None = None  # the MP3 as metered (on its first build)
    distinct: int = 0  # distinct spoken lines
    cached: int = 0  # of them, found in the cache


def check(path: Path, options: Options = Options()) -> RoutineFile:
    """Load and validate a routine; RoutineError lists every mistake with its line.

    Only what needs no speech: plan_routine() then checks the voice and how the cues fit.
    """
    if options.engine is not None:
        check_engine(options.engine)  # an unknown --engine is reported before any file is read
    source = load_routine(path, options.overrides, options.profile_vars, cues=False)
    if _target(source, options) is None or not source.ranges:  # else: at the values chosen
        require_cues_fit(source)
    size = measure(source.routine.steps)  # without unrolling: 100 x 100 x 100 x ... stays cheap
    least = least_seconds(size)
    limit = None
    if size.instructions > MAX_INSTRUCTIONS:
        limit = (
            f"the routine unrolls into {size.instructions:,} steps; at most "
            f"{MAX_INSTRUCTIONS:,} are allowed"
        )
    elif least > MAX_TRACK_SECONDS:
        limit = (
            f"the routine would last at least {least / 3600:.1f}h; a track may last "
            f"{MAX_TRACK_SECONDS / 3600:g}h"
        )
    if limit:
        raise RoutineError([source.document.problem(("steps",), limit)])
    if source.routine.cover:
        try:
            cover_from_file(cover_path(source))
        except CoverError as exc:
            raise RoutineError([source.document.problem(("cover",), str(exc))]) from None
    return source


def least_seconds(size: Size) -> float:
    """A lower bound on the track's length, known before any speech: its silences, and its
    words at a pace faster than any engine speaks."""
    return size.silent_seconds + size.spoken_words * 60 / FASTEST_WORDS_PER_MINUTE


def voice_request(source: RoutineFile, options: Options) -> VoiceRequest:
    """Who speaks, with `auto` made concrete: the same engine for the plan and the build."""
    routine = source.routine
    return choose_engine(
        VoiceRequest(
            engine=options.engine or routine.voice.engine,
            name=options.voice if options.voice is not None else routine.voice.name,
            rate=options.rate or routine.voice.rate,
            language=routine.language,
            pronounce=tuple(routine.pronounce.items()),
        )
    )


def _chosen_automatically(source: RoutineFile, options: Options) -> bool:
    return (options.engine or source.routine.voice.engine) == AUTO


def plan_routine(
    source: RoutineFile, options: Options = Options(), reporter: Reporter | None = None
) -> Planned:
    """Synthesize (or fetch from the cache) every phrase, then lay out the timeline; with a
    target length, first choose the values of the routine's duration ranges to meet it.

    The timeline is made from the very clips the build will play, each checked whole.
    """
    reporter = reporter or _Silent()
    cache = Cache(options.cache_dir, reporter.notice)
    request = voice_request(source, options)
    try:
        planned = _planned_with(request, source, cache, options, reporter)
    except EngineStartError as exc:
        if request.engine == "pyttsx3" or not _chosen_automatically(source, options):
            raise
        reporter.notice(
            f"the {request.engine} voice could not start ({exc}); pyttsx3 speaks instead"
        )
        fallback = replace(request, engine="pyttsx3")
        planned = _planned_with(fallback, source, cache, options, reporter)
    seconds = planned.timeline.seconds
    if seconds > MAX_TRACK_SECONDS:
        message = (
            f"the track would last {seconds / 3600:.1f}h with its speech; a track may "
            f"last {MAX_TRACK_SECONDS / 3600:g}h"
        )
        raise RoutineError([source.document.problem(("steps",), message)])
    return planned


def _planned_with(
    request: VoiceRequest,
    source: RoutineFile,
    cache: Cache,
    options: Options,
    reporter: Reporter,
) -> Planned:
    """The plan, spoken with this voice; re-spoken at a corrected speed (at most twice) when
    its lines miss the pace asked for by more than PACE_WITHIN.

    Engines are calibrated on the shipped English routines: another language's voice, or a
    routine of unusually long or short words, can speak well off the rate asked for.
    """
    with Speaker(request, cache, options.timeout) as speaker:
        said = [item.text for item in expand(source.routine) if isinstance(item, Speak)]
        reporter.start("speaking", len(set(said)))  # the probe is the stage's first part
        speaker.resume_speed(said)
        speaker.probe(said, PACE_WITHIN)
        target = _target(source, options)
        for attempt in range(3):
            told = reporter if attempt == 0 else _Again(reporter)
            if target is None:
                planned = _lay_out(source, speaker, options, told)
            else:
                planned = _fitted(source, *target, speaker, options, told)
            lines = [e for e in planned.timeline.events if e.kind == "speech" and e.role == "say"]
            words = sum(len(e.text.split()) for e in lines)
            pace = planned.timeline.pace()
            if attempt == 2 or words < PACE_MIN_WORDS or not pace:
                break
            if abs(pace / request.rate - 1) <= PACE_WITHIN:
                break
            seconds = to_seconds(sum(e.length for e in lines))
            speaker.correct_pace(speaker.speed_for([e.text for e in lines], seconds))
        speaker.keep_speed(said)
        return replace(planned, voice=speaker.voice())


def _lay_out(
    source: RoutineFile,
    speaker: Speaker,
    options: Options,
    reporter: Reporter,
    *,
    cues_must_fit: bool = True,
) -> Planned:
    longest = source.choose(Choice(1.0), cues=False).routine if source.ranges else None
    script = expand(source.routine, longest)
    texts = phrases(script)
    _check_spoken(source, script, speaker.request)
    reporter.start("speaking", len(texts))
    try:
        speech = speaker.clips(texts, lambda done, total: reporter.update(done))
    except UnknownVoice as exc:
        message = str(exc)
        request = speaker.request
        if _chosen_automatically(source, options) and request.engine != "piper":
            language = f" speaking '{request.language}'" if request.language else ""
            message += f" (auto chose {request.engine}: piper has no such voice{language})"
        if options.voice is not None:
            raise UnknownVoice(message) from None  # it came from --voice, not from the file
        where = ("voice", "name") if source.routine.voice.name else ("language",)
        raise RoutineError([source.document.problem(where, message)]) from None
    styles = chime_styles(script)
    made = {style: _chime(style, speaker.cache) for style in styles}
    chimes = {style: samples for style, (samples, _) in made.items()}
    digests = {style: digest for style, (_, digest) in made.items()}
    lengths = {style: len(samples) for style, samples in chimes.items()}
    try:
        timeline = plan(source.routine, script, speech.lengths, lengths, options.spacing,
                        cues_must_fit=cues_must_fit)  # fmt: skip
    except PlanError as exc:
        problems = [source.document.problem(loc, message) for loc, message in exc.problems]
        raise RoutineError(problems) from None
    return Planned(source, timeline, speech, chimes, digests)


def _chime(style: str, cache: Cache) -> tuple[Samples, str]:
    """A chime's samples and their hash: the same every time, so made once and kept (making
    one costs a warm build 80 ms); a damaged entry is made again."""
    key = cache.key(kind="chime", version=CHIME_VERSION, style=style, spec=repr(STYLES[style]))
    found = cache.load_clip(key)
    if found is None:
        samples = quantize(chime(style))
        cache.save_clip(key, samples)
    else:
        samples = found[1]
    samples.flags.writeable = False
    return samples, hashlib.sha256(samples.tobytes()).hexdigest()


Blame = Callable[[str], Problem]  # a message -> a problem at whatever asked for the length


def _target(source: RoutineFile, options: Options) -> tuple[float, Blame] | None:
    """The length to fit, and who asked: the command line or profile, else the routine."""
    if options.length is not None:
        label = options.length_label or f"--length {short_clock(options.length)}"
        return options.length, lambda message: Problem(source.path, 0, 0, f"{label}: {message}")
    length = source.routine.length
    if length is not None:
        return length, lambda message: source.document.problem(("length",), message)
    return None


def _replaced_ranges(source: RoutineFile) -> list[str]:
    """The routine's range vars that --set or the profile gave a single value."""
    data = source.document.data
    written = data.get("vars") if isinstance(data, dict) else None
    return [
        name for name, value in (written if isinstance(written, dict) else {}).items()
        if is_range(value) and (name in source.applied or name in source.overrides)
    ]  # fmt: skip


def _fitted(
    source: RoutineFile,
    target: float,
    blame: Blame,
    speaker: Speaker,
    options: Options,
    reporter: Reporter,
) -> Planned:
    """The plan whose ranges make it last `target` seconds, within FIT_WITHIN."""
    if not source.ranges:
        as_written = _lay_out(source, speaker, options, reporter)
        seconds = short_clock(as_written.timeline.seconds)
        if options.length is not None and not options.length_required:
            reporter.notice(f"{source.path}: no duration ranges to fit the profile's "
                            f"{options.length_label} to; built as written ({seconds})")  # fmt: skip
            return as_written
        replaced = _replaced_ranges(source)
        why = (
            f"its range{'s' if len(replaced) > 1 else ''} {', '.join(replaced)} "
            "replaced by a single value (from --set or the profile)"
            if replaced
            else "write one where a duration goes, such as rest: 5m..10m"
        )
        raise RoutineError([blame(
            f"this routine has no duration ranges to fit ({why}); as written it lasts {seconds}"
        )])  # fmt: skip

    def evaluate(choice: Choice) -> tuple[Planned, float]:  # only lengths: cues checked last
        chosen = source.choose(choice, cues=False)
        planned = _lay_out(chosen, speaker, options, reporter, cues_must_fit=False)
        return planned, planned.timeline.seconds

    def agree(choice: Choice) -> bool:
        return words_agree(source.ranges, source.said, choice)

    try:
        fitted = fit(evaluate, target, agree)
    except OutOfSpan as exc:
        shortest, longest = math.ceil(exc.shortest * 10) / 10, math.floor(exc.longest * 10) / 10
        message = (
            f"this routine can be {tenths_clock(shortest)} to {tenths_clock(longest)} long "
            "with its ranges at their shortest and longest"
        )
        if exc.longest - exc.shortest < 0.2:  # its ranges hardly change its length
            message = (
                f"this routine lasts {exc.shortest:.3f}s whatever its ranges (they do not "
                "change its length)"
            )
        raise RoutineError([blame(message)]) from None
    if abs(fitted.seconds - target) > FIT_WITHIN:
        raise RoutineError([blame(
            f"the nearest the ranges reach is {fitted.seconds:.3f}s; its spoken lines change "
            "with the ranges in steps too large to land closer"
        )])  # fmt: skip
    chosen = fitted.result.source
    require_cues_fit(chosen)
    return _lay_out(chosen, speaker, options, reporter)  # cues checked against the speech too


def _check_spoken(
    source: RoutineFile, script: tuple[Instruction, ...], request: VoiceRequest
) -> None:
    """Every line as the engine will get it ({side} filled in, pronounce applied) is speakable.

    The file's own text was checked as it was read; this catches what filling it in makes.
    """
    where: dict[str, Loc] = {}
    for item in script:
        if isinstance(item, Speak):
            where.setdefault(item.text, (*item.loc, "say"))
        elif isinstance(item, Quiet):
            for inner in item.inner:
                where.setdefault(inner.text, (*item.loc, "remind"))
    problems = [
        source.document.problem(loc, f"as spoken, {problem}")
        for text, loc in where.items()
        if (problem := spoken_problem(request.respell(text)))
    ]
    if problems:
        raise RoutineError(problems)


def ambience(source: RoutineFile, options: Options) -> Ambience:
    """The bed under this track: the command line's or profile's, else the routine's."""
    return options.ambience or source.routine.ambience


def bed_lufs(timeline: Timeline, options: Options) -> float:
    """The ambient bed's loudness in the silences: under the target, out of the gated measure."""
    return options.loudness - below_voice(timeline)


def leveler_for(planned: Planned, options: Options) -> Leveler:
    """Levels for this plan's voice and encoding, at the loudness the options ask for."""
    bed = ambience(planned.source, options)
    sound = f"{voice_request(planned.source, options)} mp3 {options.bitrate}k bed {bed}"
    if bed != "none":  # its level and its making change what the MP3 measures
        sound += f" {bed_lufs(planned.timeline, options):.2f} v{AMBIENCE_VERSION}"
    return planned.leveler(options.loudness, sound, options.cores or os.cpu_count() or 1)


@dataclass(frozen=True)
class Place:
    """Where a track stands in a batch: its album and its number there."""

    album: str
    number: int
    count: int


def outputs(output: Path, options: Options) -> list[tuple[Path, files.Kind]]:
    """Every file a build of this output writes: the MP3, then its sidecars beside it."""
    wanted = [(output, files.MP3)]
    for suffix, kind, on in ((".vtt", files.VTT, options.transcript),
                             (".lrc", files.LRC, options.lrc)):  # fmt: skip
        if on:
            sidecar = output.with_suffix(suffix)
            wanted.append(
                (sidecar if sidecar != output else output.with_name(output.name + suffix), kind)
            )
    return wanted


def build(
    source: RoutineFile,
    output: Path,
    options: Options = Options(),
    reporter: Reporter | None = None,
    place: Place | None = None,
) -> Built:
    """Compile one validated routine into an MP3 at output, with its sidecars beside it.

    Nothing at any of them changes until the finished, tagged and loudness-checked files
    replace them, each in one rename, none split by an interrupt; what is there must be of
    the same kind (or options.force) and a regular file.
    """
    reporter = reporter or _Silent()
    wanted = outputs(output, options)
    for path, kind in wanted:
        files.output_target(path, kind, force=options.force)
    target = files.output_target(output, force=options.force)
    tools.ffmpeg_path()  # fail before any speech work when ffmpeg is missing
    with files.output_folder(target.parent), contextlib.ExitStack() as stack:
        least = least_seconds(measure(source.routine.steps))  # before any speech: is there room?
        files.ensure_space(target.parent, encoded_size(least, options.bitrate))
        try:
            picture = cover_art(source, Cache(options.cache_dir, reporter.notice))
        except (CoverError, OSError) as exc:  # the image changed since the routine was checked
            message = str(exc) if isinstance(exc, CoverError) else f"cannot read the cover: {exc}"
            raise RoutineError([source.document.problem(("cover",), message)]) from None
        planned = plan_routine(source, options, reporter)
        if planned.voice is not None:
            reporter.speaking(str(planned.voice), planned.timeline.pace())
        timeline = planned.timeline
        files.ensure_space(target.parent, encoded_size(timeline.seconds, options.bitrate))
        leveler = leveler_for(planned, options)
        staged = [
            stack.enter_context(files.staged(files.output_target(path, kind, force=options.force)))
            for path, kind in wanted
        ]
        mp3 = staged[0].path

        encodes = 0

        def encode(levels: Levels, measure: bool) -> Measured | None:
            nonlocal encodes
            encodes += 1
            reporter.start("encoding" if encodes == 1 else "encoding again", timeline.length)
            done = 0

            def advance(samples: int) -> None:
                nonlocal done
                done += samples
                reporter.update(done)

            style = ambience(source, options)
            bed = None
            if style != "none":  # well under the voice, wherever the encoder moves the PCM
                bed = Bed(style, timeline, bed_lufs(timeline, options))
            clip = partial(leveler.clip, levels=levels)
            at = [] if bed is not None else cuts(timeline, options, mp3.parent)  # bed: one piece
            found = None
            if at:
                parts = [(render(timeline, clip, span=span), span[1] - span[0])
                         for span in mp3join.spans(timeline.length, at)]  # fmt: skip
                try:
                    found = encode_parts(parts, mp3, timeline.seconds, options.bitrate,
                                         advance, measure=measure)  # fmt: skip
                except mp3join.JoinError as exc:  # an encoder unlike LAME: one piece after all
                    reporter.notice(f"{exc}; encoding the track in one piece")
                    at = []
                    reporter.start("encoding again", timeline.length)
                    done = 0
            if not at:
                made = render(timeline, clip, bed)
                with contextlib.closing(ahead(made)) as pcm:  # its maker stops as we do
                    found = encode_mp3(pcm, mp3, timeline.seconds, options.bitrate, advance,
                                       measure=measure)  # fmt: skip
            return None if found is None else Measured(lufs=found[0], peak_db=found[1])

        def leveling(done: int, total: int) -> None:
            if done == 0:  # only when there is leveling to do: a warm build has none
                reporter.start("leveling", total)
            reporter.update(done)

        levels = leveler.encode_on_target(timeline, encode, leveling)
        shortfall = missed(levels.gains, options.loudness)
        if shortfall and not any(e.kind != "silence" for e in timeline.events):
            shortfall = "the track has no voice and no chime: nothing to bring to a loudness"
        elif shortfall and ambience(source, options) != "none" and "LUFS" in shortfall:
            shortfall += (
                "; under long silences the bed's quiet stretches count in the loudness measure "
                "(--ambience none, or shorter silences, measure on target)"
            )
        if shortfall:
            reporter.notice(shortfall)
        tags = replace(
            track_tags(source, timeline, picture, place),
            voice=str(planned.voice) if planned.voice else None,
        )
        write_tags(mp3, tags, name=output)
        for (_, kind), file in zip(wanted[1:], staged[1:], strict=True):
            text = webvtt(timeline) if kind is files.VTT else lrc(timeline, source.routine.author)
            try:
                file.path.write_text(text, encoding="utf-8")
            except OSError as exc:  # a full disk, most likely
                raise OutputError(f"cannot write {file.path.parent}: {exc.strerror}") from None
        with files.putting_in_place(target.parent):  # a track and its transcript, together
            for path, kind in wanted:
                files.output_target(path, kind, force=options.force)  # still ours to replace
            with interrupts.deferred():
                for (path, _), file in zip(wanted, staged, strict=True):
                    file.commit()
                    reporter.written(path)
    written = tuple(path for path, _ in wanted)
    routine = source.routine
    lines = tuple((to_seconds(e.start), e.text) for e in spoken(timeline))
    return Built(output, timeline.seconds, written, routine.title, routine.author, tags, lines,
                 routine.language, levels.gains.measured, len(planned.speech.refs),
                 planned.speech.cached)  # fmt: skip


MIN_PART_SECONDS = 30.0  # shorter parts gain less than a second ffmpeg costs to start


def cuts(timeline: Timeline, options: Options, folder: Path | None = None) -> list[int]:
    """Where to cut the track so that its parts are encoded at once, a core each (mp3join);
    none when `folder` has no room for the parts beside the track until they are joined."""
    encoders = options.cores or os.cpu_count() or 1
    silences: list[tuple[int, int]] = []
    for event in timeline.events:  # runs of silence, however many events make each one
        if event.kind != "silence":
            continue
        if silences and silences[-1][1] == event.start:
            silences[-1] = (silences[-1][0], event.end)
        else:
            silences.append((event.start, event.end))
    at = mp3join.cuts(silences, timeline.length, encoders, to_samples(MIN_PART_SECONDS))
    if at and folder is not None:
        try:
            files.ensure_space(folder, 2 * encoded_size(timeline.seconds, options.bitrate))
        except OutputError:
            return []
    return at


class _Cover(BaseModel):
    """A track's cover art as the cache keeps it (JPEG, at most 500 kB)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    jpeg: str  # base64 (pydantic's Base64Bytes decodes what it is given, even raw bytes)


COVER_VERSION = 1  # bump when the drawn cover or the resizing changes


def cover_art(source: RoutineFile, cache: Cache) -> bytes:
    """The track's cover: the routine's own image made square, or a drawn one; from the cache
    when this image (or this title and author) was made before. A build makes it before any
    speech work: drawing at full size takes more memory than the rest of a build's end."""
    routine = source.routine
    if routine.cover:
        image = hashlib.sha256(cover_path(source).read_bytes()).hexdigest()
        key = cache.key(kind="cover", version=COVER_VERSION, image=image)
    else:
        key = cache.key(kind="cover", version=COVER_VERSION, title=routine.title,
                        author=routine.author)  # fmt: skip
    found = cache.load_value(key, _Cover)
    if found is not None:
        with contextlib.suppress(binascii.Error):
            return base64.b64decode(found.jpeg, validate=True)
    if routine.cover:
        picture = cover_from_file(cover_path(source))
    else:
        picture = generated_cover(routine.title, routine.author)
    cache.save_value(key, _Cover(jpeg=base64.b64encode(picture).decode("ascii")))
    return picture


def track_tags(
    source: RoutineFile, timeline: Timeline, picture: bytes, place: Place | None = None
) -> Tags:
    """The MP3's tags: the routine's own, its place in a batch, its cover (cover_art())."""
    routine = source.routine
    return Tags(
        title=routine.title,
        artist=routine.author,
        comment=routine.description,
        chapters=timeline.chapters,
        album=routine.album or (place.album if place else routine.title),
        genre=routine.genre,
        year=datetime.date.today().year,
        track=(place.number, place.count) if place else None,
        cover=picture,
    )


def cover_path(source: RoutineFile) -> Path:
    assert source.routine.cover is not None
    return source.path.parent / source.routine.cover
