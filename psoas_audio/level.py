"""Loudness for the whole track: one gain for everything, a true-peak limiter, quiet chimes.

The track is normalized once, as a whole (never phrase by phrase): every clip gets the same gain,
measured from what the listener will hear, clips played often counting often. Results are cached
beside the clips, so a rebuild that changes nothing does no DSP at all.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from . import heap, interrupts
from .cache import Cache
from .chime import TICK_STYLE
from .pcm import Samples, Signal, quantize
from .timeline import Event, Timeline

if TYPE_CHECKING:  # the DSP is imported only when a track is leveled
    from .loudness import Floats, Peaks

TARGET_LUFS = -16.0  # podcast apps' spoken-word target; EBU R128 is -23
TRUE_PEAK_DBTP = -1.5
MP3_HEADROOM_DB = 1.0  # MP3 encoding can raise true peaks; limit this much below the ceiling
PEAK_MARGIN_DB = 0.3  # when the MP3 still peaks too high, the limiter goes this much further
MAX_SHIFT_LU = 3.0  # the most an encoder is believed to move loudness
TYPICAL_SHIFT_LU = -0.45  # LAME at 96k on our voices, until a voice's first track measures it
TOLERANCE_LU = 0.3  # close enough to the target not to encode again
SEARCH_WITHIN_LU = 0.1  # the PCM's gain is searched to this close to its target
REPORT_MISS_LU = 0.5  # further off than this after every try: the build says so
CHIME_BELOW_VOICE_LU = 1.0  # a chime's loudest moment stays this far under the voice's
TICK_BELOW_VOICE_LU = 9.0  # the soft tick's loudest 400 ms, under the voice's loudest 3 s
MAX_PASSES = 8  # secant steps on the track gain (two or three usually settle)
MAX_STEP_DB = 12.0  # the most one step moves the gain: a limited voice may never get there
PEAKS_MARGIN_DB = 4.0  # peaks are remembered for gains up to this much over the first guess
PEAKS_KEPT = 2_000_000  # at most this many peak samples remembered (16 MB), whatever the track
MAX_ENCODES = 3  # encodes of one track while its loudness settles
LEVEL_VERSION = 13  # bump when the processing changes, so cached gains and clips are not reused


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Measured(_Record):
    """The encoded MP3 as ffmpeg's EBU R128 meter reads it."""

    lufs: float  # integrated loudness
    peak_db: float  # its sample peak (dBFS): the PCM's true peaks are held 1 dB lower still


class Gains(_Record):
    """A track's gains as remembered in the cache; verified once its MP3 was measured."""

    gain_db: float  # for every clip, speech and chime alike
    chime_gain_db: float  # more for chimes, so they never stand out above the voice
    tick_gain_db: float = 0.0  # for the soft tick instead: the same distance under the voice
    pcm_target: float  # what the PCM was leveled to, allowing for the encoder's shift
    pcm_lufs: float  # what the PCM measures with these gains: the target, unless out of reach
    ceiling_dbtp: float  # where the limiter holds true peaks in the PCM
    verified: bool = False  # measured: on target, or as close as a few encodes came
    measured: Measured | None = None  # the MP3, as ffmpeg's EBU R128 meter read it


SILENT_PEAK_DBTP = -100.0  # below any sound we make: only pauses, no voice and no chime


def missed(gains: Gains, target_lufs: float) -> str | None:
    """Why a verified track is not what was asked for, in words, or None if it is."""
    measured = gains.measured
    if measured is None:
        return None
    if measured.peak_db <= SILENT_PEAK_DBTP:
        return "the track is silent: nothing in it to bring to a loudness"
    if measured.peak_db > TRUE_PEAK_DBTP + 0.05:
        return (
            f"the track peaks at {measured.peak_db:.1f} dBFS, above {TRUE_PEAK_DBTP:g}; "
            "a lower --loudness leaves more room"
        )
    if abs(measured.lufs - target_lufs) > REPORT_MISS_LU:
        return (
            f"the track measures {measured.lufs:.1f} LUFS, not the {target_lufs:g} asked for: "
            "its peaks leave no more room"
        )
    return None


class EncoderShift(_Record):
    """How far the encoder moved the last track in this voice: the next track's first guess."""

    shift: float


@dataclass(frozen=True)
class Levels:
    gains: Gains
    key: str  # where these gains are remembered


