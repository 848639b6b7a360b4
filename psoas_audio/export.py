"""PCM -> MP3 through ffmpeg (libmp3lame), with ID3v2.3 tags and chapters, written atomically."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mutagen.id3 import CHAP, CTOC, ID3, TIT2, CTOCFlags

from .errors import EncodeError
from .pcm import SAMPLE_RATE
from .timeline import Chapter

DEFAULT_BITRATE = 96  # kbps CBR; below 64 some iPhones misread the length


@dataclass(frozen=True)
class Tags:
    title: str
    artist: str | None = None
    comment: str | None = None
    chapters: tuple[Chapter, ...] = ()


def ffmpeg_path() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise EncodeError(
            "ffmpeg is not installed; on Debian/Ubuntu: sudo apt-get install ffmpeg "
            "(or run scripts/demo, which installs it)"
        )
    return path


def encode_mp3(
    pcm: Iterable[bytes],
    target: Path,
    tags: Tags,
    bitrate: int = DEFAULT_BITRATE,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Encode to a temporary file beside target, tag it, then rename it over target.

    A failure or Ctrl-C leaves no partial file, and an older target untouched.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _temporary_beside(target) as temp:
            _encode(pcm, temp, tags, bitrate, progress)
            _write_chapters(temp, tags.chapters)
            temp.chmod(_file_mode(target))
            os.replace(temp, target)
    except OSError as exc:
        raise EncodeError(f"cannot write {target}: {exc.strerror or exc}") from None


def _encode(
    pcm: Iterable[bytes],
    temp: Path,
    tags: Tags,
    bitrate: int,
    progress: Callable[[int], None] | None,
) -> None:
    command = [
        ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "pipe:0",
        "-c:a", "libmp3lame", "-b:a", f"{bitrate}k", "-ar", str(SAMPLE_RATE), "-ac", "1",
        "-write_xing", "1", "-id3v2_version", "3",
        "-metadata", f"title={tags.title}",
        *(["-metadata", f"artist={tags.artist}"] if tags.artist else []),
        *(["-metadata", f"comment={tags.comment}"] if tags.comment else []),
        "-f", "mp3", str(temp),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert process.stdin is not None and process.stderr is not None
    try:
        for chunk in pcm:
            process.stdin.write(chunk)
            if progress:
                progress(len(chunk) // 2)
        process.stdin.close()
    except BrokenPipeError:
        pass  # ffmpeg died; its message follows
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        errors = process.stderr.read().decode(errors="replace").strip()
        process.stderr.close()
    if process.wait() != 0:
        raise EncodeError(f"ffmpeg failed to encode {temp.name}: {errors or 'no message'}")


def measure_loudness(path: Path) -> float:
    """Integrated loudness (LUFS) of an audio file, by ffmpeg's EBU R128 meter."""
    result = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128",
         "-f", "null", "-"],
        capture_output=True, text=True,
    )  # fmt: skip
    summary = result.stderr.rpartition("Summary:")[2]
    try:
        return float(summary.split("I:")[1].split("LUFS")[0])
    except (IndexError, ValueError):
        raise EncodeError(f"ffmpeg could not measure the loudness of {path}") from None


def _write_chapters(path: Path, chapters: tuple[Chapter, ...]) -> None:
    """ID3v2.3 CHAP frames plus a CTOC listing them, for the outermost sections."""
    outer: list[Chapter] = []
    for chapter in chapters:  # sorted by start, outer before inner
        if not outer or chapter.start >= outer[-1].end:
            outer.append(chapter)
    if not outer:
        return
    tags = ID3(path)
    ids = [f"chp{index}" for index in range(len(outer))]
    for element_id, chapter in zip(ids, outer, strict=True):
        tags.add(
            CHAP(
                element_id=element_id,
                start_time=round(chapter.start * 1000 / SAMPLE_RATE),
                end_time=round(chapter.end * 1000 / SAMPLE_RATE),
                sub_frames=[TIT2(text=[chapter.title])],
            )
        )
    tags.add(
        CTOC(
            element_id="toc",
            flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
            child_element_ids=ids,
            sub_frames=[TIT2(text=["Chapters"])],
        )
    )
    tags.save(path, v2_version=3)


def _file_mode(target: Path) -> int:
    """The mode a plainly created file would get (mkstemp makes it private), or the old file's."""
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def _temporary_beside(target: Path) -> Iterator[Path]:
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
    finally:
        temp.unlink(missing_ok=True)
