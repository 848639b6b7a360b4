"""Measure how fast each engine speaks at each of its settings: the tables in the engine modules.

Every clause of the shipped routines' spoken lines (every occurrence counted) is synthesized at
each setting, trimmed as a build trims it, and the words over the seconds give the engine's
articulation rate there. Paste the printed table into the engine's module as its CALIBRATION.

Usage: .venv/bin/python scripts/calibrate.py pyttsx3|piper
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

from psoas_audio.routine import load_routine
from psoas_audio.script import Speak, expand
from psoas_audio.speech.clips import load_phrase
from psoas_audio.speech.engine import create_engine, engine_path
from psoas_audio.speech.pace import clauses

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {
    "pyttsx3": [40.0, 48.0, 56.0, 64.0, 72.0, 80.0, 90.0, 100.0, 110.0, 120.0, 130.0, 140.0, 150.0,
                160.0, 180.0, 200.0, 230.0, 260.0, 300.0, 340.0],
    "piper": [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.8, 2.0, 2.3, 2.6,
              3.0, 3.4, 3.8],
}  # fmt: skip


def shipped_clauses() -> Counter[str]:
    """Each clause of the shipped routines' say lines, with how often it is spoken."""
    counted: Counter[str] = Counter()
    for path in sorted((ROOT / "routines").glob("*.yaml")):
        for cue in expand(load_routine(path).routine):
            if isinstance(cue, Speak):
                counted.update(clause for clause, _ in clauses(cue.text))
    return counted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("engine", choices=sorted(SETTINGS))
    parser.add_argument("settings", nargs="*", type=float, help="default: the whole table")
    args = parser.parse_args()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # pyttsx3 prints a line per file
    report = os.fdopen(os.dup(2), "w")
    engine = create_engine(engine_path(args.engine))
    counted = shipped_clauses()
    words = sum(len(text.split()) * count for text, count in counted.items())
    scratch = Path(tempfile.mkdtemp()) / "clause.wav"
    print(f"# {len(counted)} clauses, {words} words spoken, every occurrence counted", file=report)
    for setting in args.settings or SETTINGS[args.engine]:
        seconds = 0.0
        for text, count in counted.items():
            engine.synthesize_setting(text, None, setting, scratch)  # type: ignore[attr-defined]
            seconds += len(load_phrase(scratch)) / 44_100 * count
        print(f"    ({setting:g}, {words * 60 / seconds:.1f}),", file=report, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