Source = tuple[str, str]  # ("speech", text) or ("chime", style)
_Known = tuple[float, "Peaks"]  # a clip's peaks at this event gain
T = TypeVar("T")
R = TypeVar("R")
Progress = Callable[[int, int], None]  # (done, total)
Plays = Counter[tuple[Source, float]]  # (source, event gain) -> times played


def source_of(event: Event) -> Source:
    return ("chime" if event.kind == "chime" else "speech", event.text)


class Leveler:
    """Measures a timeline's loudness and hands out each clip at its final level."""

    def __init__(
        self,
        raw: Callable[[Source], Samples],
        content: Callable[[Source], str],  # the hash of a source's samples
        cache: Cache,
        target_lufs: float = TARGET_LUFS,
        sound: str = "",  # the voice and the encoding: what the encoder's shift depends on
        ceiling_dbtp: float = TRUE_PEAK_DBTP,
        cores: int = 1,  # clips are measured this many at once
    ) -> None:
        self.raw, self.content, self.cache, self.sound = raw, content, cache, sound
        self.target = target_lufs
        self.ceiling = ceiling_dbtp - MP3_HEADROOM_DB
        self.cores = cores
        self._shift_key = cache.key(kind="encoder-shift", version=LEVEL_VERSION, sound=sound)
        self._processed = lru_cache(maxsize=16)(self._process)  # repeats play back to back

    def encode_on_target(
        self,
        timeline: Timeline,
        encode: Callable[[Levels, bool], Measured | None],
        progress: Progress | None = None,
    ) -> Levels:
        """Encode the track with its levels until the measured MP3 is on target (a few tries).

        encode(levels, measure) writes the MP3 and, if asked, returns it as measured. The
        encoder moves loudness a little (LAME at 96 kbps: about -0.4 LU on speech) and can
        raise true peaks. The PCM is aimed at the target less the shift this voice's last
        track measured (or that typical shift, for a voice's first track), so one encode is
        usually on target; a miss of more than TOLERANCE_LU re-aims it and encodes again.
        Once verified, a track's gains are reused with no measuring at all, and missed() says
        if even the last try fell short.
        """
        levels = self.levels(timeline, progress)
        for attempt in range(MAX_ENCODES):
            measured = encode(levels, not levels.gains.verified)
            if levels.gains.verified or measured is None:
                break
            levels = self._verify(
                levels, timeline, measured, last=attempt == MAX_ENCODES - 1, progress=progress
            )
            if levels.gains.verified:
                break  # the file just encoded is on target, or as close as it will come
        return levels

    def levels(self, timeline: Timeline, progress: Progress | None = None) -> Levels:
        """This track's gains: remembered once verified, else estimated for the target."""
        plays = self._plays(timeline)
        key = self.cache.key(
            kind="levels", version=LEVEL_VERSION, target=self.target, ceiling=self.ceiling,
            sound=self.sound,
            plays=sorted((self.content(source), gain, n) for (source, gain), n in plays.items()),
        )  # fmt: skip
        gains = self.cache.load_value(key, Gains)
        if gains is None:  # start from the shift this voice's last build measured, if any
            shift = self.cache.load_value(self._shift_key, EncoderShift)
            expected = shift.shift if shift else TYPICAL_SHIFT_LU
            gains = self._measure(plays, self.target - expected, self.ceiling, progress)
            heap.give_back()
        return Levels(gains, key)

    def _verify(
        self,
        levels: Levels,
        timeline: Timeline,
        measured: Measured,
        last: bool,
        progress: Progress | None = None,
    ) -> Levels:
        """Levels after measuring the encoded track: kept if on target, else re-aimed."""
        gains = levels.gains
        loud_enough = abs(measured.lufs - self.target) <= TOLERANCE_LU
        peaks_held = measured.peak_db <= TRUE_PEAK_DBTP
        from .loudness import ABSOLUTE_GATE_LUFS  # imported already: the MP3 was metered

        silent = not np.isfinite(measured.lufs) or measured.lufs <= ABSOLUTE_GATE_LUFS
        if last or (loud_enough and peaks_held) or silent:  # silence: no shift to learn
            settled = gains.model_copy(update={"verified": True, "measured": measured})
            self.cache.save_value(levels.key, settled)
            return Levels(settled, levels.key)
        pcm_target, ceiling = gains.pcm_target, gains.ceiling_dbtp
        if not loud_enough:  # the encoder's shift: from what the PCM was, not what it aimed at
            shift = float(np.clip(measured.lufs - gains.pcm_lufs, -MAX_SHIFT_LU, MAX_SHIFT_LU))
            self.cache.save_value(self._shift_key, EncoderShift(shift=shift))
            pcm_target = self.target - shift
        if not peaks_held:
            ceiling -= measured.peak_db - TRUE_PEAK_DBTP + PEAK_MARGIN_DB
        gains = self._measure(self._plays(timeline), pcm_target, ceiling, progress)
        heap.give_back()
        return Levels(gains, levels.key)

    def _each(self, work: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[T, R]]:
        """(item, work(item)) for each item in order, worked on self.cores at a time: the
        DSP is numpy's FFTs and soxr, which let other threads run while they work."""
        if self.cores <= 1 or len(items) <= 1:
            yield from ((item, work(item)) for item in items)
            return
        pool = ThreadPoolExecutor(min(self.cores, len(items)))
        ahead: deque[tuple[T, Future[R]]] = deque()
        try:
            for item in items:  # a few ahead, not all: the results wait in memory until taken
                ahead.append((item, pool.submit(work, item)))
                if len(ahead) > 2 * self.cores:
                    done, future = ahead.popleft()
                    yield done, future.result()
            while ahead:
                done, future = ahead.popleft()
                yield done, future.result()
        finally:  # leaving early: what has not begun never does
            pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _plays(timeline: Timeline) -> Plays:
        return Counter((source_of(e), e.gain_db) for e in timeline.events if e.kind != "silence")

    def clip(self, event: Event, levels: Levels) -> Samples:
        """The event's clip with every gain applied and its true peaks limited."""
        source = source_of(event)
        return self._processed(source, *_settings(source, event.gain_db, levels.gains))

    def _process(
        self, source: Source, gain_db: float, ceiling: float, known: _Known | None = None
    ) -> Samples:
        """The leveled clip, keyed by the raw clip's content: a damaged one is made again.
        known: the clip's peaks at an event gain, as the search found them (no oversampling)."""
        key = self.cache.key(kind="leveled", version=LEVEL_VERSION, clip=self.content(source),
                             gain=gain_db, ceiling=ceiling)  # fmt: skip
        found = self.cache.load_clip(key)
        if found is not None:
            return found[1]
        if known is not None and known[1].reach(gain_db - known[0], ceiling):
            from .loudness import limit_peaks

            event_gain, peaks = known
            at_event = _float(self.raw(source), event_gain)
            leveled = quantize(limit_peaks(at_event, peaks, gain_db - event_gain, ceiling))
        else:
            leveled = quantize(_leveled(_float(self.raw(source)), gain_db, ceiling))
        self.cache.save_clip(key, leveled)
        return leveled

    def _signal(self, clip: _Speech) -> Signal:
        return _float(self.raw(clip.source), clip.event_gain)

    def _measure(
        self, plays: Plays, pcm_target: float, ceiling: float, progress: Progress | None = None
    ) -> Gains:
        """The gains that bring the limited track to target; clips are read one at a time.

        For each track gain tried, the chimes are set so that their loudest short-term
        loudness is CHIME_BELOW_VOICE_LU under the voice's as limited at that gain (the limiter
        tames speech peaks but hardly a bell), and the whole track is measured. The gain is
        then found by the secant method: a few passes over the speech, none over the chimes,
        whose loudness simply follows their gain.

        progress(done, total) counts clips: measured, oversampled, the passes, then leveled.
        """
        total = 4 * len(plays)
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done = min(done + count, total)
            if progress:
                progress(done, total)

        advance(0)
        with interrupts.deferred():  # an interrupt inside an extension's import breaks it
            from .loudness import (
                Peaks,
                from_hops,
                integrated,
                limited_hops,
                limited_hops_near,
                peak_envelope,
                plain_hops,
                to_lufs,
                weighted_hops,
            )  # fmt: skip

        def weighed(play: tuple[tuple[Source, float], int]) -> tuple[Floats, Floats]:
            (source, event_gain), _ = play
            signal = _float(self.raw(source), event_gain)
            return weighted_hops(signal), plain_hops(signal)

        chimes: list[tuple[Floats, int, float]] = []  # block powers at 0 dB, plays, loudest
        ticks: list[tuple[Floats, int]] = []  # the soft tick's block powers, plays
        speech: list[_Speech] = []
        for play, (hops, plain) in self._each(weighed, list(plays.items())):
            (source, event_gain), count = play
            if source == ("chime", TICK_STYLE):
                ticks.append((from_hops(hops)[0], count))
            elif source[0] == "chime":
                powers, short_term = from_hops(hops)
                chimes.append((powers, count, short_term))
            else:
                speech.append(_Speech(source, event_gain, count, hops, plain, *from_hops(hops)))
            advance(1)
        loudest_chime = max((c[2] for c in chimes), default=float("-inf"))
        loudest_tick = max((float(p.max(initial=0.0)) for p, _ in ticks), default=0.0)
        kept = 0  # peak samples remembered, within PEAKS_KEPT

        def remember_peaks(most_gain: float) -> None:
            """Each clip's true peak, and its peak samples that a gain up to most_gain could
            limit: the one oversampling of each clip in the whole search."""
            nonlocal kept
            floor = 10 ** ((ceiling - most_gain) / 20)

            def oversampled(clip: _Speech) -> tuple[float, Peaks]:
                envelope = peak_envelope(self._signal(clip))
                return float(envelope.max(initial=0.0)), Peaks.of(envelope, floor)

            for clip, (loudest, peaks) in self._each(oversampled, speech):
                clip.peak = 20 * np.log10(loudest) if loudest > 0 else float("-inf")
                clip.peaks = None
                if kept + len(peaks.where) <= PEAKS_KEPT:  # memory stays bounded
                    clip.peaks = peaks
                    kept += len(peaks.where)
                advance(1)
            advance(len(plays) - len(speech))

        def heard(gain: float | None) -> tuple[float, float, float]:
            """(the track's loudness, its chimes' gain, the tick's) at this track gain (None:
            unlimited). The tick is set apart from the chimes: by their gain it was 5 dB
            louder in a routine with no final chime than beside a bell.

            A clip whose true peak stays under the ceiling at this gain is only scaled: its
            block powers follow the gain. The rest are limited, and lose in each hop the share
            of its energy that the limiter took (limited_hops)."""
            track = gain or 0.0

            def limited_powers(clip: _Speech) -> tuple[Floats, float]:
                if gain is None or clip.peak + gain <= ceiling:
                    return clip.powers * 10 ** (track / 10), clip.short_term + track
                if clip.peaks is not None and clip.peaks.reach(gain, ceiling):  # the usual way
                    scale = 10 ** (clip.event_gain / 20) / 32768
                    return from_hops(limited_hops_near(clip.hops, clip.plain,
                                                       self.raw(clip.source), scale,
                                                       clip.peaks, gain, ceiling))  # fmt: skip
                signal = self._signal(clip)  # beyond the peaks remembered: limited in full
                scaled = signal * np.float32(10 ** (gain / 20))
                hops = clip.hops * 10 ** (gain / 10)
                return from_hops(limited_hops(hops, scaled, _leveled(signal, gain, ceiling)))

            blocks: list[tuple[Floats, int]] = []
            voice = float("-inf")
            for clip, (powers, short_term) in self._each(limited_powers, speech):
                blocks.append((powers, clip.count))
                voice = max(voice, short_term)
            chime_gain = tick_gain = 0.0
            if np.isfinite(voice):  # chimes never above the voice; never raised above the track
                chime_gain = min(0.0, voice - CHIME_BELOW_VOICE_LU - (loudest_chime + track))
                if loudest_tick > 0:  # the tick: always as far under the voice
                    tick_gain = voice - TICK_BELOW_VOICE_LU - (to_lufs(loudest_tick) + track)
            scale = 10 ** ((track + chime_gain) / 10)
            blocks += [(powers * scale, count) for powers, count, _ in chimes]
            blocks += [(powers * 10 ** ((track + tick_gain) / 10), n) for powers, n in ticks]
            advance(len(plays) // 3)  # a pass: the search takes about three
            return integrated(blocks), chime_gain, tick_gain

        unlimited, _, _ = heard(None)
        gain = pcm_target - unlimited if np.isfinite(unlimited) else 0.0
        remember_peaks(gain + PEAKS_MARGIN_DB)
        measured, chime_gain, tick_gain = heard(gain)
        tried: tuple[float, float] | None = None  # the gain before, and what it measured
        for _ in range(MAX_PASSES):
            if not np.isfinite(measured) or abs(pcm_target - measured) < SEARCH_WITHIN_LU:
                break
            if tried is None and measured < pcm_target:
                onset = ceiling - max((clip.peak for clip in speech), default=ceiling)
                step = _first_step(gain - onset, pcm_target - measured)
            else:
                slope = 1.0  # LU per dB: 1 unlimited, less as the limiter works
                if tried is not None and gain != tried[0]:
                    slope = float(np.clip((measured - tried[1]) / (gain - tried[0]), 0.1, 1.0))
                step = (pcm_target - measured) / slope
            step = float(np.clip(step, -MAX_STEP_DB, MAX_STEP_DB))
            tried = (gain, measured)
            gain += step
            measured, chime_gain, tick_gain = heard(gain)
        advance(total - len(plays) - done)  # the search is over; the clips are left
        gains = Gains(
            gain_db=gain, chime_gain_db=chime_gain, tick_gain_db=tick_gain, pcm_target=pcm_target,
            pcm_lufs=measured if np.isfinite(measured) else pcm_target, ceiling_dbtp=ceiling,
        )  # fmt: skip
        known = {(c.source, c.event_gain): c.peaks for c in speech if c.peaks}
        for _ in self._each(partial(self._prepare, gains=gains, known=known), list(plays)):
            advance(1)
        return gains

    def _prepare(
        self, play: tuple[Source, float], gains: Gains, known: Mapping[tuple[Source, float], Peaks]
    ) -> None:
        """Level and cache a clip at these gains while the search's peaks are at hand: the
        encode then only reads it, as a warm build does, and the peaks are gone before the
        encoders start (they were 15 MB of a 30-minute build's peak memory)."""
        source, event_gain = play
        peaks = known.get(play)
        at_event = None if peaks is None else (event_gain, peaks)
        self._process(source, *_settings(source, event_gain, gains), at_event)


@dataclass
class _Speech:
    """One spoken clip as the track plays it, measured once at its event gain."""

    source: Source
    event_gain: float
    count: int  # times played
    hops: Floats  # K-weighted power per 100 ms hop, unlimited
    plain: Floats  # the unweighted sum of squares per hop: what a limiter takes is a share
    powers: Floats  # gating-block powers, unlimited
    short_term: float  # loudest 3 s, unlimited (LUFS)
    peak: float = float("-inf")  # true peak (dBTP), once the search knows where to look
    peaks: Peaks | None = None  # the samples a gain the search may try could limit


def _first_step(above_onset: float, lost: float) -> float:
    """The gain to add to the unlimited estimate, where the limiter took `lost` LU at a gain
    `above_onset` dB over the one that brings the loudest clip to the ceiling.

    The limiter's loss grows about as the square of the gain over that onset (measured: powers
    2.1 to 2.6 on eSpeak NG and piper), so the step solves x - lost * ((a + x) / a)^2 = 0 for
    the loss to be made up; the secant takes it from there. Measured on the benchmark routine:
    7.48 dB for a search that settled at 7.43, where assuming a steady loss gave 6.2."""
    a = above_onset
    if a <= 0 or lost <= 0:
        return lost
    if 4 * lost < a:  # y = a + x: lost * y^2 / a^2 - y + a = 0, its lower root
        return float((1 - np.sqrt(1 - 4 * lost / a)) * a * a / (2 * lost) - a)
    return lost / 0.2  # beyond the model: the steepest step the secant would take


def _settings(source: Source, event_gain: float, gains: Gains) -> tuple[float, float]:
    """(gain, ceiling) a clip is leveled at, rounded as its cache key has them."""
    chime = 0.0
    if source == ("chime", TICK_STYLE):
        chime = gains.tick_gain_db
    elif source[0] == "chime":
        chime = gains.chime_gain_db
    return round(gains.gain_db + event_gain + chime, 3), round(gains.ceiling_dbtp, 3)


def _float(samples: Samples, gain_db: float = 0.0) -> Signal:
    """The clip as floats at this gain: one copy, scaled in place."""
    signal: Signal = samples.astype(np.float32)
    signal *= np.float32(10 ** (gain_db / 20) / 32768)
    return signal


def _leveled(signal: Signal, gain_db: float, ceiling_dbtp: float) -> Signal:
    """limit(signal at gain_db, ceiling)."""
    with interrupts.deferred():  # an interrupt inside an extension's import breaks it
        from .loudness import limit

    return limit(signal * np.float32(10 ** (gain_db / 20)), ceiling_dbtp)
