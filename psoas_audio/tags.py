"""ID3v2.3 tags that phones and desktop players read: title, artist, album, genre, year, track
number, a COMM description, the cover (APIC), and chapters (CHAP frames in time order under one
ordered, top-level CTOC).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mutagen import MutagenError
from mutagen.id3 import (
    APIC,
    CHAP,
    COMM,
    CTOC,
    ID3,
    TALB,
    TCON,
    TDRC,
    TIT2,
    TPE1,
    TRCK,
    TXXX,
    CTOCFlags,
    ID3NoHeaderError,
    PictureType,
)

from .errors import EncodeError
from .pcm import SAMPLE_RATE
from .timeline import Span

UTF8 = 3  # mutagen writes UTF-16 with a BOM for it in v2.3, which every player reads
NO_OFFSET = 0xFFFFFFFF  # CHAP byte offsets unused: players seek by time


@dataclass(frozen=True)
class Tags:
    title: str
    artist: str | None = None
    comment: str | None = None
    chapters: tuple[Span, ...] = ()  # the track's chapters, as the timeline lays them out
    album: str | None = None
    genre: str | None = None
    year: int | None = None
    track: tuple[int, int] | None = None  # (n, of N) in a batch
    cover: bytes | None = None  # a JPEG
    voice: str | None = None  # who spoke: "piper, Joe (en_US, medium) (joe), 140 wpm"


VOICE_FRAME = "psoas-audio voice"  # the TXXX frame's description


def write_tags(path: Path, tags: Tags, name: Path | None = None) -> None:
    """Tag the MP3 at path (a staged file for `name`) in place; ID3v2.3, chapters in order."""
    try:
        try:
            id3 = ID3(path)
        except ID3NoHeaderError:
            id3 = ID3()
        id3.add(TIT2(encoding=UTF8, text=[tags.title]))
        if tags.artist:
            id3.add(TPE1(encoding=UTF8, text=[tags.artist]))
        if tags.album:
            id3.add(TALB(encoding=UTF8, text=[tags.album]))
        if tags.genre:
            id3.add(TCON(encoding=UTF8, text=[tags.genre]))
        if tags.year:
            id3.add(TDRC(encoding=UTF8, text=[str(tags.year)]))  # saved as TYER in v2.3
        if tags.track:
            id3.add(TRCK(encoding=UTF8, text=[f"{tags.track[0]}/{tags.track[1]}"]))
        if tags.voice:
            id3.add(TXXX(encoding=UTF8, desc=VOICE_FRAME, text=[tags.voice]))
        if tags.comment:
            id3.add(COMM(encoding=UTF8, lang="eng", desc="", text=[tags.comment]))
        if tags.cover:
            id3.add(
                APIC(encoding=UTF8, mime="image/jpeg", type=PictureType.COVER_FRONT,
                     desc="Cover", data=tags.cover)
            )  # fmt: skip
        _add_chapters(id3, tags.chapters)
        id3.save(path, v2_version=3)
        _chapters_in_time_order(path)
    except (MutagenError, OSError) as exc:
        raise EncodeError(f"cannot write the tags of {name or path}: {exc}") from None


def _add_chapters(id3: ID3, chapters: tuple[Span, ...]) -> None:
    if not chapters:
        return
    ids = [f"chp{index:03d}" for index in range(len(chapters))]
    for element_id, chapter in zip(ids, chapters, strict=True):
        id3.add(
            CHAP(
                element_id=element_id,
                start_time=_ms(chapter.start),
                end_time=_ms(chapter.end),
                start_offset=NO_OFFSET,
                end_offset=NO_OFFSET,
                sub_frames=[TIT2(encoding=UTF8, text=[chapter.title])],
            )
        )
    id3.add(
        CTOC(
            element_id="toc",
            flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
            child_element_ids=ids,
            sub_frames=[TIT2(encoding=UTF8, text=["Chapters"])],
        )
    )


def _ms(samples: int) -> int:
    return round(samples * 1000 / SAMPLE_RATE)


def _chapters_in_time_order(path: Path) -> None:
    """Rewrite the saved tag's frames with the CHAP frames last and in time order.

    mutagen orders frames by their encoded size when it saves; players that read CHAP frames
    rather than the CTOC (ffprobe, AntennaPod) then list chapters out of order. The frames are
    only moved: the tag keeps its size, so the audio after it does not move.
    """
    with path.open("r+b") as handle:
        header = handle.read(10)
        if len(header) < 10 or header[:4] != b"ID3\x03" or header[5] & 0xC0:
            return  # not a plain v2.3 tag (unsynchronised or with an extended header)
        size = sum((byte & 0x7F) << (7 * (3 - i)) for i, byte in enumerate(header[6:10]))
        body = handle.read(size)
        frames, position = [], 0
        while position + 10 <= len(body) and body[position : position + 4] != b"\0\0\0\0":
            length = 10 + int.from_bytes(body[position + 4 : position + 8], "big")
            frames.append(body[position : position + length])
            position += length
        chapters = sorted((f for f in frames if f[:4] == b"CHAP"), key=_chapter_start)
        others = [f for f in frames if f[:4] != b"CHAP"]
        ordered = b"".join(others + chapters)
        if len(ordered) != position:
            raise EncodeError(f"cannot order the chapters of {path.name}: unreadable tag")
        handle.seek(10)
        handle.write(ordered)


def _chapter_start(frame: bytes) -> int:
    """A CHAP frame's start time: after the 10-byte header and the NUL-ended element id."""
    id_end = frame.index(b"\0", 10)
    return int.from_bytes(frame[id_end + 1 : id_end + 5], "big")
