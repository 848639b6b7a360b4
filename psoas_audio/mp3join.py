"""One MP3 from parts encoded at the same time, sample for sample what one encode would give.

A long track is cut inside its silences and each part is encoded by its own ffmpeg, on its own
core; the parts' frames are then laid end to end behind the first part's Info (LAME) header,
which is rewritten for the whole. Gapless decoders trim the header's encoder delay at the start
and its padding at the end and play every frame in between, so a part's audio starts exactly
FRAME x (the frames before it) samples in. LAME pads each part with at least 576 samples and to
a whole frame, so a part that is to fill `slot` samples (a multiple of FRAME) is encoded from
slot - FRAME samples: its last frame then ends where the next part begins. The FRAME samples
left out are silence, and decode as silence (what was left out, and the next part's priming,
both encode digital zeros). The cut is checked, not assumed: a part whose frames do not fill
its slot exactly is a JoinError, and the build encodes the track in one piece instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import EncodeError

FRAME = 1152  # samples in an MPEG-1 Layer III frame
ENCODER_DELAY = 576  # what LAME's header says it adds before the first sample
QUIET_BEFORE, QUIET_AFTER = 3 * FRAME, 2 * FRAME  # silence a cut needs on each side
_BITRATES = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_RATES = (44100, 48000, 32000)
_READ = 1 << 16


class JoinError(EncodeError):
    """The parts cannot be joined exactly (an encoder that frames or pads differently)."""


def cuts(silences: Sequence[tuple[int, int]], length: int, parts: int, least: int) -> list[int]:
    """Where to cut a track of `length` samples into up to `parts` parts of about equal length,
    each at least `least` samples: whole frames from the start, inside a silence (start, end)
    with QUIET_BEFORE and QUIET_AFTER to spare. Fewer cuts where there is no such silence."""
    found: list[int] = []
    for number in range(1, parts):
        ideal = length * number // parts
        best: int | None = None
        for start, end in silences:
            low = -(-(start + QUIET_BEFORE) // FRAME) * FRAME
            high = (end - QUIET_AFTER) // FRAME * FRAME
            if low > high:
                continue
            cut = min(max(ideal // FRAME * FRAME, low), high)
            if best is None or abs(cut - ideal) < abs(best - ideal):
                best = cut
        previous = found[-1] if found else 0
        if best is not None and best - previous >= least and length - best >= least:
            found.append(best)
    return found


def spans(length: int, at: Sequence[int]) -> list[tuple[int, int]]:
    """The samples each part is encoded from: all but the last stop FRAME short of the cut."""
    starts = [0, *at]
    ends = [cut - FRAME for cut in at] + [length]
    return list(zip(starts, ends, strict=True))


@dataclass(frozen=True)
class _Info:
    """Where the fields of an Info frame stand (they depend on mono or stereo)."""

    size: int  # of the frame, in bytes
    tag: int  # offset of "Info" / "Xing"

    @property
    def lame(self) -> int:
        return self.tag + 120


def _frame_size(header: bytes) -> int:
    """The bytes of the MPEG-1 Layer III frame with this 4-byte header (0 if it is none)."""
    word = int.from_bytes(header, "big")
    if word >> 21 != 0x7FF or (word >> 19) & 3 != 3 or (word >> 17) & 3 != 1:
        return 0
    bitrate, rate = (word >> 12) & 15, (word >> 10) & 3
    if bitrate in (0, 15) or rate == 3:
        return 0
    return 144 * _BITRATES[bitrate] * 1000 // _RATES[rate] + ((word >> 9) & 1)


def _info(head: bytes) -> _Info:
    size = _frame_size(head[:4])
    mono = (head[3] >> 6) == 3
    tag = 4 + (17 if mono else 32)
    if not size or head[tag : tag + 4] not in (b"Info", b"Xing") or len(head) < size:
        raise JoinError("the encoder wrote no Info header to join the parts behind")
    return _Info(size, tag)


def _count_frames(path: Path, skip: int) -> int:
    """Frames in the file after its first `skip` bytes, each header checked."""
    count = 0
    with open(path, "rb") as handle:
        end = os.fstat(handle.fileno()).st_size
        position = skip
        while position < end:
            handle.seek(position)
            size = _frame_size(handle.read(4))
            if not size:
                raise JoinError(f"{path.name} holds something that is not an MP3 frame")
            position += size
            count += 1
    if position != end:
        raise JoinError(f"{path.name} ends inside a frame")
    return count


def audio(path: Path) -> Iterator[bytes]:
    """A part's frames after its Info header: what it adds to the joined file."""
    with open(path, "rb") as handle:
        head = handle.read(_READ)
        handle.seek(_info(head).size)
        while chunk := handle.read(_READ):
            yield chunk


