"""The benchmark's baseline: the script a user would write by hand with pyttsx3 and pydub.

Given a plan (`psoas-audio plan --json`), it speaks each distinct line once with pyttsx3 (one
phrase per runAndWait, the engine's default voice), lays the lines and silences out at the
plan's times, and exports a 96 kbps MP3 through pydub (ffmpeg). No trimming, no pace, no
leveling, no tags, no safe writes: the floor for "speech plus an encode", done plainly.

Usage: python scripts/baseline.py PLAN.json OUT.mp3
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pyttsx3
from pydub import AudioSegment

RATE = 44_100


def main(plan_path: str, output: str) -> None:
    events = json.loads(Path(plan_path).read_text())["events"]
    texts = sorted({e["text"] for e in events if e["kind"] == "speech"})
    engine = pyttsx3.init()
    spoken: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as folder:
        for number, text in enumerate(texts):
            wav = Path(folder) / f"{number}.wav"
            engine.save_to_file(text, str(wav))
            engine.runAndWait()  # one phrase per runAndWait: more are lost
            clip = AudioSegment.from_wav(wav).set_frame_rate(RATE).set_channels(1)
            spoken[text] = clip.set_sample_width(2).raw_data
    parts: list[bytes] = []
    for event in events:
        samples = round((event["end"] - event["start"]) * RATE)
        if event["kind"] == "speech":
            clip = spoken[event["text"]][: 2 * samples]
            parts.append(clip + bytes(2 * samples - len(clip)))
        else:  # silences, and the chime as silence: the baseline has no bell
            parts.append(bytes(2 * samples))
    track = AudioSegment(data=b"".join(parts), sample_width=2, frame_rate=RATE, channels=1)
    track.export(output, format="mp3", bitrate="96k")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
