"""A track encoded in parts at once decodes sample for sample as one encode: the same length,
the same audio up to the first cut, silence at each cut, one valid LAME header for the whole."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import Writer
from measure import RATE, decode, ebur128, id3_frames
from psoas_audio import Options, OutputError, build, check, mp3join, pipeline, plan_routine
from psoas_audio.mp3join import FRAME, QUIET_AFTER, QUIET_BEFORE, JoinError, crc16, cuts, spans
from test_e2e import assert_track_follows_plan

MINUTE = 60 * RATE
OLD_MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00an older build"
# About three minutes of holds and lines: long enough to be cut in three.
LONG = "title: Long\nsteps:\n" + "".join(
    f"  - say: Line number {n}, breathe slowly.\n  - hold: 14s\n    countdown: 3\n"
    for n in range(1, 12)
)


class Notes:
    """A reporter that keeps what the build says."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self.stages: list[tuple[str, int, int]] = []  # name, total, done at its end

    def start(self, stage: str, total: int) -> None:
        self.stages.append((stage, total, 0))

    def update(self, done: int) -> None:
        name, total, _ = self.stages[-1]
        self.stages[-1] = (name, total, done)

    def notice(self, message: str) -> None:
        self.said.append(message)

    def speaking(self, voice: str, pace: float) -> None: ...
    def written(self, path: Path) -> None: ...


def test_cuts_fall_inside_silence_on_whole_frames_near_equal_parts() -> None:
    silences = [(0, RATE), (59 * RATE, 61 * RATE), (100 * RATE, 100 * RATE + 2000)]
    [cut] = cuts(silences, 120 * RATE, 2, 30 * RATE)
    assert cut % FRAME == 0 and 59 * RATE + QUIET_BEFORE <= cut <= 61 * RATE - QUIET_AFTER
    assert abs(cut - 60 * RATE) < FRAME
    assert spans(120 * RATE, [cut]) == [(0, cut - FRAME), (cut, 120 * RATE)]
    # a silence too short for a cut is passed over, and parts are never too short
    assert cuts([(100 * RATE, 100 * RATE + 2000)], 200 * RATE, 2, 30 * RATE) == []
    assert cuts(silences, 120 * RATE, 2, 70 * RATE) == []
    assert cuts([], 120 * RATE, 4, RATE) == []


def test_the_checksums_are_lames() -> None:
    assert crc16(b"123456789") == 0xBB3D  # CRC-16/ARC's check value
    first, second = b"frames of one part", b"and of the next one"
    joined = mp3join._advance(crc16(first), len(second)) ^ crc16(second)
    assert joined == crc16(first + second)


def test_parts_that_do_not_fill_their_slots_are_refused(tmp_path: Path) -> None:
    paths = [tmp_path / "a.mp3", tmp_path / "b.mp3"]
    for path, seconds in zip(paths, (2.0, 1.0), strict=True):
        pcm = np.zeros(int(seconds * RATE), "<i2").tobytes()
        _encode(pcm, path)
    with pytest.raises(JoinError, match="cannot join"):
        mp3join.join(paths, [2 * RATE + 5, RATE])  # the first part was not cut to its slot
    (tmp_path / "c.mp3").write_bytes(b"not an mp3 at all" * 100)
    with pytest.raises(JoinError, match="no Info header"):
        mp3join.join([tmp_path / "c.mp3", paths[1]], [RATE, RATE])


def test_the_last_parts_padding_comes_from_its_frames_not_ffmpegs_header(tmp_path: Path) -> None:
    """ffmpeg caps the padding it writes at 1681; LAME pads up to 1727. A tone in each part."""
    slot, last = 40 * FRAME, 44_951  # 44,951 samples: LAME pads 1705, ffmpeg's header says 1681
    tone = (8000 * np.sin(np.arange(slot + last) * 0.05)).astype("<i2")
    tone[slot - 4 * FRAME : slot + 3 * FRAME] = 0  # where the cut is
    paths = [tmp_path / "a.mp3", tmp_path / "b.mp3"]
    _encode(tone[: slot - FRAME].tobytes(), paths[0])
    _encode(tone[slot:].tobytes(), paths[1])
    mp3join.join(paths, [slot - FRAME, last])
    decoded = decode(paths[0])
    assert len(decoded) == slot + last
    heard = np.abs(decoded[slot - 2 * FRAME : slot + FRAME])
    assert np.max(heard) < 2 / 32768  # the parts meet in silence
    assert np.corrcoef(decoded[slot + 2 * FRAME :], tone[slot + 2 * FRAME :])[0, 1] > 0.99


