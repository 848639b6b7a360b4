"""Loudness for the whole track: one gain for everything, a true-peak limiter, quiet chimes.

The track is normalized once, as a whole (never phrase by phrase): every clip gets the same gain,
measured from what the listener will hear, clips played often counting often. Results are cached
beside the clips, so a rebuild that changes nothing does no DSP at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from .pcm import Samples, Signal, quantize
from .speech.cache import PhraseCache
from .timeline import Event, Timeline

TARGET_LUFS = -16.0  # podcast apps' spoken-word target; EBU R128 is -23
TRUE_PEAK_DBTP = -1.5
MP3_HEADROOM_DB = 1.0  # MP3 encoding raises true peaks; limit this much below the ceiling
MAX_CORRECTION_DB = 3.0  # what a measurement of the encoded MP3 may change
TOLERANCE_LU = 0.2  # close enough to the target not to encode again
LEVEL_VERSION = 2  # bump when the processing changes, so cached gains and clips are not reused


@dataclass(frozen=True)
class Levels:
    gain_db: float  # for every clip, speech and chime alike
    chime_gain_db: float  # more for chimes, so they never stand out above the voice
    ceiling_dbtp: float  # where the limiter holds true peaks
    key: str  # where these levels are remembered
    verified: bool  # measured on an encoded MP3 (MP3 at 96 kbps reads about 0.5 LU quieter)


Source = tuple[str, str]  # ("speech", text) or ("chime", style)


def source_of(event: Event) -> Source:
    return ("chime" if event.kind == "chime" else "speech", event.text)


class Leveler:
    """Measures a timeline's loudness and hands out each clip at its final level."""

    def __init__(
        self,
        raw: Callable[[Source], Samples],
        keys: Callable[[Source], str],
        cache: PhraseCache,
        target_lufs: float = TARGET_LUFS,
        encoding: str = "",  # e.g. "mp3 96k": levels are verified per encoding
        ceiling_dbtp: float = TRUE_PEAK_DBTP,
    ) -> None:
        self.raw, self.keys, self.cache, self.encoding = raw, keys, cache, encoding
        self._plays: Counter[tuple[Source, float]] = Counter()
        self.target = target_lufs
        self.ceiling = ceiling_dbtp - MP3_HEADROOM_DB
        self._processed = lru_cache(maxsize=16)(self._process)  # repeats play back to back

    def levels(self, timeline: Timeline) -> Levels:
        plays = Counter((source_of(e), e.gain_db) for e in timeline.events if e.kind != "silence")
        key = self.cache.digest(
            kind="levels", version=LEVEL_VERSION, target=self.target, ceiling=self.ceiling,
            encoding=self.encoding,
            plays=sorted((self.keys(source), gain, n) for (source, gain), n in plays.items()),
        )  # fmt: skip
        self._plays = plays
        stored = self.cache.get_value(key)
        if stored is None:
            stored = self._measure(plays, self.target)
            self.cache.put_value(key, stored)
        return Levels(
            stored["gain_db"],
            stored["chime_gain_db"],
            self.ceiling,
            key,
            bool(stored.get("verified")),
        )

    def verified(self, levels: Levels, measured_lufs: float) -> Levels:
        """Levels corrected by what the encoded track measured, remembered for next time.

        The encoder's shift is taken as fixed, and the limiter's share found again, so one
        correction lands on the target.
        """
        shift = measured_lufs - self.target if np.isfinite(measured_lufs) else 0.0
        shift = float(np.clip(shift, -MAX_CORRECTION_DB, MAX_CORRECTION_DB))
        stored = self._measure(self._plays, self.target - shift) | {"verified": 1}
        self.cache.put_value(levels.key, stored)
        return replace(levels, gain_db=stored["gain_db"], verified=True)

    def clip(self, event: Event, levels: Levels) -> Samples:
        """The event's clip with every gain applied and its true peaks limited."""
        source = source_of(event)
        gain = (
            levels.gain_db + event.gain_db + (levels.chime_gain_db if source[0] == "chime" else 0)
        )
        return self._processed(source, round(gain, 3))

    def _process(self, source: Source, gain_db: float) -> Samples:
        key = self.cache.digest(kind="leveled", version=LEVEL_VERSION, clip=self.keys(source),
                                gain=gain_db, ceiling=self.ceiling)  # fmt: skip
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        leveled = quantize(_leveled(_float(self.raw(source)), gain_db, self.ceiling))
        self.cache.put(key, leveled)
        return leveled

    def _measure(self, plays: Counter[tuple[Source, float]], target: float) -> dict[str, float]:
        from .loudness import block_powers, integrated, short_term_max  # scipy: only on a miss

        raw = {source: _float(self.raw(source)) for source, _ in plays}
        speech = [signal for (kind, _), signal in raw.items() if kind == "speech"]
        loudest_speech = max((short_term_max(s) for s in speech), default=float("-inf"))
        chime_gain = 0.0
        for (kind, _), signal in raw.items():
            if kind == "chime" and speech:
                chime_gain = min(chime_gain, loudest_speech - short_term_max(signal))

        def extra(source: Source, gain: float) -> float:
            return gain + (chime_gain if source[0] == "chime" else 0.0)

        def loudness(gain_db: float) -> float:
            return integrated(
                (block_powers(_leveled(raw[s], gain_db + extra(s, g), self.ceiling)), n)
                for (s, g), n in plays.items()
            )

        unlimited = integrated(
            (block_powers(raw[s]) * 10 ** (extra(s, g) / 10), n) for (s, g), n in plays.items()
        )
        gain = target - unlimited if np.isfinite(unlimited) else 0.0
        for _ in range(4):  # the limiter takes a little loudness back; make it up and repeat
            error = target - loudness(gain)
            if abs(error) < 0.05:
                break
            gain += error
        return {"gain_db": gain, "chime_gain_db": chime_gain}


def _float(samples: Samples) -> Signal:
    signal: Signal = samples.astype(np.float32) / 32768.0
    return signal


def _leveled(signal: Signal, gain_db: float, ceiling_dbtp: float) -> Signal:
    from .loudness import limit  # scipy takes a second to import; a warm build needs none of it

    return limit(signal * np.float32(10 ** (gain_db / 20)), ceiling_dbtp)
