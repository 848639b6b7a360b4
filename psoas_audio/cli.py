"""The command line: options in, one library call, errors printed in exactly one place."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from . import authoring, batch, files, heap, interrupts, pipeline
from . import publish as publishing
from .ambience import STYLES
from .cache import Cache
from .durations import format_clock, parse_length, short_clock
from .errors import ChecksFailed, NotPublished, PsoasError, UsageError, did_you_mean
from .level import TARGET_LUFS
from .pcm import SAMPLE_RATE, to_seconds
from .profile import LOUDEST_LUFS, QUIETEST_LUFS, Profile, load_profile
from .routine import RoutineFile
from .speech import list_voices
from .speech.engine import AUTO, VoiceRequest, choose_engine, resolve_language, speaks
from .speech.pace import DEFAULT_WPM, FASTEST_WPM, SLOWEST_WPM
from .speech.process import EngineStartError
from .speech.speaker import Voice
from .timeline import Timeline
from .yamlsource import control_character

if TYPE_CHECKING:  # rich's progress bars are imported only when a terminal shows them
    from rich.progress import Progress, TaskID

app = typer.Typer(
    help="Compile YAML body-work routines into voice-guided MP3s with exact silences.",
    add_completion=False,
    rich_markup_mode=None,
)


def _placeholder_only(self: typer.core.TyperArgument, ctx: object) -> str | None:
    """An argument's help shows its placeholder (ROUTINE), not its Python type."""
    return None


def _usage_name(self: typer.core.TyperArgument) -> str:
    """ROUTINE... in the usage line, as manuals write it (Typer writes {ROUTINE}...)."""
    name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
    return name + ("..." if self.nargs != 1 else "")


# Typer prints each argument's annotation beside it ("ROUTINE <list[Path]>"): not for users.
typer.core.TyperArgument.display_type_rich = _placeholder_only  # type: ignore[method-assign,assignment]
typer.core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]


@app.callback(invoke_without_command=True)
def _main(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", is_eager=True)
    ] = False,
) -> None:
    """Compile YAML body-work routines into voice-guided MP3s with exact silences."""
    heap.one_arena()  # before any thread starts
    if version:
        import importlib.metadata  # only here: it costs a build 30 ms

        typer.echo(f"psoas-audio {importlib.metadata.version('psoas-audio')}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:  # bare psoas-audio: the help, and no error
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


stderr = Console(stderr=True, highlight=False)

# readable=False: an unreadable file is our one-line error, not Click's usage block.
Routines = Annotated[
    list[Path],
    typer.Argument(
        metavar="ROUTINE",
        help="Routine YAML files, or folders of them.",
        show_default=False,
        readable=False,
    ),
]
Sets = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="NAME=VALUE", help="Override a routine var (repeatable)."),
]
EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        metavar="ENGINE",
        help="auto (the natural piper voice where installed, else pyttsx3), piper or pyttsx3 "
        "[default: auto].",
        show_default=False,
    ),
]
VoiceOpt = Annotated[
    str | None, typer.Option("--voice", metavar="VOICE", help="Voice id or name (see 'voices').")
]
RateOpt = Annotated[
    int | None,
    typer.Option(
        "--rate",
        metavar="WPM",
        min=SLOWEST_WPM,
        max=FASTEST_WPM,
        help=f"Words per minute of actual speech, for every engine [default: {DEFAULT_WPM}].",
        show_default=False,
    ),
]
LoudnessOpt = Annotated[
    float | None,
    typer.Option(
        "--loudness",
        metavar="LUFS",
        min=QUIETEST_LUFS,
        max=LOUDEST_LUFS,
        help="Integrated loudness of the track: -16 suits podcast apps, -23 is EBU R128 "
        "[default: -16].",
        show_default=False,
    ),
]
AmbienceOpt = Annotated[
    str | None,
    typer.Option(
        "--ambience",
        metavar="BED",
        help="A soft synthesized bed under the voice: none, rain, ocean or drone "
        "[default: the routine's, else none].",
        show_default=False,
    ),
]
JobsOpt = Annotated[
    int | None,
    typer.Option(
        "--jobs", "-j", metavar="N", min=1, help="Routines built at once [default: the cores]."
    ),
]
ProfileOpt = Annotated[
    Path | None,
    typer.Option(
        "--profile",
        metavar="FILE",
        help="Your own settings over any routine, a YAML file such as: vars: {hold: 30s}, "
        "voice: {rate: 120}, length: 20m, loudness: -18, ambience: rain.",
        readable=False,
        show_default=False,
    ),
]
LengthOpt = Annotated[
    str | None,
    typer.Option(
        "--length",
        metavar="DURATION",
        help="Fit the whole track to this length (e.g. 15m) by choosing its ranges' values.",
        show_default=False,
    ),
]


