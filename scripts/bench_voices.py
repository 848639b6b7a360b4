"""The voices on the flagship, measured in one run: eSpeak NG (pyttsx3) beside piper.

For each engine, with an empty cache: a cold build (timed, the peak memory of every process
in its tree), a warm build, the pace its spoken lines measure at 110, 140 and 170 words a
minute (from `plan --json`: the words of the `say` lines over their spoken seconds, every
occurrence counted) and a clarity figure: PocketSphinx's word recall over each spoken line of
the built MP3 (a relative proxy, not an absolute one).

Usage: .venv/bin/python scripts/bench_voices.py [--routine PATH] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import RECOGNIZER_RATE, Run, clarity, decode, run_sampled

ROOT = Path(__file__).resolve().parent.parent
PSOAS = ROOT / ".venv" / "bin" / "psoas-audio"
FLAGSHIP = ROOT / "routines" / "psoas-release.yaml"
ENGINES = ("pyttsx3", "piper")
RATES = (110, 140, 170)
DEFAULT_RATE = 140
PACE_WITHIN = 0.05
COLD_RATIO_TARGET = 2.0  # a cold piper build at most this many times a cold eSpeak NG one
CLARITY_TARGET = 0.75  # on the default path (auto: piper where it is installed)
BUILD_NAMES = ("psoas-audio",)
ENGINE_NAMES = ("python", "python3", "python3.11", "python3.12", "python3.13")


@dataclass
class Measured:
    engine: str
    voice: str
    cold: Run
    warm: Run
    paces: dict[int, float]
    clarity: float


def cli(cache: Path, *args: str | Path) -> Run:
    env = {**os.environ, "PSOAS_AUDIO_CACHE": str(cache)}
    done = run_sampled([PSOAS, *args], env)
    if done.returncode != 0:
        raise SystemExit(f"bench: psoas-audio {' '.join(map(str, args))} failed:\n{done.stderr}")
    return done


def pace(plan: dict[str, Any]) -> float:
    """Words per minute of the routine's own lines, counted here from the plan's events."""
    said = [e for e in plan["events"] if e["kind"] == "speech" and e["role"] == "say"]
    words = sum(len(e["text"].split()) for e in said)
    seconds = float(sum(e["end"] - e["start"] for e in said))
    return float(words * 60 / seconds)


def measure(engine: str, routine: Path, work: Path, log: Any) -> Measured:
    cache, mp3 = work / f"cache-{engine}", work / f"{engine}.mp3"
    build = ("build", routine, "--engine", engine, "-o", mp3)
    cold = cli(cache, *build)
    log(f"{engine}: cold build {cold.seconds:.1f}s")
    warm = cli(cache, *build)
    log(f"{engine}: warm build {warm.seconds:.1f}s")
    paces: dict[int, float] = {}
    plans: dict[int, dict[str, Any]] = {}
    for rate in RATES:
        shown = cli(cache, "plan", routine, "--json", "--engine", engine, "--rate", str(rate))
        plans[rate] = json.loads(shown.stdout)
        paces[rate] = pace(plans[rate])
        log(f"{engine}: {rate} wpm asked, {paces[rate]:.1f} measured")
    plan = plans[DEFAULT_RATE]
    lines = {e["text"]: (e["start"], e["end"], e["text"]) for e in plan["events"]
             if e["kind"] == "speech" and e["role"] == "say"}  # fmt: skip
    heard = clarity(decode(mp3, RECOGNIZER_RATE), list(lines.values()))
    log(f"{engine}: clarity {heard:.3f} over {len(lines)} distinct lines")
    return Measured(engine, plan["voice"], cold, warm, paces, heard)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(results: list[Measured], routine: Path, default_engine: str) -> str:
    by = {m.engine: m for m in results}
    out = [
        f"voices on {routine.relative_to(ROOT)} ({time.strftime('%Y-%m-%d %H:%M')}, "
        f"{os.cpu_count()} CPUs; one run each, in this order)",
        "",
        f"  {'engine':<8} {'voice':<8} {'cold s':>7} {'warm s':>7}  "
        + "  ".join(f"{'@' + str(r):>5}" for r in RATES)
        + f"  {'clarity':>7}  peak MB: build / python children (count) / ffmpeg / tree",
    ]
    for m in results:
        build = m.cold.peak_of(*BUILD_NAMES)[1]
        engines, engine_mb = m.cold.peak_of(*ENGINE_NAMES)
        ffmpeg = m.cold.peak_of("ffmpeg")[1]
        out.append(
            f"  {m.engine:<8} {m.voice:<8} {m.cold.seconds:>7.1f} {m.warm.seconds:>7.1f}  "
            + "  ".join(f"{m.paces[r]:>5.1f}" for r in RATES)
            + f"  {m.clarity:>7.3f}  {build:.0f} / {engine_mb:.0f} ({engines}) / {ffmpeg:.0f}"
            f" / {m.cold.tree_mb:.0f}"
        )
    out += ["", "  pace: words per minute of the spoken lines at the rate asked for (@)."]
    out.append("  peak MB of the cold build: each kind's highest VmHWM, sampled every 20 ms;")
    out.append("  python children: the speech engines and multiprocessing's resource tracker.")
    out.append("")
    pace_ok = all(abs(m.paces[r] - r) <= PACE_WITHIN * r for m in results for r in RATES)
    worst = max(abs(m.paces[r] - r) / r for m in results for r in RATES)
    out.append(f"  target  pace within 5% at {', '.join(map(str, RATES))} wpm, both engines: "
               f"worst {100 * worst:.1f}%   {verdict(pace_ok)}")  # fmt: skip
    if "pyttsx3" in by and "piper" in by:
        ratio = by["piper"].cold.seconds / by["pyttsx3"].cold.seconds
        out.append(f"  target  cold piper <= {COLD_RATIO_TARGET:g}x cold eSpeak NG: "
                   f"{ratio:.2f}x   {verdict(ratio <= COLD_RATIO_TARGET)}")  # fmt: skip
    if default_engine in by:
        heard = by[default_engine].clarity
        out.append(f"  target  clarity of the default voice ({default_engine}) >= "
                   f"{CLARITY_TARGET:g}: {heard:.3f}   "
                   f"{verdict(heard >= CLARITY_TARGET)}")  # fmt: skip
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench --voices", description=__doc__)
    parser.add_argument("--routine", type=Path, default=FLAGSHIP)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="psoas-bench-voices-"))

    def log(message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    routine = args.routine.resolve()
    from psoas_audio.speech.engine import VoiceRequest, choose_engine

    default = choose_engine(VoiceRequest()).engine  # what a routine that names none gets
    results = [measure(engine, routine, work, log) for engine in ENGINES]
    print()
    print(report(results, routine, default))
    if args.keep:
        log(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
