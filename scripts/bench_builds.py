"""scripts/bench, the builds: a generated 30-minute routine built cold and warm with eSpeak NG,
against ffmpeg alone encoding the same PCM and a hand-written pyttsx3 + pydub script, all in
one run; the memory of every process; a warm batch of 20 with one job and with two; piper's
cold and warm builds beside (reported, not held to the targets).

Best of N is reported for warm builds and encodes (least disturbed by other load), which are
interleaved so that drift in machine speed touches both alike.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import yaml

from benchlib import Run, run_sampled
from psoas_audio import pipeline
from psoas_audio.chime import chime
from psoas_audio.export import encoder_command
from psoas_audio.pcm import quantize, to_samples, to_seconds
from psoas_audio.render import render
from psoas_audio.script import chime_styles, expand, phrases
from psoas_audio.timeline import PlanSettings, plan

ROOT = Path(__file__).resolve().parent.parent
PSOAS = ROOT / ".venv" / "bin" / "psoas-audio"
PYTHON = ROOT / ".venv" / "bin" / "python"  # not resolved: the venv's site-packages
COLD_TARGET = 2.0  # cold build time / encode time
WARM_TARGET = 1.1  # warm build time / encode time
MEMORY_TARGET_MB = 120.0  # the psoas-audio process, cold
BATCH_TARGET = 1.7  # a warm batch: --jobs 1 time / --jobs 2 time
BATCH_SIZE, BATCH_MINUTES = 20, 3
BASELINE_RUNS = 2  # the hand-written script, interleaved with the warm builds
BATCH_RUNS = 3  # each --jobs value: best of two read 1.67x once, where three read 1.8x
ENGINE = "pyttsx3"  # eSpeak NG: the targets; piper is reported beside

# ---------------------------------------------------------------------------------------------
# The generated routine. Exercises x sides, each with its own numbered lines (so they are all
# distinct phrases), a few rounds of hold + rest, and some lines that recur as in real routines.

EXERCISES = [
    ("kneeling lunge", "Kneel on the padding and step the other foot forward"),
    ("supine psoas release", "Lie on your back with both knees bent and feet flat"),
    ("bed edge stretch", "Lie near the edge of the bed and let one leg hang down"),
    ("standing hip flexor stretch", "Stand tall and step one foot back into a short stance"),
    ("constructive rest", "Lie on your back with your knees bent and leaning together"),
    ("bridge with a slow lower", "Lie on your back and press your feet into the floor"),
    ("hip circles", "Come onto your hands and knees with a long, easy spine"),
    ("figure four stretch", "Lie on your back and cross one ankle over the other knee"),
]
# A spoken line lasts about this long (fitted to eSpeak NG at the default 150 wpm, clips trimmed).
SPEECH_SECONDS, SPEECH_SECONDS_PER_WORD = 0.48, 0.323
ROUNDS, REST, MOVE = 2, 8, 3  # holds per side, rest between them, time to get into position
BLOCK_SECONDS = 64  # one exercise on one side; sets how many distinct lines a minute has


def generate(minutes: float, title: str) -> tuple[dict[str, object], list[dict[str, object]]]:
    """A routine with about `minutes` worth of lines, and its holds (still 20s) to adjust."""
    blocks = max(2, round(minutes * 60 / BLOCK_SECONDS / 2) * 2)
    exercises = blocks // 2
    steps: list[dict[str, object]] = [
        {"say": "Only go as far as feels good. If anything hurts, come out of the stretch."},
    ]
    holds: list[dict[str, object]] = []
    for number in range(1, exercises + 1):
        name, setup = EXERCISES[(number - 1) % len(EXERCISES)]
        for side in ("left", "right"):
            block: list[dict[str, object]] = [
                {"say": f"Exercise {number} of {exercises}: the {name}, on your {side} side."},
                {"say": f"{setup}, working the {side} side for exercise {number}."},
                {
                    "say": f"Take {number % 4 + 2} slow breaths into the {side} hip, "
                    f"exercise {number}."
                },
                {"pause": f"{MOVE}s"},
            ]
            for round_ in range(1, ROUNDS + 1):
                hold: dict[str, object] = {"hold": "20s", "say": "Hold, and breathe slowly."}
                holds.append(hold)
                block += [{"say": f"Round {round_} of {ROUNDS}, {side} side, exercise {number}."},
                          hold]  # fmt: skip
                if round_ < ROUNDS:  # a line that recurs, as in real routines
                    block.append({"rest": f"{REST}s", "say": "Ease off, and breathe."})
            block.append({"say": f"Well done. That was the {side} side of exercise {number}."})
            steps.append({"section": f"Exercise {number}, {side} side", "steps": block})
    steps.append({"say": "That's the whole routine. Lie still and let everything settle."})
    steps.append({"pause": "5s"})

    routine: dict[str, object] = {
        "title": title,
        "author": "scripts/bench",
        "description": f"Generated for benchmarking: about {minutes:g} minutes.",
        "steps": steps,
    }
    return routine, holds


def write_routine(path: Path, minutes: float) -> int:
    """Write a routine of about `minutes` to path; returns its number of distinct lines.

    The holds are sized with the project's own planner, from estimated speech lengths, so
    only the estimate of how long each line is spoken can make the length drift.
    """
    routine, holds = generate(minutes, f"Benchmark routine, {minutes:g} minutes")
    path.write_text(yaml.safe_dump(routine, sort_keys=False, width=200))
    source = pipeline.check(path)
    cues = expand(source.routine)
    texts = phrases(cues)
    estimate = {
        t: to_samples(SPEECH_SECONDS + SPEECH_SECONDS_PER_WORD * len(t.split())) for t in texts
    }
    chimes = {style: len(quantize(chime(style))) for style in chime_styles(cues)}
    planned = plan(source.routine, cues, estimate, chimes, PlanSettings()).seconds
    hold = 20 + (minutes * 60 - planned) / len(holds)
    if hold < 5:
        raise SystemExit(f"bench: {minutes:g} minutes is too short for this routine's speech")
    for item in holds:
        item["hold"] = f"{hold:.1f}s"
    path.write_text(yaml.safe_dump(routine, sort_keys=False, width=200))
    return len(texts)


# ---------------------------------------------------------------------------------------------
# Running and measuring builds.


class BuildFailed(Exception):
    pass


def psoas(cache: Path, *args: str | Path) -> Run:
    """One `psoas-audio` command exactly as a user runs it, every process's memory sampled."""
    done = run_sampled([PSOAS, *args], {**os.environ, "PSOAS_AUDIO_CACHE": str(cache)})
    if done.returncode != 0:
        raise BuildFailed(f"psoas-audio {' '.join(map(str, args))} failed:\n{done.stderr}")
    return done


