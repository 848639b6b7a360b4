"""scripts/measure: build the shipped routines (or those given) and measure each decoded MP3
against its plan; the figures quoted in issue notes come from here."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, "tests")
from measure import RATE, dbfs, decode, ebur128, silence_runs, silent_run

CLI = ".venv/bin/psoas-audio"
EDGE = int(0.015 * RATE)


def measure(routine: Path, folder: Path) -> str:
    mp3 = folder / f"{routine.stem}.mp3"
    subprocess.run([CLI, "build", str(routine), "-o", str(mp3)], check=True, capture_output=True)
    plan = json.loads(
        subprocess.run(
            [CLI, "plan", str(routine), "--json"], check=True, capture_output=True, text=True
        ).stdout
    )
    audio = decode(mp3)
    worst_ms, loudest_rms, loudest_inner, timed = 0.0, -200.0, -200.0, 0
    for run in silence_runs(plan["events"]):
        start, end = run[0]["start"], run[-1]["end"]
        span = audio[int(start * RATE) : int(end * RATE)]
        loudest_rms = max(loudest_rms, dbfs(span))
        inner = np.abs(span[EDGE:-EDGE]).max(initial=0.0)
        loudest_inner = max(loudest_inner, 20 * np.log10(inner + 1e-12))
        if any(e["role"] in ("hold", "rest", "pause") for e in run):
            timed += 1
            heard = silent_run(audio, start, end, -60)
            worst_ms = max(worst_ms, 1000 * abs(heard - (end - start)))
    chime = plan["events"][-1]
    ring = dbfs(audio[int(chime["start"] * RATE) : int(chime["start"] * RATE) + RATE])
    tail = dbfs(audio[-int(0.05 * RATE) :])
    drift_ms = 1000 * (len(audio) / RATE - plan["duration"])
    lufs, peak = ebur128(mp3)
    return (
        f"{routine.stem:24} {len(audio) / RATE:8.3f}s decoded vs {plan['duration']:8.3f}s planned"
        f" ({drift_ms:+.2f} ms) | {timed} timed silences, worst {worst_ms:.1f} ms off"
        f" | silence RMS <= {loudest_rms:.1f} dBFS, inner peak <= {loudest_inner:.1f} dBFS"
        f" | chime {ring:.1f} dBFS in its 1st s, {tail:.1f} dBFS in the last 50 ms"
        f" | {lufs:.1f} LUFS, true peak {peak:.1f} dBTP"
    )


folder = Path(tempfile.mkdtemp(prefix="psoas-measure-"))
for routine in [Path(a) for a in sys.argv[1:]] or sorted(Path("routines").glob("*.yaml")):
    print(measure(routine, folder), flush=True)
