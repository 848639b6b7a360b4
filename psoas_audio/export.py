"""PCM -> MP3 through ffmpeg (libmp3lame), metered as players measure it while it is written.

It works on a staged file (see files.py): nothing here touches the user's target.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from . import files, mp3join, tools
from .durations import spoken_length
from .errors import OutputError
from .pcm import SAMPLE_RATE

DEFAULT_BITRATE = 96  # kbps CBR; below 64 some iPhones misread the length


def encoder_command(
    target: Path, bitrate: int = DEFAULT_BITRATE, *, copy: bool = False, part: bool = False
) -> list[str]:
    """ffmpeg reading mono s16le PCM on stdin, writing CBR MP3 with its Xing/LAME header.

    copy: the same MP3 stream also goes to stdout (ffmpeg's tee muxer), for a meter to read as
    it is written; the file is byte for byte what it would be without. A file that cannot be
    written (a full disk) stops ffmpeg: by default the tee went on with the other output and
    exited 0, leaving a truncated file behind. The copy is written 32 kB at a time, not frame
    by frame (ffmpeg flushes a pipe after every packet): a meter woken for every 300-byte
    frame cost a cold build 0.6 s. part: one part of a
    track encoded in parts (mp3join.py): no ID3 tag before its Info header.
    """
    id3 = "0" if part else "3"
    command = [
        tools.ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "pipe:0",
        "-c:a", "libmp3lame", "-b:a", f"{bitrate}k", "-ar", str(SAMPLE_RATE), "-ac", "1",
        "-map_metadata", "-1",
    ]  # fmt: skip
    if not copy:
        return [*command, "-write_xing", "1", "-id3v2_version", id3, "-f", "mp3", str(target)]
    escaped = "".join("\\" + c if c in "\\'|[]" else c for c in f"file:{target.absolute()}")
    return [
        *command, "-map", "0:a", "-f", "tee",
        f"[f=mp3:write_xing=1:id3v2_version={id3}:onfail=abort]{escaped}"
        "|[f=mp3:write_xing=0:id3v2_version=0:flush_packets=0]pipe:1",
    ]  # fmt: skip


def encoded_size(seconds: float, bitrate: int = DEFAULT_BITRATE) -> int:
    """About how many bytes the MP3 of a track this long takes (CBR, plus tags and cover)."""
    return int(seconds * bitrate * 1000 / 8) + 1024 * 1024


SILENCE_DB = -120.0  # what we report for digital silence, where the meter says -inf


def encode_mp3(
    pcm: Iterable[bytes],
    target: Path,
    seconds: float,
    bitrate: int = DEFAULT_BITRATE,
    progress: Callable[[int], None] | None = None,
    *,
    measure: bool = False,
) -> tuple[float, float] | None:
    """Encode the stream into target; progress(samples) as ffmpeg takes each chunk.

    measure: also (integrated LUFS, sample peak dBFS) of the MP3 as players hear it: ffmpeg
    decodes the encoded stream while it is written (on another core: a second pass over the
    file would cost as long again) and loudness.Meter measures what it decodes. Not its true
    peak: that costs as much as the encoder, and the limiter holds the PCM's true peaks 1 dB
    under the ceiling, more than LAME moves them (0.2 to 0.3 dB measured).
    """
    meter = _Metered() if measure else None
    tools.feed(
        encoder_command(target, bitrate, copy=measure), pcm, seconds, _doing(seconds),
        _in_samples(progress), _decoder(measure), meter,
    )  # fmt: skip
    return None if meter is None else _Metered.together([meter])


def encode_parts(
    parts: Sequence[tuple[Iterable[bytes], int]],
    target: Path,
    seconds: float,
    bitrate: int = DEFAULT_BITRATE,
    progress: Callable[[int], None] | None = None,
    *,
    measure: bool = False,
) -> tuple[float, float] | None:
    """As encode_mp3, for a track cut into parts (mp3join.cuts): each part's PCM and its
    samples. The parts are encoded at once, each by its own ffmpeg, and joined into target,
    decoding sample for sample as one encode would. With measure, each part is decoded and
    metered as it is written; the track's loudness is that of its parts together (they meet
    in silence, which the gate leaves out). JoinError if they cannot be joined.
    """
    meters = [_Metered() for _ in parts] if measure else []
    with contextlib.ExitStack() as stack:
        paths = (
            [target]
            + [
                stack.enter_context(files.scratch(target.parent, "part", ".mp3"))  # a short name
                for _ in parts[1:]
            ]
        )
        commands = [encoder_command(path, bitrate, copy=measure, part=True) for path in paths]
        tools.feed_many(
            commands, [stream for stream, _ in parts], seconds, _doing(seconds),
            _in_samples(progress), _decoder(measure), meters,
        )  # fmt: skip
        try:
            mp3join.join(paths, [length for _, length in parts])
        except OSError as exc:  # the disk filled as the parts were laid end to end
            raise OutputError(f"cannot write {target.parent}: {exc.strerror}") from None
    if progress is not None:  # the silence left out before each cut is in the track too
        progress(mp3join.FRAME * (len(parts) - 1))
    return _Metered.together(meters) if measure else None


def _doing(seconds: float) -> str:
    return f"encoding {spoken_length(max(1, round(seconds)))} of audio"


def _in_samples(progress: Callable[[int], None] | None) -> Callable[[int], None] | None:
    """progress(samples) as ffmpeg is fed bytes."""
    return None if progress is None else (lambda size: progress(size // 2))


def _decoder(measure: bool) -> list[str] | None:
    """ffmpeg decoding an MP3 stream on its stdin to float PCM on its stdout, if the track is
    to be measured. Floats: a decoded MP3 can go past full scale, and its peak is measured.
    Written in 32 kB pieces, not a frame at a time (see encoder_command)."""
    if not measure:
        return None
    return [tools.ffmpeg_path(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
            "-f", "mp3", "-i", "pipe:0", "-flush_packets", "0", "-f", "f32le", "-ac", "1",
            "pipe:1"]  # fmt: skip


class _Metered:
    """The decoder's output, as it comes, into a loudness meter (its chunks split floats)."""

    def __init__(self) -> None:
        from .loudness import Meter  # numpy: only builds that measure need it

        self._meter = Meter()
        self._rest = b""

    def __call__(self, chunk: bytes) -> None:
        import numpy as np

        data = self._rest + chunk if self._rest else chunk
        whole = len(data) - len(data) % 4
        self._meter.add(np.frombuffer(data[:whole], "<f4"))
        self._rest = data[whole:]

    @staticmethod
    def together(parts: Sequence[_Metered]) -> tuple[float, float]:
        """(integrated LUFS, sample peak dBFS) of parts played one after another, digital
        silence as SILENCE_DB."""
        from .loudness import Meter

        lufs, peak = Meter.together([part._meter for part in parts])
        return max(lufs, SILENCE_DB), max(peak, SILENCE_DB)