def _encode(pcm: bytes, path: Path) -> None:
    from psoas_audio.export import encoder_command

    subprocess.run(encoder_command(path, part=True), input=pcm, check=True)


def test_a_track_in_parts_decodes_as_one_encode_sample_for_sample(
    write: Writer, tmp_path: Path
) -> None:
    routine = write("long.yaml", LONG)
    single, parted = tmp_path / "single.mp3", tmp_path / "parted.mp3"
    build(check(routine), single, Options(engine="fake", cores=1))
    options, notes = Options(engine="fake", cores=3), Notes()
    built = build(check(routine), parted, options, notes)
    assert notes.said == []  # joined, not encoded again in one piece
    encoding = [stage for stage in notes.stages if stage[0] == "encoding"]
    assert encoding and encoding[-1][1] == encoding[-1][2]  # its progress reached the end
    planned = plan_routine(check(routine), options)
    at = pipeline.cuts(planned.timeline, options)
    assert len(at) == 2, "the routine was not cut in three"
    one, three = decode(single), decode(parted)
    assert len(three) == len(one) == planned.timeline.length
    assert np.array_equal(three[: at[0] - QUIET_BEFORE], one[: at[0] - QUIET_BEFORE])
    for cut in at:  # digital silence across each cut, where the parts meet
        assert np.max(np.abs(three[cut - QUIET_BEFORE : cut + QUIET_AFTER])) < 2 / 32768
    after = slice(at[-1] + 5 * RATE, at[-1] + 15 * RATE)  # the same audio, encoded apart
    assert np.sqrt(np.mean((three[after] - one[after]) ** 2)) < 0.01
    assert ebur128(parted) == pytest.approx(ebur128(single), abs=0.1)
    assert built.measured is not None and built.measured.lufs == pytest.approx(-16, abs=0.3)
    assert _seconds(parted) == pytest.approx(_seconds(single), abs=1e-6)  # as players read it
    assert id3_frames(parted, "CHAP") == id3_frames(single, "CHAP")
    warnings = subprocess.run(["ffmpeg", "-v", "warning", "-i", str(parted), "-f", "null", "-"],
                              capture_output=True, text=True, check=True).stderr  # fmt: skip
    assert warnings == ""
    header = parted.read_bytes()
    start = header.index(b"Info") - 21
    lame = start + 21 + 120
    assert crc16(header[start : start + 190].replace(header[lame + 34 : lame + 36], b"\0\0", 1)) \
        == int.from_bytes(header[lame + 34 : lame + 36], "big")  # fmt: skip
    assert [p.name for p in tmp_path.iterdir() if ".psoas-" in p.name] == []


def test_a_track_that_cannot_be_joined_is_encoded_in_one_piece(
    write: Writer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(paths: list[Path], lengths: list[int]) -> None:
        raise JoinError("a part of 5 samples made 3 frames: cannot join")

    monkeypatch.setattr(mp3join, "join", refuse)
    routine = write("long.yaml", LONG)
    target = tmp_path / "long.mp3"
    options = Options(engine="fake", cores=2)
    notes = Notes()
    build(check(routine), target, options, notes)
    assert notes.said == ["a part of 5 samples made 3 frames: cannot join; encoding the track in "
                     "one piece"]  # fmt: skip
    plan = plan_routine(check(routine), options).timeline.as_json()
    assert_track_follows_plan(routine, json.loads(json.dumps(plan)), decode(target))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp3", "long.vtt", "long.yaml"]


def _seconds(path: Path) -> float:
    """The length a player shows, from the header (mutagen reads the LAME tag)."""
    from mutagen.mp3 import MP3

    info = MP3(path).info  # type: ignore[no-untyped-call]
    assert info is not None
    return float(info.length)


def test_a_full_disk_as_the_parts_are_joined_is_one_clear_error(
    write: Writer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(paths: list[Path], lengths: list[int]) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mp3join, "join", full)
    target = tmp_path / "long.mp3"
    target.write_bytes(OLD_MP3)
    with pytest.raises(OutputError, match=f"cannot write {tmp_path}: No space left on device"):
        build(check(write("long.yaml", LONG)), target, Options(engine="fake", cores=2))
    assert target.read_bytes() == OLD_MP3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp3", "long.yaml"]
