"""Tags players read: chapters in time order from 0, unique titles, the description as COMM."""

from __future__ import annotations

import datetime
import io
import json
from pathlib import Path
from typing import Any

import pytest
import webvtt
from mutagen.id3 import PictureType
from PIL import Image
from typer.testing import CliRunner

from conftest import TESTS, Writer
from measure import id3_frames, probe_tags
from psoas_audio import cover, pipeline
from psoas_audio.cli import app
from psoas_audio.pcm import SAMPLE_RATE
from psoas_audio.timeline import Event, Span, track_chapters

GOOD = TESTS / "golden" / "lunge-mini.yaml"
# Long titles first: mutagen sorts frames by size when it saves, the opposite of time order.
TITLES = ["A very long first chapter title indeed", "Shorter second one", "Third", "3rd"]


def test_ffprobe_lists_chapters_in_time_order_whatever_their_size(
    write: Writer, tmp_path: Path
) -> None:
    sections = "".join(
        f"  - section: {title}\n    steps:\n      - say: Part {n}.\n      - pause: 1s\n"
        for n, title in enumerate([*TITLES, TITLES[0]])
    )
    routine = write("r.yaml", f"title: T\ndescription: Four parts.\nsteps:\n{sections}")
    target = tmp_path / "r.mp3"
    result = CliRunner().invoke(app, ["build", str(routine), "--engine", "fake", "-o", str(target)])
    assert result.exit_code == 0, result.stderr
    chapters = probe_tags(target)["chapters"]
    assert [c["tags"]["title"] for c in chapters] == [*TITLES, f"{TITLES[0]} (2)"]
    starts = [float(c["start_time"]) for c in chapters]
    assert starts[0] == 0.0 and starts == sorted(starts)
    assert [c["end_time"] for c in chapters[:-1]] == [c["start_time"] for c in chapters[1:]]
    [toc] = id3_frames(target, "CTOC")
    assert toc.flags == 3 and len(toc.child_element_ids) == len(TITLES) + 1  # top-level, ordered
    [comment] = id3_frames(target, "COMM")
    assert (comment.lang, comment.desc, comment.text) == ("eng", "", ["Four parts."])


def event(start: float, end: float, kind: str = "speech") -> Event:
    return Event(round(start * SAMPLE_RATE), round((end - start) * SAMPLE_RATE), kind, "say")  # type: ignore[arg-type]


def span(title: str, start: float, end: float) -> Span:
    return Span(title, round(start * SAMPLE_RATE), round(end * SAMPLE_RATE))


def test_the_first_chapter_starts_at_0_and_an_intro_holds_what_comes_before() -> None:
    silence_first = [event(0, 1, "silence"), event(1, 5), event(5, 9)]
    sections = (span("One", 1, 5), span("Two", 5, 9))
    assert track_chapters(silence_first, sections) == (span("One", 0, 5), span("Two", 5, 9))

    spoken_first = [event(0, 1, "silence"), event(1, 3), event(3, 6), event(6, 9)]
    sections = (span("One", 3, 6), span("Two", 6, 8))
    assert track_chapters(spoken_first, sections) == (
        span("Introduction", 0, 3), span("One", 3, 6), span("Two", 6, 9)
    )  # fmt: skip


def test_a_section_holding_only_another_is_the_chapter(write: Writer) -> None:
    routine = write(
        "nest.yaml",
        "title: T\nsteps:\n  - say: Hi.\n  - section: Warm up\n    steps:\n"
        "      - section: Breathing\n        steps: [{say: Breathe.}]\n"
        "  - section: Cool down\n    steps: [{say: Done.}]\n",
    )
    plan = plan_of(routine)
    assert [s["title"] for s in plan["sections"]] == ["Warm up", "Breathing", "Cool down"]
    target = routine.with_suffix(".mp3")
    build(routine, target)
    chapters = [c["tags"]["title"] for c in probe_tags(target)["chapters"]]
    assert chapters == ["Introduction", "Warm up", "Cool down"]


def test_only_outermost_sections_become_chapters_end_to_end() -> None:
    events = [event(0, 2), event(2, 4), event(4, 6), event(6, 10)]
    sections = (span("Outer", 0, 6), span("Inner", 2, 4), span("Empty", 6, 6), span("Last", 7, 9))
    assert track_chapters(events, sections) == (span("Outer", 0, 7), span("Last", 7, 10))


def build(routine: Path, target: Path, *options: str) -> None:
    result = CliRunner().invoke(
        app, ["build", str(routine), "--engine", "fake", "-o", str(target), *options]
    )
    assert result.exit_code == 0, result.stderr


def plan_of(routine: Path) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["plan", str(routine), "--engine", "fake", "--json"])
    assert result.exit_code == 0, result.stderr
    plan: dict[str, Any] = json.loads(result.stdout)
    return plan


def test_every_build_is_tagged_for_a_phone_with_a_drawn_cover(tmp_path: Path) -> None:
    target = tmp_path / "mini.mp3"
    build(GOOD, target)
    tags = probe_tags(target)["format"]["tags"]
    assert tags["title"] == "Lunge mini" and tags["artist"] == "Tests"
    assert tags["album"] == "Lunge mini"  # no album, no batch: the title
    assert tags["genre"] == "Health & Fitness"
    assert tags["date"] == str(datetime.date.today().year)  # TYER, as v2.3 has it
    [picture] = id3_frames(target, "APIC")
    assert (picture.type, picture.mime) == (PictureType.COVER_FRONT, "image/jpeg")
    assert len(picture.data) <= 500_000
    with Image.open(io.BytesIO(picture.data)) as image:
        assert image.format == "JPEG" and image.mode == "RGB"
        assert image.width == image.height >= 600
        corners = {image.getpixel((0, 0)), image.getpixel((image.width - 1, image.height - 1))}
        assert len(corners) == 2  # a gradient, not a blank square