def build(routine: Path, output: Path, cache: Path, engine: str = ENGINE) -> Run:
    return psoas(cache, "build", routine, "-o", output, "--engine", engine)


def length_of(run: Run) -> str:
    match = re.search(r"\s((?:\d+:)?\d\d:\d\d)\s*$", run.stdout)
    if not match:
        raise BuildFailed(f"unexpected build output: {run.stdout!r}")
    return match.group(1)


def own_mb(run: Run) -> float:
    return run.peak_of("psoas-audio")[1]


def write_pcm(routine: Path, cache: Path, target: Path) -> float:
    """The exact bytes the build pipes into ffmpeg, from the (warm) cache; returns seconds."""
    options = pipeline.Options(cache_dir=cache, engine=ENGINE)
    planned = pipeline.plan_routine(pipeline.check(routine, options), options)
    leveler = pipeline.leveler_for(planned, options)
    levels = leveler.levels(planned.timeline)  # cached by the builds: the same gains they used
    with open(target, "wb") as handle:
        for chunk in render(planned.timeline, partial(leveler.clip, levels=levels)):
            handle.write(chunk)
    return to_seconds(planned.timeline.length)


def timed(command: list[str], stdin: Path | None = None) -> float:
    with open(stdin or os.devnull, "rb") as source:
        start = time.perf_counter()
        done = subprocess.run(command, stdin=source, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise BuildFailed(f"{command[0]} failed: {done.stderr[-2000:]}")
    return seconds


def encode(pcm: Path, output: Path) -> float:
    """ffmpeg with the build's own encoder command (export.encoder_command), stdin from a file."""
    return timed(encoder_command(output), pcm)


def write_batch(folder: Path) -> None:
    """BATCH_SIZE short routines sharing most of their lines, as an instructor's set would."""
    folder.mkdir()
    for number in range(1, BATCH_SIZE + 1):
        routine, _ = generate(BATCH_MINUTES, f"Batch routine {number}")
        routine["steps"] = [{"say": f"Routine {number} of {BATCH_SIZE}."}, *routine["steps"]]  # type: ignore[misc]
        (folder / f"routine-{number:02}.yaml").write_text(yaml.safe_dump(routine, sort_keys=False))


@dataclass
class Results:
    distinct: int
    length: str
    audio_seconds: float
    colds: list[Run]
    warms: list[Run]
    encodes: list[float]
    baseline: float
    batch: dict[int, float]  # jobs -> seconds
    memory: list[tuple[str, Run]]  # (label, cold build)
    piper: tuple[Run, Run] | None


def measure(args: argparse.Namespace, work: Path, log: Callable[[str], None]) -> Results:
    routine, output = work / "timed.yaml", work / "timed.mp3"
    distinct = write_routine(routine, args.minutes)
    log(f"routine: {routine} ({distinct} distinct lines); work folder {work}")
    colds: list[Run] = []
    for run in range(args.cold_runs):
        colds.append(build(routine, output, work / f"cache-{run}"))  # an empty cache each time
        log(f"cold build {run + 1}: {colds[-1].seconds:.2f}s ({length_of(colds[-1])})")
    cache = work / f"cache-{args.cold_runs - 1}"
    pcm = work / "timed.s16le"
    audio_seconds = write_pcm(routine, cache, pcm)
    plan = work / "plan.json"
    plan.write_text(psoas(cache, "plan", routine, "--json", "--engine", ENGINE).stdout)
    warms: list[Run] = []
    encodes: list[float] = []
    baselines: list[float] = []
    for run in range(max(args.warm_runs, args.encode_runs)):  # interleaved
        if run < args.warm_runs:
            warms.append(build(routine, output, cache))
            log(f"warm build {run + 1}: {warms[-1].seconds:.2f}s")
        if run < args.encode_runs:
            encodes.append(encode(pcm, work / "ffmpeg-only.mp3"))
            log(f"ffmpeg-only encode {run + 1}: {encodes[-1]:.2f}s")
        if run < BASELINE_RUNS:
            script = [str(PYTHON), str(ROOT / "scripts" / "baseline.py"), str(plan),
                      str(work / "baseline.mp3")]  # fmt: skip
            baselines.append(timed(script))
            log(f"hand-written pyttsx3 + pydub script: {baselines[-1]:.2f}s")
    batch: dict[int, float] = {}
    if args.batch:
        folder, out = work / "batch", work / "batch-out"
        write_batch(folder)
        psoas(cache, "build", folder, "-o", f"{out}/", "--engine", ENGINE)  # fills the cache
        for jobs in (1, 2) * BATCH_RUNS:  # interleaved, best of each
            seconds = psoas(cache, "build", folder, "-o", f"{out}/", "--engine", ENGINE,
                            "--jobs", str(jobs)).seconds  # fmt: skip
            batch[jobs] = min(seconds, batch.get(jobs, seconds))
            log(f"warm batch of {BATCH_SIZE}, --jobs {jobs}: {seconds:.2f}s")
    memory: list[tuple[str, Run]] = []
    if args.memory_minutes:
        long_routine = work / "memory.yaml"
        write_routine(long_routine, args.memory_minutes)
        memory.append((f"{args.memory_minutes:g} min", build(long_routine, work / "m.mp3",
                                                             work / "cache-memory")))  # fmt: skip
        log(f"{args.memory_minutes:g}-minute cold build: {memory[-1][1].seconds:.1f}s")
    piper = None
    if args.piper:
        piper_cache = work / "cache-piper"
        cold = build(routine, output, piper_cache, "piper")
        warm = build(routine, output, piper_cache, "piper")
        log(f"piper: cold {cold.seconds:.1f}s, warm {warm.seconds:.1f}s")
        piper = (cold, warm)
    return Results(distinct, length_of(colds[0]), audio_seconds, colds, warms, encodes,
                   min(baselines), batch, memory, piper)  # fmt: skip


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def runs(n: int) -> str:
    return f"best of {n}" if n > 1 else "1 run"


def report(r: Results) -> str:
    cold, warm, enc = (min(b.seconds for b in r.colds), min(b.seconds for b in r.warms),
                       min(r.encodes))  # fmt: skip
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
    own = max(own_mb(run) for run in r.colds)
    lines = [
        f"psoas-audio bench  ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, "
        f"ffmpeg {ffmpeg.split()[2]})",
        f"routine: generated, {r.length} long, {r.distinct} distinct spoken lines, "
        f"--engine {ENGINE} (eSpeak NG)",
        "",
        f"  {'':<48}{'seconds':>8}  {'x encode':>8}",
    ]
    rows = [
        (f"cold build ({runs(len(r.colds))})", cold),
        (f"warm build ({runs(len(r.warms))})", warm),
        (f"ffmpeg-only encode ({runs(len(r.encodes))})", enc),
        (f"hand-written pyttsx3 + pydub script ({runs(BASELINE_RUNS)})", r.baseline),
    ]
    lines += [f"  {label:<48}{seconds:>8.2f}  {seconds / enc:>7.2f}x" for label, seconds in rows]
    lines.append(f"    (the encode: one ffmpeg, the same {r.audio_seconds / 60:.2f} min of PCM, "
                 "same format, from a file; a build encodes in parts on every core; the "
                 "script: no leveling)")  # fmt: skip
    if r.piper:
        lines.append(f"  {'piper: cold build / warm build':<48}{r.piper[0].seconds:>8.2f}  "
                     f"{r.piper[0].seconds / enc:>7.2f}x   {r.piper[1].seconds:.2f}s "
                     f"{r.piper[1].seconds / enc:.2f}x")  # fmt: skip
    lines += ["", "  peak memory (VmHWM, sampled every 20 ms), cold builds:"]
    memory = [(f"{r.length} routine", run) for run in r.colds[:1]] + r.memory
    if r.piper:
        memory.append((f"{r.length}, piper", r.piper[0]))
    for label, run in memory:
        engines, engine_mb = run.peak_of("python", "python3", "python3.11", "python3.12")
        lines.append(f"    {label:<22} psoas-audio {own_mb(run):4.0f} MB   engines "
                     f"{engine_mb:4.0f} MB ({engines})   ffmpeg {run.peak_of('ffmpeg')[1]:3.0f} MB"
                     f"   whole tree {run.tree_mb:4.0f} MB")  # fmt: skip
    lines.append("")
    targets = [
        (f"cold build <= {COLD_TARGET:g}x encode", f"{cold / enc:.2f}x", cold / enc <= COLD_TARGET),
        ("cold build faster than the hand-written script", f"{cold:.1f}s vs {r.baseline:.1f}s",
         cold < r.baseline),
        (f"warm build <= {WARM_TARGET:g}x encode", f"{warm / enc:.2f}x", warm / enc <= WARM_TARGET),
        (f"psoas-audio process <= {MEMORY_TARGET_MB:g} MB cold", f"{own:.0f} MB",
         own <= MEMORY_TARGET_MB),
    ]  # fmt: skip
    if r.memory:
        most = max(own_mb(run) for _, run in r.memory)
        targets.append((f"and the same for {r.memory[0][0]}", f"{most:.0f} MB",
                        most <= max(MEMORY_TARGET_MB, own * 1.1)))  # fmt: skip
    if len(r.batch) == 2:
        speedup = r.batch[1] / r.batch[2]
        targets.append((f"warm batch of {BATCH_SIZE}: --jobs 2 >= {BATCH_TARGET:g}x --jobs 1",
                        f"{speedup:.2f}x ({r.batch[1]:.1f}s vs {r.batch[2]:.1f}s)",
                        speedup >= BATCH_TARGET))  # fmt: skip
    lines += [f"  target  {name}: {figure}   {verdict(ok)}" for name, figure, ok in targets]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30, help="timed routine (default 30)")
    parser.add_argument("--memory-minutes", type=float, default=60,
                        help="a longer cold build for memory (default 60; 0: none)")  # fmt: skip
    parser.add_argument("--cold-runs", type=int, default=2, help="each with a fresh cache")
    parser.add_argument("--warm-runs", type=int, default=3)
    parser.add_argument("--encode-runs", type=int, default=3)
    parser.add_argument("--no-batch", dest="batch", action="store_false", help="skip the batch")
    parser.add_argument("--no-piper", dest="piper", action="store_false", help="skip piper")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if min(args.cold_runs, args.warm_runs, args.encode_runs) < 1:
        parser.error("each kind of run needs at least 1")
    work = Path(tempfile.mkdtemp(prefix="psoas-bench-"))

    def log(message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    try:
        results = measure(args, work, log)
    except BuildFailed as exc:
        log(f"{exc}\nfiles kept in {work}")
        return 1
    if args.keep:
        log(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
