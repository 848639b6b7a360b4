"""Properties of any routine (hypothesis): the plan is exact and repeatable, check agrees with
build, and no input of any shape gets anything but a valid routine or the project's own error."""

from __future__ import annotations

import contextlib
import itertools
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from psoas_audio import PsoasError, RoutineFile, load_routine
from psoas_audio.chime import STYLES, chime
from psoas_audio.errors import PlanError
from psoas_audio.pcm import to_samples
from psoas_audio.script import Mark, Quiet, expand, phrases
from psoas_audio.timeline import Timeline, plan

WORDS = ["Relax", "the", "hips", "and", "breathe", "slowly", "hold", "{side}", "{rep}", "now"]
CHIME_LENGTHS = {style: len(chime(style)) for style in STYLES}

texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join)
milliseconds = st.integers(min_value=1, max_value=6_000).map(lambda ms: f"{ms / 1000:g}s")
seconds = st.integers(min_value=1, max_value=40).map(lambda s: f"{s}s")


def timed(action: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {action: seconds},
        optional={
            "say": texts,
            "countdown": st.integers(min_value=1, max_value=5),
            "halfway": st.booleans(),
            "remind": st.fixed_dictionaries(
                {"every": st.sampled_from(["3s", "5s", "12s"]), "say": st.lists(texts, min_size=1)}
            ),
        },
    )


leaf = st.one_of(
    st.builds(lambda text: {"say": text}, texts),
    st.builds(lambda length: {"pause": length}, milliseconds),
    timed("hold"),
    timed("rest"),
    st.builds(lambda style: {"chime": style}, st.sampled_from(sorted(STYLES))),
)


def blocks(inner: st.SearchStrategy[list[dict[str, Any]]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(lambda title, steps: {"section": title, "steps": steps}, texts, inner),
        st.builds(lambda steps: {"sides": ["left", "right"], "steps": steps}, inner),
        st.builds(
            lambda n, steps: {"repeat": n, "steps": steps},
            st.integers(min_value=1, max_value=3),
            inner,
        ),
    )


steps = st.recursive(
    st.lists(leaf, min_size=1, max_size=4),
    lambda inner: st.lists(st.one_of(leaf, blocks(inner)), min_size=1, max_size=4),
    max_leaves=12,
)
routines = st.builds(
    lambda title, chime_style, body: {"title": title, "chime": chime_style, "steps": body},
    texts,
    st.sampled_from([True, False, "tick"]),
    steps,
)


def write(data: object, folder: Path) -> Path:
    path = folder / "routine.yaml"
    text = data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def valid(data: dict[str, Any], folder: Path) -> RoutineFile:
    try:
        return load_routine(write(data, folder))
    except PsoasError:
        assume(False)  # e.g. {side} outside a sides block: a mistake, tested elsewhere
        raise


def planned(source: RoutineFile) -> Timeline:
    """The plan with made-up speech lengths (a tenth of a second per character)."""
    cues = expand(source.routine)
    lengths = {text: to_samples(0.1 * len(text)) for text in phrases(cues)}
    try:
        return plan(source.routine, cues, lengths, CHIME_LENGTHS)
    except PlanError:
        assume(False)  # a cue that cannot fit: check and build both refuse it
        raise


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(routines)
def test_any_routine_plans_end_to_end_exactly_and_the_same_each_time(
    data: dict[str, Any],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = valid(data, Path(folder))
        timeline = planned(source)
        assert planned(source) == timeline  # deterministic

        position = 0
        for event in timeline.events:  # times increase; nothing overlaps; nothing is missing
            assert event.start == position and event.length > 0
            position = event.end
        assert timeline.length == sum(e.length for e in timeline.events)

        # Every hold, rest and pause lasts exactly its duration, with its cues inside it.
        sounding = [  # the routine's own silences: not the planner's gap after a tick
            cue
            for cue in expand(source.routine)
            if not isinstance(cue, Mark) and not (isinstance(cue, Quiet) and cue.role == "gap")
        ]
        expected = []  # back-to-back repeats of one silence are heard as one
        for loc, run in itertools.groupby(
            sounding, key=lambda cue: cue.loc if isinstance(cue, Quiet) else None
        ):
            if loc is not None:
                expected.append(sum(to_samples(c.seconds) for c in run if isinstance(c, Quiet)))
        inside = ("pause", "hold", "rest", "countdown", "halfway", "remind")
        runs = [
            sum(e.length for e in run)
            for (step, is_inside), run in itertools.groupby(
                timeline.events, key=lambda e: (e.step, e.role in inside)
            )
            if is_inside
        ]
        assert sorted(runs) == sorted(expected)

        chapters = timeline.chapters
        if chapters:
            assert chapters[0].start == 0 and chapters[-1].end == timeline.length
            assert all(a.end == b.start for a, b in itertools.pairwise(chapters))
            assert len({c.title for c in chapters}) == len(chapters)


runner = CliRunner()


MISFIT = {  # a reminder too long for its slot: only the real speech lengths can tell
    "title": "T",
    "steps": [
        {"rest": "16s", "remind": {"every": "5s", "say": ["Relax the hips and breathe now"]}}
    ],
}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(routines)
@example(MISFIT)
@example({"title": "T", "steps": [{"say": "Relax"}]})
@example({"title": "Relax", "chime": False, "steps": [{"pause": "0.001s"}]})  # silent: -inf dBTP
def test_check_passes_exactly_when_a_build_succeeds(data: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write(data, Path(folder))
        checked = runner.invoke(app_for_tests(), ["check", str(path), "--engine", "fake"])
        built = runner.invoke(
            app_for_tests(),
            ["build", str(path), "--engine", "fake", "-o", str(Path(folder) / "out.mp3")],
        )
        assert checked.exit_code in (0, 1) and built.exit_code in (0, 1), built.stderr
        assert checked.exit_code == built.exit_code, (checked.stderr, built.stderr)
        if checked.exit_code:
            assert checked.stderr == built.stderr
        assert (Path(folder) / "out.mp3").exists() == (built.exit_code == 0)


def app_for_tests() -> Any:
    from psoas_audio.cli import app

    return app


yaml_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
        st.sampled_from(["20s", "1m30s", "{hold}", "{side}", "bell", "-1s", "0s", "0.0001s"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(["title", "steps", "say", "hold", "rest", "pause", "repeat", "sides",
                             "section", "vars", "voice", "chime", "remind", "every", "countdown",
                             "halfway", "rate", "name", "engine", "language", "breath",
                             "pronounce", "author", "sya"]),
            inner, max_size=5,
        ),
    ),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(yaml_values, st.text(max_size=200), routines))
def test_any_input_is_a_routine_or_our_own_error(data: object) -> None:
    with tempfile.TemporaryDirectory() as folder:
        try:
            source = load_routine(write(data, Path(folder)))
        except PsoasError:
            return
        cues = expand(source.routine)
        lengths = {text: to_samples(0.1 * len(text)) for text in phrases(cues)}
        with contextlib.suppress(PlanError):
            plan(source.routine, cues, lengths, CHIME_LENGTHS)
