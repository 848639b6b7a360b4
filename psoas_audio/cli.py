"""The command line: options in, one library call, errors printed in exactly one place."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from . import pipeline
from .durations import format_clock
from .errors import PsoasError, UsageError
from .level import TARGET_LUFS
from .pcm import to_seconds
from .routine import RoutineFile
from .speech import list_voices
from .speech.engine import engine_path, speaks
from .timeline import Timeline

app = typer.Typer(
    help="Compile YAML body-work routines into voice-guided MP3s with exact silences.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
stderr = Console(stderr=True, highlight=False)

# readable=False: an unreadable file is our one-line error, not Click's usage block.
Routines = Annotated[
    list[Path], typer.Argument(help="Routine YAML files.", show_default=False, readable=False)
]
Sets = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="NAME=VALUE", help="Override a routine var (repeatable)."),
]
EngineOpt = Annotated[str | None, typer.Option("--engine", help="Speech engine, e.g. pyttsx3.")]
VoiceOpt = Annotated[str | None, typer.Option("--voice", help="Voice id or name (see 'voices').")]
RateOpt = Annotated[
    int | None, typer.Option("--rate", min=80, max=450, help="Speaking rate in words per minute.")
]


@contextmanager
def _reported() -> Iterator[None]:
    """Every PsoasError becomes its message on stderr and exit code 1; no traceback."""
    _interrupt_on_sigterm()
    try:
        yield
    except PsoasError as exc:
        stderr.print(str(exc), markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        stderr.print("interrupted; no partial file was left", markup=False)
        raise typer.Exit(130) from None


def _interrupt_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so the temporary MP3 is removed on the way out."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def _options(
    sets: list[str] | None, engine: str | None, voice: str | None, rate: int | None
) -> pipeline.Options:
    overrides: dict[str, str] = {}
    for item in sets or []:
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise UsageError(f"--set {item}: expected NAME=VALUE, e.g. --set hold=30s")
        overrides[name.strip()] = value.strip()
    if engine is not None:
        engine_path(engine)  # an unknown engine is reported before any file is read
    return pipeline.Options(overrides=overrides, engine=engine, voice=voice, rate=rate)


class _Bars:
    """Progress bars on stderr, only when a person is watching."""

    def __init__(self, progress: Progress, label: str) -> None:
        self.progress, self.label = progress, label
        self.task: TaskID | None = None

    def start(self, stage: str, total: int) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(f"{self.label}: {stage}", total=max(total, 1))

    def update(self, done: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=done)


@contextmanager
def _progress(label: str) -> Iterator[pipeline.Progress | None]:
    if not sys.stderr.isatty():
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
    with Progress(*columns, console=stderr, transient=True) as progress:
        yield _Bars(progress, label)


@app.command(
    epilog="Examples:  psoas-audio build routines/psoas-release.yaml\n\n"
    "psoas-audio build routines/kneeling-lunge-stretch.yaml --set hold=30s --rate 140 "
    "-o ~/lunge.mp3"
)
def build(
    routines: Routines,
    output: Annotated[
        str | None,  # a str, so that a trailing "/" (a folder) survives
        typer.Option(
            "-o", "--output", help="MP3 path, or a folder ending in / [default: output/STEM.mp3]."
        ),
    ] = None,
    sets: Sets = None,
    engine: EngineOpt = None,
    voice: VoiceOpt = None,
    rate: RateOpt = None,
    loudness: Annotated[
        float,
        typer.Option(
            "--loudness",
            metavar="LUFS",
            min=-30,
            max=-14,
            help="Integrated loudness of the track: -16 suits podcast apps, -23 is EBU R128.",
        ),
    ] = TARGET_LUFS,
) -> None:
    """Build each routine into an MP3 and print its path and length."""
    with _reported():
        options = replace(_options(sets, engine, voice, rate), loudness=loudness)
        targets = _targets(routines, output)
        sources = _check_all(routines, options)  # all mistakes first; nothing is written on any
        for source, target in zip(sources, targets, strict=True):
            with _progress(source.path.name) as progress:
                built = pipeline.build(source, target, options, progress)
            typer.echo(f"{built.output}  {format_clock(built.seconds)}")


def _targets(routines: list[Path], output: str | None) -> list[Path]:
    """Where each MP3 goes; two routines never share a target, nor overwrite a routine."""
    if output is None:
        targets = [Path("output") / f"{path.stem}.mp3" for path in routines]
    elif output.endswith(("/", os.sep)) or Path(output).is_dir():
        targets = [Path(output) / f"{path.stem}.mp3" for path in routines]
    elif len(routines) > 1:
        raise UsageError("-o names one file, but several routines were given; pass a folder/")
    else:
        targets = [Path(output)]
    seen: dict[Path, Path] = {}
    for routine, target in zip(routines, targets, strict=True):
        key = target.resolve()
        if key in seen:
            raise UsageError(f"{seen[key]} and {routine} would both be written to {target}")
        if key == routine.resolve():
            raise UsageError(f"{routine}: refusing to overwrite the routine with its MP3")
        seen[key] = routine
    return targets


def _check_all(
    routines: list[Path], options: pipeline.Options, *, report_ok: bool = False
) -> list[RoutineFile]:
    """Every routine checked; a PsoasError listing every mistake in every file if any."""
    sources, failures = [], []
    for path in routines:
        try:
            sources.append(pipeline.check(path, options))
        except PsoasError as exc:
            failures.append(str(exc))
        else:
            if report_ok:
                typer.echo(f"{path}: ok")
    if failures:
        raise PsoasError("\n".join(failures))
    return sources


@app.command(epilog="Example:  psoas-audio check routines/*.yaml")
def check(routines: Routines, sets: Sets = None) -> None:
    """Validate routines without building them; every mistake is shown as FILE:LINE:COL."""
    with _reported():
        _check_all(routines, _options(sets, None, None, None), report_ok=True)


@app.command(
    epilog="Examples:  psoas-audio plan routines/bed-edge-stretch.yaml\n\n"
    "psoas-audio plan routines/bed-edge-stretch.yaml --json | jq .duration"
)
def plan(
    routine: Annotated[
        Path, typer.Argument(help="A routine YAML file.", show_default=False, readable=False)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    sets: Sets = None,
    engine: EngineOpt = None,
    voice: VoiceOpt = None,
    rate: RateOpt = None,
) -> None:
    """Show the timeline (start, kind, text) with the same speech timings as the build."""
    with _reported():
        options = _options(sets, engine, voice, rate)
        source = pipeline.check(routine, options)
        with _progress(routine.name) as progress:
            timeline = pipeline.plan_routine(source, options, progress).timeline
        if as_json:
            typer.echo(json.dumps(timeline.as_json(), indent=2, ensure_ascii=False))
        else:
            typer.echo(plan_table(timeline))


def plan_table(timeline: Timeline) -> str:
    lines = [timeline.title, ""]
    pending = list(timeline.sections)  # sorted by start, outer first
    for event in timeline.events:
        while pending and pending[0].start <= event.start:
            lines.append(f"{'':>7}  == {pending.pop(0).title} ==")
        length = to_seconds(event.length)
        if event.kind == "silence":
            text = f"({event.role} {round(length, 3):g}s)"
        else:
            text = event.text if event.role in ("say", "chime") else f"({event.role}) {event.text}"
        lines.append(f"{format_clock(to_seconds(event.start)):>7}  {event.kind:<7}  {text}")
    lines += ["", f"total {format_clock(timeline.seconds)} ({timeline.seconds:.3f}s)"]
    return "\n".join(lines)


@app.command(
    epilog="Examples:  psoas-audio voices --engine pyttsx3\n\npsoas-audio voices --language de"
)
def voices(
    engine: Annotated[str, typer.Option(help="Speech engine.")] = "pyttsx3",
    language: Annotated[
        str | None, typer.Option(help="Only voices for this language code, e.g. de or en-gb.")
    ] = None,
) -> None:
    """List the voices an engine offers on this machine."""
    with _reported():
        for voice in list_voices(engine):
            if language is None or speaks(voice, language):
                languages = ",".join(voice.languages)
                typer.echo(f"{voice.id:<28} {voice.name:<28} {languages}")