def join(paths: Sequence[Path], lengths: Sequence[int]) -> None:
    """Append the other parts' frames to the first part's file and rewrite its Info header for
    the whole: frame and byte counts, a seek table, the padding of the last part, the length
    and checksum of the audio, the header's own checksum.

    lengths: the samples each part was encoded from. Every part but the last must fill
    exactly its length + FRAME samples of frames, and the last its length and LAME's padding
    (see the module's docstring). The padding is worked out from the frames, not read from
    ffmpeg's header: for some lengths ffmpeg writes it a few samples short (1681 for 1689).
    """
    heads: list[bytes] = []
    counts: list[int] = []
    for path in paths:
        with open(path, "rb") as handle:
            head = handle.read(_READ)
        info = _info(head)
        if int.from_bytes(head[info.lame + 21 : info.lame + 24], "big") >> 12 != ENCODER_DELAY:
            raise JoinError("the encoder's delay is not LAME's: cannot join")
        heads.append(head[: info.size])
        counts.append(_count_frames(path, info.size))
    for count, length in zip(counts[:-1], lengths[:-1], strict=True):
        if count * FRAME != length + FRAME:
            raise JoinError(f"a part of {length} samples made {count} frames: cannot join")
    last_padding = counts[-1] * FRAME - ENCODER_DELAY - lengths[-1]
    if not ENCODER_DELAY <= last_padding < ENCODER_DELAY + FRAME:
        raise JoinError(f"a part of {lengths[-1]} samples made {counts[-1]} frames: cannot join")
    first = _info(heads[0])
    frame = bytearray(heads[0])
    music_crc = int.from_bytes(frame[first.lame + 32 : first.lame + 34], "big")
    with open(paths[0], "ab") as out:
        for path, head in zip(paths[1:], heads[1:], strict=True):
            info = _info(head)
            added = 0
            for chunk in audio(path):
                out.write(chunk)
                added += len(chunk)
            crc = int.from_bytes(head[info.lame + 32 : info.lame + 34], "big")
            music_crc = _advance(music_crc, added) ^ crc
        total = out.tell()
    tag, lame = first.tag, first.lame
    frame[tag + 8 : tag + 12] = sum(counts).to_bytes(4, "big")
    frame[tag + 12 : tag + 16] = total.to_bytes(4, "big")
    frame[tag + 16 : tag + 116] = bytes(min(255, 256 * i // 100) for i in range(100))  # CBR
    frame[lame + 21 : lame + 24] = ((ENCODER_DELAY << 12) | last_padding).to_bytes(3, "big")
    frame[lame + 28 : lame + 32] = total.to_bytes(4, "big")
    frame[lame + 32 : lame + 34] = music_crc.to_bytes(2, "big")
    frame[lame + 34 : lame + 36] = b"\0\0"  # the header's checksum is of it with these zero
    frame[lame + 34 : lame + 36] = crc16(bytes(frame[:190])).to_bytes(2, "big")
    with open(paths[0], "r+b") as out:
        out.write(frame)


def crc16(data: bytes, crc: int = 0) -> int:
    """CRC-16/ARC, as the LAME header keeps its checksums (only for short data: pure Python)."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _advance(crc: int, zeros: int) -> int:
    """The CRC-16/ARC of data then `zeros` zero bytes, from the data's CRC: with it,
    crc(a + b) = _advance(crc(a), len(b)) ^ crc(b), so the parts' own checksums (which ffmpeg
    computed) give the whole's without reading the audio again."""
    step = [crc16(b"\0", 1 << bit) for bit in range(16)]  # one zero byte, bit by bit
    result = [1 << bit for bit in range(16)]
    while zeros:
        if zeros & 1:
            result = [_apply(step, column) for column in result]
        step = [_apply(step, column) for column in step]
        zeros >>= 1
    return _apply(result, crc)


def _apply(matrix: list[int], vector: int) -> int:
    out, bit = 0, 0
    while vector:
        if vector & 1:
            out ^= matrix[bit]
        vector >>= 1
        bit += 1
    return out
