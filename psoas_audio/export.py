"""PCM -> MP3 through ffmpeg (libmp3lame), and the loudness of an MP3 as players measure it.

Both work on a staged file (see files.py): nothing here touches the user's target.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from . import tools
from .durations import spoken_length
from .errors import EncodeError
from .pcm import SAMPLE_RATE

DEFAULT_BITRATE = 96  # kbps CBR; below 64 some iPhones misread the length


def encoder_command(target: Path, bitrate: int = DEFAULT_BITRATE) -> list[str]:
    """ffmpeg reading mono s16le PCM on stdin, writing CBR MP3 with its Xing/LAME header."""
    return [
        tools.ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "pipe:0",
        "-c:a", "libmp3lame", "-b:a", f"{bitrate}k", "-ar", str(SAMPLE_RATE), "-ac", "1",
        "-write_xing", "1", "-id3v2_version", "3", "-map_metadata", "-1",
        "-f", "mp3", str(target),
    ]  # fmt: skip


def encoded_size(seconds: float, bitrate: int = DEFAULT_BITRATE) -> int:
    """About how many bytes the MP3 of a track this long takes (CBR, plus tags and cover)."""
    return int(seconds * bitrate * 1000 / 8) + 1024 * 1024


def encode_mp3(
    pcm: Iterable[bytes],
    target: Path,
    seconds: float,
    bitrate: int = DEFAULT_BITRATE,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Encode the stream into target; progress(samples) as ffmpeg takes each chunk."""
    doing = f"encoding {spoken_length(max(1, round(seconds)))} of audio"
    for size in tools.feed(encoder_command(target, bitrate), pcm, seconds, doing):
        if progress:
            progress(size // 2)


SILENCE_DB = -120.0  # what we report for digital silence, where the meter says -inf


def measure_loudness(path: Path, seconds: float) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) of an audio file, by ffmpeg's EBU R128 meter."""
    command = [tools.ffmpeg_path(), "-hide_banner", "-nostdin", "-nostats", "-i", str(path),
               "-af", "ebur128=framelog=verbose:peak=true", "-f", "null", "-"]  # fmt: skip
    printed = tools.run(command, seconds, "measuring the loudness")
    summary = printed.rpartition("Summary:")[2]
    try:
        lufs = float(summary.split("I:")[1].split("LUFS")[0])
        peak = float(summary.split("True peak:")[1].split("Peak:")[1].split("dBFS")[0])
    except (IndexError, ValueError):
        raise EncodeError(f"ffmpeg could not measure the loudness of {path.name}") from None
    # A track of nothing but silence reads -70 LUFS (the meter's floor) and a true peak of -inf.
    return max(lufs, SILENCE_DB), max(peak, SILENCE_DB)