class _Session:
    """What one command has done so far, so that an interrupt is reported truthfully."""

    def __init__(self) -> None:
        self.written: list[Path] = []
        self.notices: list[str] = []
        self.voices: set[str] = set()  # each voice is named once, however many tracks it speaks
        self.hidden: Path | None = None  # a staging folder: what is written there is not kept

    def interrupted(self) -> str:
        if not self.written:
            return "interrupted; nothing was written, and any older file is as it was"
        done = ", ".join(str(path) for path in self.written)
        return f"interrupted after writing {done}; nothing else was written"


@contextmanager
def _reported() -> Iterator[_Session]:
    """Every PsoasError becomes its message on stderr and exit code 1; no traceback."""
    interrupts.install()
    session = _Session()
    try:
        yield session
    except PsoasError as exc:
        stderr.print(str(exc), markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        stderr.print(session.interrupted(), markup=False, soft_wrap=True)
        raise typer.Exit(130) from None
    except Exception as exc:  # an interrupt inside a C extension's import comes out as its error
        if not isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
            raise
        stderr.print(session.interrupted(), markup=False, soft_wrap=True)
        raise typer.Exit(130) from None
    finally:
        _summarize_notices(session.notices)
        interrupts.finish()


def _summarize_notices(notices: list[str]) -> None:
    if len(notices) > 1:
        stderr.print(f"note: {len(notices) - 1} more like it", markup=False)


def _options(
    sets: list[str] | None,
    engine: str | None,
    voice: str | None,
    rate: int | None,
    loudness: float | None,
    profile: Path | None,
    length: str | None,
    force: bool = False,
    ambience: str | None = None,
) -> pipeline.Options:
    """The options as given, over the profile's settings (flags win, then the profile)."""
    overrides: dict[str, str] = {}
    for item in sets or []:
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise UsageError(f"--set {item}: expected NAME=VALUE, e.g. --set hold=30s")
        overrides[name.strip()] = value.strip()
    found = load_profile(profile) if profile is not None else None
    mine = found.profile if found else Profile()
    seconds, label = mine.length, found.length_label() if found else ""
    required = seconds is None  # a profile's length leaves routines without ranges as written
    if length is not None:
        try:
            seconds, label, required = parse_length(length), f"--length {length}", True
        except ValueError as exc:
            raise UsageError(f"--length {length}: {exc}") from None
    if loudness is None:
        loudness = mine.loudness if mine.loudness is not None else TARGET_LUFS
    bed = ambience if ambience is not None else mine.ambience
    if bed is not None and bed not in STYLES:
        hint = did_you_mean(bed, STYLES)
        raise UsageError(f"--ambience {bed}: no such bed{hint}; choose from {', '.join(STYLES)}")
    return pipeline.Options(
        overrides=overrides,
        profile_vars=mine.vars,
        engine=engine or mine.voice.engine,
        voice=voice if voice is not None else mine.voice.name,
        rate=rate or mine.voice.rate,
        loudness=loudness,
        ambience=bed,
        length=seconds,
        length_label=label,
        length_required=required,
        force=force,
    )


# Of what is left of a build's bar, the share each stage fills as it goes; encoding takes
# nearly all the rest, so the bar only moves forward, whichever stages a build goes through.
STAGE_SHARE = {"speaking": 0.3, "leveling": 0.25, "encoding": 0.9}
BAR_UNITS = 1000


class _Display:
    """One build's progress on stderr, and its notices.

    On a terminal, one bar per build that only moves forward through its stages (speaking
    n/N lines, leveling, encoding by seconds of audio), with the time left. Elsewhere (CI,
    cron, a batch's log), with `lines`, one plain line per stage with its time. `quiet`
    shows nothing but errors.
    """

    def __init__(
        self,
        session: _Session,
        progress: Progress | None,
        label: str,
        batch: bool = False,
        *,
        lines: bool = False,
        quiet: bool = False,
    ) -> None:
        self.session, self.progress, self.label, self.batch = session, progress, label, batch
        self.lines, self.quiet = lines and progress is None and not quiet, quiet
        self.task: TaskID | None = None
        self._stage: tuple[str, int, float] | None = None  # name, total, since when
        self._span = (0.0, 0.0)  # where the stage's part of the bar starts, and its length
        self._done = 0.0  # of the bar, in BAR_UNITS

    def start(self, stage: str, total: int) -> None:
        total = max(total, 1)
        if self._stage is not None and self._stage[0] == stage:  # the same stage goes on
            self._stage = (stage, total, self._stage[2])
            return
        self._stage_done()
        self._stage = (stage, total, time.monotonic())
        share = STAGE_SHARE.get(stage.split()[0], 0.5)
        self._span = (self._done, (BAR_UNITS - self._done) * share)
        self._show(stage, 0, total)

    def update(self, done: int) -> None:
        if self._stage is not None:
            self._show(self._stage[0], done, self._stage[1])

    def _show(self, stage: str, done: int, total: int) -> None:
        start, length = self._span
        self._done = max(self._done, start + length * min(done / total, 1.0))
        if self.progress is None:
            return
        description = f"{self.label}: {stage}{_amount(stage, done, total)}"
        if self.task is None:
            self.task = self.progress.add_task(description, total=BAR_UNITS)
        self.progress.update(self.task, completed=self._done, description=description)

    def _stage_done(self) -> None:
        if self._stage is not None and self.lines:
            stage, total, since = self._stage
            took = time.monotonic() - since
            line = f"{self.label}: {stage}{_amount(stage, total, total)} {took:.1f}s"
            stderr.print(line, markup=False, soft_wrap=True)
        self._stage = None

    def close(self) -> None:
        """The build is done: the last stage's line."""
        self._stage_done()

    def notice(self, message: str) -> None:
        self.session.notices.append(message)
        if len(self.session.notices) == 1 and not self.quiet:  # the first in full
            (self.progress.console if self.progress else stderr).print(
                f"note: {message}", markup=False, soft_wrap=True
            )

    def speaking(self, voice: str, pace: float) -> None:
        """The voice, once per command; a single track adds the pace its lines measure."""
        if voice not in self.session.voices:
            self.session.voices.add(voice)
            measured = f" (its lines measure {pace:.0f} wpm)" if pace and not self.batch else ""
            if not self.quiet:
                (self.progress.console if self.progress else stderr).print(
                    f"voice: {voice}{measured}", markup=False, soft_wrap=True
                )

    def written(self, path: Path) -> None:
        self._stage_done()
        if self.session.hidden is None or self.session.hidden not in path.parents:
            self.session.written.append(path)


def _amount(stage: str, done: int, total: int) -> str:
    """How far a stage is, in its own units: lines spoken, or audio encoded."""
    if stage.startswith("speaking"):
        return f" {done}/{total} lines" if done < total else f" {total} lines"
    if stage.startswith("encoding"):
        whole = short_clock(total / SAMPLE_RATE)
        return (
            f" {short_clock(done / SAMPLE_RATE)} of {whole}"
            if done < total
            else f" {whole} of audio"
        )
    return ""


@contextmanager
def _bars(quiet: bool = False) -> Iterator[Progress | None]:
    """Progress bars on stderr, only when a person is watching."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
    with Progress(*columns, console=stderr, transient=True) as progress:
        yield progress


@contextmanager
def _display(
    session: _Session, label: str, *, lines: bool = False, quiet: bool = False
) -> Iterator[_Display]:
    with _bars(quiet) as bars:
        display = _Display(session, bars, label, lines=lines, quiet=quiet)
        yield display
        display.close()


@app.command(
    short_help="Build routines into voice-guided MP3s, with transcripts.",
    epilog="Examples:  psoas-audio build routines/psoas-release.yaml\n\n"
    "psoas-audio build routines/psoas-release.yaml --length 15m\n\n"
    "psoas-audio build routines/ --profile me.yaml -o output/mine/\n\n"
    "psoas-audio build routines/kneeling-lunge-stretch.yaml --set hold=30s --rate 120 "
    "-o ~/lunge.mp3",
)
def build(
    routines: Routines,
    output: Annotated[
        str | None,  # a str, so that a trailing "/" (a folder) survives
        typer.Option(
            "-o",
            "--output",
            metavar="PATH",
            help="MP3 path, or a folder (one that exists, or ending in /) "
            "[default: output/STEM.mp3].",
        ),
    ] = None,
    sets: Sets = None,
    engine: EngineOpt = None,
    voice: VoiceOpt = None,
    rate: RateOpt = None,
    loudness: LoudnessOpt = None,
    profile: ProfileOpt = None,
    length: LengthOpt = None,
    ambience: AmbienceOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing -o file even if it is not an MP3.")
    ] = False,
    transcript: Annotated[
        bool,
        typer.Option(
            "--transcript/--no-transcript", help="Write STEM.vtt, the timed words, beside the MP3."
        ),
    ] = True,
    lrc: Annotated[
        bool, typer.Option("--lrc", help="Also write STEM.lrc (synced lyrics for music players).")
    ] = False,
    jobs: JobsOpt = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the result: no voice, no progress.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Also print the figures: loudness, peak, cache hits."),
    ] = False,
) -> None:
    """Build routines (files, or folders of *.yaml) into MP3s with .vtt transcripts.

    One routine prints its path and length. Several are a batch: built in parallel, a table of
    what was built, and a playlist.m3u beside the MP3s; a broken routine is reported and the
    others still build (the exit code is then 1). Progress goes to stderr: a bar on a
    terminal, else a line per stage with its time.
    """
    with _reported() as session:
        options = replace(
            _options(sets, engine, voice, rate, loudness, profile, length, force, ambience),
            transcript=transcript,
            lrc=lrc,
        )
        if quiet and verbose:
            raise UsageError("--quiet and --verbose: choose one")
        paths = _routine_files(routines)
        targets = _targets(paths, output)
        if len(paths) > 1:
            workers = jobs or os.cpu_count() or 1
            _build_batch(session, paths, targets, options, workers, quiet, verbose)
            return
        [source] = _check_all(paths, options)
        for path, kind in pipeline.outputs(targets[0], options):  # before any speech work
            files.output_target(path, kind, force=force)
        with _display(session, source.path.name, lines=True, quiet=quiet) as display:
            built = pipeline.build(source, targets[0], options, display)
        typer.echo(f"{built.output}  {format_clock(built.seconds)}")
        if verbose:
            for line in _figures(built):
                stderr.print(line, markup=False, soft_wrap=True)


@app.command(
    short_help="Build routines into a site to open from disk or upload.",
    epilog="Examples:  psoas-audio publish routines/ --site output/site "
    "--base-url https://example.org/psoas/\n\n"
    "psoas-audio publish routines/psoas-release.yaml --profile me.yaml --site ~/my-track",
)
def publish(
    routines: Routines,
    site: Annotated[
        Path, typer.Option("--site", metavar="FOLDER", help="Where the site is written.")
    ] = Path("output/site"),
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            metavar="URL",
            help="Where the site will live, e.g. https://example.org/psoas/; the podcast feed "
            "needs it.",
            show_default=False,
        ),
    ] = None,
    title: Annotated[
        str | None,
        typer.Option(
            "--title", metavar="TEXT", help="The site's and feed's title.", show_default=False
        ),
    ] = None,
    description: Annotated[
        str | None,
        typer.Option(
            "--description",
            metavar="TEXT",
            help="A sentence about the collection.",
            show_default=False,
        ),
    ] = None,
    sets: Sets = None,
    engine: EngineOpt = None,
    voice: VoiceOpt = None,
    rate: RateOpt = None,
    loudness: LoudnessOpt = None,
    profile: ProfileOpt = None,
    length: LengthOpt = None,
    ambience: AmbienceOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace files in the site even if not of their kind.")
    ] = False,
    jobs: JobsOpt = None,
) -> None:
    """Build routines into a site to open from disk or upload: index.html with a player per
    track, chapter links and transcripts; feed.xml for podcast apps; playlist.m3u.

    Everything the page needs is in the folder: nothing is fetched from elsewhere.
    """
    with _reported() as session:
        options = replace(
            _options(sets, engine, voice, rate, loudness, profile, length, force, ambience),
            transcript=True,
        )
        for flag, text in (("--title", title), ("--description", description)):
            bad = control_character(text or "")
            if bad is not None:
                raise UsageError(f"{flag}: {bad} in the text; remove it")
        if base_url is not None:
            publishing.check_base_url(base_url)
        previous, damaged = publishing.read_previous(site / publishing.FEED)
        if damaged:
            stderr.print(f"note: {damaged}", markup=False, soft_wrap=True)
        if base_url is None and previous is not None:
            base_url = publishing.feed_base_url(previous)
            if base_url:
                stderr.print(f"note: the feed keeps its address {base_url}, from the feed.xml "
                             "already there", markup=False, soft_wrap=True)  # fmt: skip
        paths = _routine_files(routines)
        _publish(session, paths, site, options, base_url, title, description, previous, jobs)
        if base_url is None:
            stderr.print(
                "note: no feed.xml written: a podcast app can only subscribe to a feed at a web "
                "address; publish again with --base-url (where the site will live)",
                markup=False,
                soft_wrap=True,
            )


def _publish(
    session: _Session,
    paths: list[Path],
    site: Path,
    options: pipeline.Options,
    base_url: str | None,
    title: str | None,
    description: str | None,
    previous: bytes | None,
    jobs: int | None,
) -> None:
    """Every routine built into a staging folder in the site; then, only if all of them built,
    every file moved into place under one hold on interrupts. A failure or an interrupt
    leaves the site as it was, so its page and feed always describe the MP3s beside them."""
    targets = _targets(paths, f"{site}/")
    kinds: dict[str, files.Kind] = {batch.PLAYLIST: files.M3U}
    kinds.update(publishing.own_files(base_url is not None))
    for path, target in zip(paths, targets, strict=True):
        mine = [(o.name, kind) for o, kind in pipeline.outputs(target, options)]
        for name, kind in mine + publishing.track_files(target.stem):
            if name in kinds:
                raise UsageError(f"{path}: its {name} would be the site's own {name}; "
                                 "rename the routine")  # fmt: skip
            kinds[name] = kind
    for name, kind in kinds.items():  # every file is checked before any speech work
        files.output_target(site / name, kind, force=options.force)
    with files.output_folder(site), files.staging_folder(site) as staging:
        session.hidden = staging
        staged = [staging / target.name for target in targets]
        rows, outcomes, _ = _batch(session, paths, staged, options, jobs or os.cpu_count() or 1)
        table = [(rows[p][0].replace(str(staging), str(site)), *rows[p][1:]) for p in paths]
        if any(row[1] == "failed" for row in table):
            typer.echo(_table(table, []))
            raise NotPublished(
                "nothing was published: every routine must build; the site is as it was"
            )
        tracks = [publishing.Track(o.job.target.stem, o.built, o.size) for o in outcomes if o.built]
        channel = publishing.channel_for(tracks, base_url, title, description)
        outputs = publishing.site(tracks, channel, previous)
        files.write_all([(staging / name, kind, data) for name, kind, data in outputs])
        moves = sorted(path.name for path in staging.iterdir() if not path.name.startswith("."))
        real = {name: files.output_target(site / name, kinds[name], force=options.force)
                for name in moves}  # fmt: skip
        with interrupts.deferred():
            for name in moves:
                files.move_into_place(staging / name, real[name])
                session.written.append(site / name)
    shown = [site / batch.PLAYLIST, site / publishing.PAGE]
    typer.echo(_table(table, shown + ([site / publishing.FEED] if channel.base_url else [])))


def _routine_files(given: list[Path]) -> list[Path]:
    """The routines named: files as given, folders as every *.yaml in them, sorted by name."""
    paths: list[Path] = []
    for path in given:
        if path.is_dir():
            found = sorted(path.glob("*.yaml"))
            if not found:
                raise UsageError(f"{path}: a folder with no *.yaml routines in it")
            paths += found
        else:
            paths.append(path)
    return paths


def _figures(built: pipeline.Built) -> list[str]:
    """What --verbose adds: the track as metered, and what the cache saved."""
    found = [f"  lines: {built.distinct} distinct, {built.cached} from the cache, "
             f"{built.distinct - built.cached} spoken"]  # fmt: skip
    measured = built.measured
    if measured is None:
        found.append("  loudness: not metered (a build of this version left no figures)")
    else:
        found.append(
            f"  loudness: {measured.lufs:.1f} LUFS, peak {measured.peak_db:.1f} dBFS "
            "(the MP3 as its first build metered it; later builds reuse its gains)"
        )
    return found


def _build_batch(
    session: _Session,
    paths: list[Path],
    targets: list[Path],
    options: pipeline.Options,
    workers: int,
    quiet: bool = False,
    verbose: bool = False,
) -> None:
    """Every good routine built in parallel; every broken one reported; exit 1 if any was.
    With verbose, each track's figures follow the table, in the routines' order."""
    rows, outcomes, written = _batch(
        session, paths, targets, options, workers, lines=True, quiet=quiet
    )
    typer.echo(_table([rows[path] for path in paths], [written] if written else []))
    if verbose:
        for outcome in sorted(outcomes, key=lambda o: paths.index(o.job.path)):
            if outcome.built is not None:
                stderr.print(f"{outcome.built.output}:", markup=False, soft_wrap=True)
                for line in _figures(outcome.built):
                    stderr.print(line, markup=False, soft_wrap=True)
    if any(row[1] == "failed" for row in rows.values()):
        raise typer.Exit(1)


Row = tuple[str, str, str, str]


def _batch(
    session: _Session,
    paths: list[Path],
    targets: list[Path],
    options: pipeline.Options,
    workers: int,
    *,
    lines: bool = False,
    quiet: bool = False,
) -> tuple[dict[Path, Row], list[batch.Outcome], Path | None]:
    """The batch built: a table row per routine, what each build did, and the playlist."""
    playlist = targets[0].parent / batch.PLAYLIST
    files.output_target(playlist, files.M3U, force=options.force)
    rows: dict[Path, Row] = {}
    jobs: list[batch.Job] = []
    good: list[tuple[Path, Path]] = []
    for path, target in zip(paths, targets, strict=True):
        try:
            pipeline.check(path, options)
            for output, kind in pipeline.outputs(target, options):
                files.output_target(output, kind, force=options.force)
        except PsoasError as exc:
            stderr.print(str(exc), markup=False, soft_wrap=True)
            rows[path] = (str(path), "failed", "", "")
        else:
            good.append((path, target))
    for number, (path, target) in enumerate(good, start=1):  # the album: the folder given
        place = pipeline.Place(path.absolute().parent.name, number, len(good))
        jobs.append(batch.Job(path, target, place))
    written, outcomes = None, []
    if jobs:
        with files.output_folder(targets[0].parent), _bars(quiet) as bars:
            displays = [_Display(session, bars, job.path.name, batch=True, lines=lines, quiet=quiet)
                        for job in jobs]  # fmt: skip
            outcomes = batch.build_all(jobs, options, workers, displays.__getitem__)
            written = batch.write_playlist(targets[0].parent, outcomes)
        for outcome in outcomes:
            if outcome.error:
                stderr.print(outcome.error, markup=False, soft_wrap=True)
            rows[outcome.job.path] = _row(outcome)
    return rows, outcomes, written


def _row(outcome: batch.Outcome) -> Row:
    elapsed = f"{outcome.elapsed:.1f}s"
    if outcome.built is None:
        return (str(outcome.job.path), "failed", "", elapsed)
    size = f"{outcome.size / 1e6:.1f} MB"
    return (str(outcome.job.target), format_clock(outcome.built.seconds), size, elapsed)


def _table(rows: list[Row], also: list[Path]) -> str:
    """file, length, size and time of each track, in the routines' order; then the playlist
    and whatever else was written."""
    width = max(len(row[0]) for row in rows)
    lines = [f"{'file':<{width}}  {'length':>7}  {'size':>8}  {'time':>7}"]
    lines += [f"{a:<{width}}  {b:>7}  {c:>8}  {d:>7}".rstrip() for a, b, c, d in rows]
    lines += [str(path) for path in also]
    return "\n".join(lines)


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
    seen: dict[str, Path] = {}
    for routine, target in zip(routines, targets, strict=True):
        key = os.path.realpath(target)
        if key in seen:
            raise UsageError(f"{seen[key]} and {routine} would both be written to {target}")
        if key == os.path.realpath(routine):
            raise UsageError(f"{routine}: refusing to overwrite the routine with its MP3")
        seen[key] = routine
    return targets


def _check_all(
    routines: list[Path], options: pipeline.Options, session: _Session | None = None
) -> list[RoutineFile]:
    """Every routine checked; a PsoasError listing every mistake in every file if any.

    With a session, each routine is also planned against real speech (what `check` does),
    and the good ones are reported as ok.
    """
    sources, failures = [], []
    for path in routines:
        try:
            source = pipeline.check(path, options)
            if session is not None:
                with _display(session, path.name) as display:
                    pipeline.plan_routine(source, options, display)
        except PsoasError as exc:
            failures.append(str(exc))
        else:
            sources.append(source)
            if session is not None:
                typer.echo(f"{path}: ok")
    if failures:
        raise ChecksFailed("\n".join(failures))
    return sources


@app.command(
    short_help="Validate routines as build would, writing nothing.",
    epilog="Examples:  psoas-audio check routines/*.yaml\n\n"
    "psoas-audio check routines/kneeling-lunge-stretch.yaml --set hold=30s --rate 120",
)
def check(
    routines: Routines,
    sets: Sets = None,
    engine: EngineOpt = None,
    voice: VoiceOpt = None,
    rate: RateOpt = None,
    loudness: LoudnessOpt = None,
    profile: ProfileOpt = None,
    length: LengthOpt = None,
    ambience: AmbienceOpt = None,
) -> None:
    """Validate routines as build would, without writing a track; mistakes as FILE:LINE:COL.

    Lines not spoken yet are spoken into the speech cache, so that cues are checked against
    the real speech.
    """
    with _reported() as session:
        options = _options(sets, engine, voice, rate, loudness, profile, length, ambience=ambience)
        _check_all(_routine_files(routines), options, session)


@app.command(
    short_help="Show the timeline, with the speech's real lengths.",
    epilog="Examples:  psoas-audio plan routines/bed-edge-stretch.yaml\n\n"
    "psoas-audio plan routines/psoas-release.yaml --length 15m   (what the fit chose)\n\n"
    "psoas-audio plan routines/bed-edge-stretch.yaml --json | jq .duration",
)
def plan(
    routine: Annotated[
        Path,
        typer.Argument(
            metavar="ROUTINE", help="A routine YAML file.", show_default=False, readable=False
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    sets: Sets = None,
    engine: EngineOpt = None,
    voice: VoiceOpt = None,
    rate: RateOpt = None,
    loudness: LoudnessOpt = None,
    profile: ProfileOpt = None,
    length: LengthOpt = None,
    ambience: AmbienceOpt = None,
) -> None:
    """Show the timeline (start, kind, text) with the same speech timings as the build."""
    with _reported() as session:
        options = _options(sets, engine, voice, rate, loudness, profile, length, ambience=ambience)
        found = _routine_files([routine])
        if len(found) != 1:
            raise UsageError(f"{routine}: plan shows one routine; this folder holds {len(found)}")
        source = pipeline.check(found[0], options)
        with _display(session, routine.name) as display:
            planned = pipeline.plan_routine(source, options, display)
        timeline, chosen = planned.timeline, planned.source
        ignored = [name for name in options.profile_vars if name not in chosen.applied]
        spoken = planned.voice
        if as_json:
            shown = timeline.as_json()
            if spoken is not None:
                shown |= {"engine": spoken.engine, "voice": spoken.id, "rate": spoken.rate}
            shown["pace"] = round(timeline.pace(), 1)
            shown["ambience"] = pipeline.ambience(chosen, options)
            shown["ranges"] = [
                {"name": r.name, "low": r.low, "high": r.high, "value": round(r.value, 6)}
                for r in chosen.ranges
            ]
            if profile is not None:
                shown["profile"] = {"applied": list(chosen.applied), "ignored": ignored}
            typer.echo(json.dumps(shown, indent=2, ensure_ascii=False))
        else:
            typer.echo(plan_table(timeline, spoken, pipeline.ambience(chosen, options)))
            typer.echo(_choices(chosen, options, profile, ignored), nl=False)


def _choices(
    source: RoutineFile, options: pipeline.Options, profile: Path | None, ignored: list[str]
) -> str:
    """What the plan chose: each range's value, and which of the profile's vars applied."""
    lines = []
    if source.ranges:
        target = options.length or source.routine.length
        lines.append(f"ranges{f' (fitted to {short_clock(target)})' if target else ''}:")
        width = max(len(r.name) for r in source.ranges)
        lines += [
            f"  {r.name:<{width}}  {_exact_clock(r.low)}..{_exact_clock(r.high)}  ->  "
            f"{_exact_clock(r.value)}"
            for r in source.ranges
        ]
    if profile is not None:
        applied = ", ".join(source.applied) or "none"
        lines.append(f"profile {profile}: vars applied: {applied}")
        if ignored:
            lines.append(f"  not used by this routine: {', '.join(ignored)}")
    return "".join(f"{line}\n" for line in lines)


def _exact_clock(seconds: float) -> str:
    """9:12.345 or 1.5s, to the millisecond and no more digits than it needs."""
    minutes, rest = divmod(round(seconds, 3), 60)
    secs = f"{rest:06.3f}".rstrip("0").rstrip(".") if minutes else f"{rest:.3f}".rstrip("0")
    return f"{int(minutes)}:{secs}" if minutes else f"{secs.rstrip('.')}s"


def plan_table(timeline: Timeline, voice: Voice | None = None, bed: str = "none") -> str:
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
    lines.append("")
    if voice is not None:
        lines.append(f"voice {voice}; its lines are spoken at {timeline.pace():.0f} wpm")
    if bed != "none":
        lines.append(f"ambience {bed}, under the whole track")
    lines.append(f"total {format_clock(timeline.seconds)} ({timeline.seconds:.3f}s)")
    return "\n".join(lines)


@app.command(
    short_help="Write a commented starter routine.",
    epilog="Example:  psoas-audio new routines/my-routine.yaml",
)
def new(
    path: Annotated[
        Path, typer.Argument(metavar="PATH", help="Where to write it.", show_default=False)
    ],
) -> None:
    """Write a commented starter routine that shows every feature; never overwrites a file."""
    with _reported():
        if path.suffix.lower() not in (".yaml", ".yml"):
            raise UsageError(f"{path}: a routine's name ends in .yaml")
        with files.output_folder(path.parent), files.staged(path) as staged:
            staged.path.write_text(authoring.STARTER, encoding="utf-8")
            staged.commit_new()
        schema = path.parent / authoring.SCHEMA_FILE
        if not schema.exists():  # what its first line points editors at
            with files.staged(schema) as staged:
                staged.path.write_text(authoring.schema_text(), encoding="utf-8")
                staged.commit_new()
        typer.echo(f"{path}: a starter routine; build it with: psoas-audio build {path}")


@app.command(
    short_help="Print the JSON Schema of the routine format.",
    epilog="Example:  psoas-audio schema > routines/routine.schema.json",
)
def schema() -> None:
    """Print the JSON Schema (draft 2020-12) of the routine format, for editors."""
    typer.echo(authoring.schema_text(), nl=False)


@app.command(
    short_help="List the voices an engine offers on this machine.",
    epilog="Examples:  psoas-audio voices --engine pyttsx3\n\npsoas-audio voices --language de",
)
def voices(
    engine: Annotated[str, typer.Option(metavar="ENGINE", help="auto, piper or pyttsx3.")] = AUTO,
    language: Annotated[
        str | None,
        typer.Option(metavar="CODE", help="Only voices for this language code, e.g. de or en-gb."),
    ] = None,
) -> None:
    """List the voices an engine offers on this machine (auto: the engine a routine in this
    language would get)."""
    with _reported():
        chosen = choose_engine(VoiceRequest(engine=engine, language=language)).engine
        try:
            found = list_voices(chosen)
        except EngineStartError as exc:
            if engine != AUTO or chosen == "pyttsx3":
                raise
            stderr.print(f"note: {exc}; listing pyttsx3's voices", markup=False, soft_wrap=True)
            chosen = "pyttsx3"
            found = list_voices(chosen)
        engine = chosen
        if language is not None:
            resolve_language(language, found, engine)  # none speaks it: say so, and exit 1
        for voice in found:
            if language is None or speaks(voice, language):
                languages = ",".join(voice.languages)
                typer.echo(f"{voice.id:<28} {voice.name:<28} {languages}")


@app.command(
    "cache",
    short_help="Show where the cache is and its size; prune or clear it.",
    epilog="Examples:  psoas-audio cache\n\npsoas-audio cache --prune 30\n\n"
    "psoas-audio cache --clear",
)
def cache_command(
    prune: Annotated[
        int | None,
        typer.Option(
            "--prune",
            metavar="DAYS",
            min=0,
            help="Remove entries no build has read or written for this many days.",
            show_default=False,
        ),
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Remove every entry (they are made again as needed).")
    ] = False,
) -> None:
    """Show where the cache of speech, levels and covers is and how big it is; prune or clear it.

    Every voice, rate and loudness adds entries. Removing them is always safe: a build makes
    what it needs again (a build running meanwhile too). PSOAS_AUDIO_CACHE moves the cache.
    """
    with _reported():
        if prune is not None and clear:
            raise UsageError("--prune and --clear: choose one")
        store = Cache()
        if prune is not None or clear:
            gone = store.prune(None if clear else prune)
            typer.echo(f"removed {gone.entries:,} entries ({_megabytes(gone.bytes)})")
        left = store.usage()
        typer.echo(f"{store.folder}: {left.entries:,} entries, {_megabytes(left.bytes)}")


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
