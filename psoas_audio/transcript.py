"""Timeline -> the words as timed text: WebVTT (players, browsers, podcast apps) and LRC (the
synced lyrics many phone music players show). Pure: a timeline in, text out."""

from __future__ import annotations

from .pcm import SAMPLE_RATE
from .timeline import Event, Timeline

VTT_HEADER = "WEBVTT"


def spoken(timeline: Timeline) -> list[Event]:
    """Every spoken line, cues inside holds and rests included, in time order."""
    return [event for event in timeline.events if event.kind == "speech"]


def webvtt(timeline: Timeline) -> str:
    """One cue per spoken line, from where its voice starts to where it ends, to the ms."""
    blocks = [VTT_HEADER]
    for number, event in enumerate(spoken(timeline), start=1):
        text = _one_line(event.text)
        blocks.append(f"{number}\n{_clock(event.start)} --> {_clock(event.end)}\n{text}")
    return "\n\n".join(blocks) + "\n"


def lrc(timeline: Timeline, artist: str | None = None) -> str:
    """[mm:ss.xx] before each spoken line (LRC counts hundredths), with title and artist tags."""
    lines = [f"[ti:{_one_line(timeline.title)}]"]
    if artist:
        lines.append(f"[ar:{_one_line(artist)}]")
    for event in spoken(timeline):
        hundredths = round(event.start * 100 / SAMPLE_RATE)
        minutes, rest = divmod(hundredths, 6000)
        lines.append(f"[{minutes:02d}:{rest // 100:02d}.{rest % 100:02d}]{_one_line(event.text)}")
    return "\n".join(lines) + "\n"


def _clock(samples: int) -> str:
    milliseconds = round(samples * 1000 / SAMPLE_RATE)
    seconds, ms = divmod(milliseconds, 1000)
    minutes, secs = divmod(seconds, 60)
    hours, mins = divmod(minutes, 60)
    return f"{hours:02d}:{mins:02d}:{secs:02d}.{ms:03d}"


def _one_line(text: str) -> str:
    """A cue's text on one line: a blank line would end a VTT cue, "-->" would start one."""
    return " ".join(text.split()).replace("-->", "->")