def test_a_routine_cover_of_any_shape_is_cropped_square_and_resized(
    write: Writer, tmp_path: Path
) -> None:
    Image.new("RGBA", (3000, 1200), (200, 40, 40, 128)).save(tmp_path / "wide.png")
    routine = write("r.yaml", "title: T\nalbum: My album\ngenre: Yoga\ncover: wide.png\n"
                    "steps: [{say: Hi.}]\n")  # fmt: skip
    build(routine, tmp_path / "r.mp3")
    tags = probe_tags(tmp_path / "r.mp3")["format"]["tags"]
    assert (tags["album"], tags["genre"]) == ("My album", "Yoga")
    [picture] = id3_frames(tmp_path / "r.mp3", "APIC")
    with Image.open(io.BytesIO(picture.data)) as image:
        assert image.size == (1400, 1400) and image.mode == "RGB"


def test_a_missing_or_unreadable_cover_is_an_error_at_its_line(write: Writer) -> None:
    routine = write("r.yaml", "title: T\ncover: nowhere.png\nsteps: [{say: Hi.}]\n")
    result = CliRunner().invoke(app, ["check", str(routine), "--engine", "fake"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{routine}:2:8: cannot read the cover image ")
    (routine.parent / "notes.png").write_text("not an image")
    routine.write_text("title: T\ncover: notes.png\nsteps: [{say: Hi.}]\n")
    result = CliRunner().invoke(app, ["build", str(routine), "--engine", "fake"])
    assert result.exit_code == 1 and "cannot read the cover image" in result.stderr


def test_a_cover_is_made_once_and_remade_when_its_image_changes(
    write: Writer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    real_draw, real_file = cover.generated_cover, cover.cover_from_file

    def draw(title: str, author: str | None) -> bytes:
        made.append("drawn")
        return real_draw(title, author)

    def from_file(path: Path) -> bytes:
        made.append(path.name)
        return real_file(path)

    monkeypatch.setattr(pipeline, "generated_cover", draw)
    monkeypatch.setattr(pipeline, "cover_from_file", from_file)
    build(GOOD, tmp_path / "a.mp3")
    build(GOOD, tmp_path / "b.mp3")  # the same title and author: the cached cover
    assert made == ["drawn"]
    assert (
        id3_frames(tmp_path / "a.mp3", "APIC")[0].data
        == id3_frames(tmp_path / "b.mp3", "APIC")[0].data
    )
    Image.new("RGB", (900, 900), (20, 90, 40)).save(tmp_path / "own.png")
    routine = write("r.yaml", "title: T\ncover: own.png\nsteps: [{say: Hi.}]\n")
    build(routine, tmp_path / "c.mp3")
    build(routine, tmp_path / "c.mp3")
    Image.new("RGB", (900, 900), (90, 20, 40)).save(tmp_path / "own.png")  # a new picture
    build(routine, tmp_path / "c.mp3")
    assert made.count("own.png") == 3 + 2  # check() reads it on each build; only 2 are made
    with Image.open(io.BytesIO(id3_frames(tmp_path / "c.mp3", "APIC")[0].data)) as image:
        red, green, _ = image.convert("RGB").getpixel((450, 450))  # type: ignore[misc]
        assert red > green  # the new picture, not the old one


def seconds(clock: str) -> float:
    hours, minutes, rest = clock.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)


def test_the_transcript_times_every_spoken_line_as_planned(tmp_path: Path) -> None:
    routine = TESTS / "golden" / "cues.yaml"
    target = tmp_path / "cues.mp3"
    build(routine, target, "--lrc")
    plan = plan_of(routine)
    spoken = [e for e in plan["events"] if e["kind"] == "speech"]
    assert any(e["role"] != "say" for e in spoken)  # cues inside holds are there too
    captions = webvtt.read(str(target.with_suffix(".vtt"))).captions
    assert [c.text for c in captions] == [e["text"] for e in spoken]
    for caption, event in zip(captions, spoken, strict=True):  # to the millisecond
        assert seconds(caption.start) == pytest.approx(event["start"], abs=0.0006)
        assert seconds(caption.end) == pytest.approx(event["end"], abs=0.0006)
    lyrics = target.with_suffix(".lrc").read_text(encoding="utf-8").splitlines()
    assert lyrics[0] == "[ti:Cues]"
    timed = [line for line in lyrics if line[1:3].isdigit()]
    assert [line.split("]", 1)[1] for line in timed] == [e["text"] for e in spoken]
    assert timed == sorted(timed)


def test_no_transcript_writes_the_mp3_alone(tmp_path: Path) -> None:
    build(GOOD, tmp_path / "mini.mp3", "--no-transcript")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mini.mp3"]


def test_a_sidecar_that_is_not_a_transcript_is_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "mini.vtt").write_text("my own notes\n")
    result = CliRunner().invoke(
        app, ["build", str(GOOD), "--engine", "fake", "-o", str(tmp_path / "mini.mp3")]
    )
    assert result.exit_code == 1
    assert "mini.vtt: exists and is not a WebVTT transcript" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mini.vtt"]
