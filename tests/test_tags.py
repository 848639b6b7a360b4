"""Tags players read: chapters in time order from 0, unique titles, the description as COMM."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from conftest import Writer
from measure import id3_frames, probe_tags
from psoas_audio.cli import app
from psoas_audio.pcm import SAMPLE_RATE
from psoas_audio.timeline import Event, Span, track_chapters

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


def test_only_outermost_sections_become_chapters_end_to_end() -> None:
    events = [event(0, 2), event(2, 4), event(4, 6), event(6, 10)]
    sections = (span("Outer", 0, 6), span("Inner", 2, 4), span("Empty", 6, 6), span("Last", 7, 9))
    assert track_chapters(events, sections) == (span("Outer", 0, 7), span("Last", 7, 10))
