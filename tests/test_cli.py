from __future__ import annotations

import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import PROGRESS, TESTS, Writer
from psoas_audio import pipeline
from psoas_audio.cli import app

runner = CliRunner()
COMMANDS = ["build", "plan", "check", "voices", "new", "schema", "cache", "publish"]
GOOD = TESTS / "golden" / "lunge-mini.yaml"
BAD = TESTS / "bad" / "unknown-step-key.yaml"
OLD_MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00an older build"  # what a build may replace


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    code, out, _ = run(command, "--help")
    assert code == 0
    assert "Example" in out and f"psoas-audio {command}" in out


def test_check_says_ok_for_good_routines() -> None:
    code, out, _ = run("check", GOOD, TESTS / "golden" / "speech-last.yaml")
    assert code == 0
    assert out.splitlines() == [f"{GOOD}: ok", f"{TESTS / 'golden' / 'speech-last.yaml'}: ok"]


def test_check_reports_file_line_col_and_exits_1_without_a_traceback() -> None:
    code, out, err = run("check", GOOD, BAD)
    assert code == 1
    assert out == f"{GOOD}: ok\n"
    assert err.strip() == f"{BAD}:3:5: unknown key 'sya' (did you mean 'say'?)"
    assert "Traceback" not in out + err


def test_a_missing_file_and_a_yaml_error_are_one_line_each(write: Writer) -> None:
    broken = write("broken.yaml", "title: [\n")
    code, _, err = run("check", broken, "nowhere.yaml")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{broken}:2:1: YAML syntax error")
    assert lines[1] == "nowhere.yaml: no such file"


def test_build_writes_an_mp3_and_prints_its_path_and_length(tmp_path: Path) -> None:
    target = tmp_path / "out" / "mini.mp3"
    code, out, err = run("build", GOOD, "--engine", "fake", "-o", target)
    assert code == 0, err
    assert out.strip() == f"{target}  00:59"
    assert target.stat().st_size > 10_000
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    assert sorted(p.name for p in target.parent.iterdir()) == ["mini.mp3", "mini.vtt"]  # no temp


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_build_defaults_to_output_stem_mp3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("build", GOOD, "--engine", "fake")
    assert code == 0
    assert out.startswith("output/lunge-mini.mp3  ")
    assert (tmp_path / "output" / "lunge-mini.mp3").exists()


def test_a_bad_routine_writes_nothing_and_leaves_an_old_mp3_untouched(tmp_path: Path) -> None:
    old = tmp_path / "old.mp3"
    old.write_bytes(OLD_MP3)
    before = old.stat()
    code, _, err = run("build", GOOD, BAD, "--engine", "fake", "-o", tmp_path)
    assert code == 1 and f"{BAD}:3:5:" in err
    built = ["lunge-mini.mp3", "lunge-mini.vtt", "old.mp3", "playlist.m3u"]  # the good one only
    assert sorted(p.name for p in tmp_path.iterdir()) == built
    code, _, _ = run("build", BAD, "-o", old)
    assert code == 1
    assert old.read_bytes() == OLD_MP3 and old.stat().st_mtime == before.st_mtime


def test_an_interrupted_build_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "mini.mp3"
    old.write_bytes(OLD_MP3)

    def interrupted(*args: object) -> object:
        yield b"\0\0" * 44_100
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "render", interrupted)
    code, _, err = run("build", GOOD, "--engine", "fake", "-o", old)
    assert (
        code == 130 and "interrupted; nothing was written, and any older file is as it was" in err
    )
    assert [p.name for p in tmp_path.iterdir()] == ["mini.mp3"]
    assert old.read_bytes() == OLD_MP3


def test_build_without_ffmpeg_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = run("build", GOOD, "--engine", "fake", "-o", tmp_path / "x.mp3")
    assert code == 1
    assert "ffmpeg is not installed" in err and "apt-get install ffmpeg" in err
    assert not (tmp_path / "x.mp3").exists()


def test_set_overrides_vars_and_bad_sets_are_usage_errors(tmp_path: Path) -> None:
    code, out, _ = run("plan", GOOD, "--engine", "fake", "--json", "--set", "hold=7s")
    assert code == 0
    holds = [e for e in json.loads(out)["events"] if e["role"] == "hold"]
    assert {round(e["end"] - e["start"], 3) for e in holds} == {7.0}
    code, _, err = run("plan", GOOD, "--engine", "fake", "--set", "hold")
    assert code == 1 and "--set hold: expected NAME=VALUE" in err
    code, _, err = run("plan", GOOD, "--engine", "fake", "--set", "hodl=7s")
    assert code == 1 and "did you mean 'hold'?" in err


def test_several_routines_need_a_folder_for_o(tmp_path: Path) -> None:
    code, _, err = run("build", GOOD, GOOD, "-o", tmp_path / "one.mp3")
    assert code == 1 and "pass a folder" in err


def test_o_with_a_trailing_slash_is_a_folder_even_before_it_exists(tmp_path: Path) -> None:
    folder = tmp_path / "new"
    code, _, err = run("build", GOOD, "--engine", "fake", "-o", f"{folder}/")
    assert code == 0, err
    assert (folder / "lunge-mini.mp3").is_file()


def test_two_routines_never_share_an_mp3_or_overwrite_a_routine(tmp_path: Path) -> None:
    twin = tmp_path / "lunge-mini.yaml"
    twin.write_text(GOOD.read_text())
    code, _, err = run("build", GOOD, twin, "--engine", "fake", "-o", f"{tmp_path}/out/")
    assert code == 1 and "would both be written to" in err
    code, _, err = run("build", twin, "--engine", "fake", "-o", twin)
    assert code == 1 and "refusing to overwrite the routine" in err
    assert not (tmp_path / "out").exists()


def test_an_unwritable_target_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out, err = run("build", GOOD, "--engine", "fake", "-o", blocker / "x.mp3")
    assert code == 1
    assert err == f"cannot create the folder {blocker}: {blocker} is not a folder\n"
    assert "Traceback" not in out + err and len(err.strip().splitlines()) == 1


def test_plan_json_has_the_documented_shape() -> None:
    code, out, _ = run("plan", GOOD, "--engine", "fake", "--json")
    assert code == 0
    plan = json.loads(out)
    assert set(plan) == {
        "title", "duration", "events", "sections", "ranges", "engine", "voice", "rate", "pace",
        "ambience",
    }  # fmt: skip
    assert plan["title"] == "Lunge mini"
    for event in plan["events"]:
        assert {"start", "end", "kind", "text", "step"} <= set(event)
        assert event["kind"] in ("speech", "silence", "chime")
    assert plan["events"][-1]["end"] == plan["duration"]
    assert {e["role"] for e in plan["events"]} == {"lead-in", "say", "gap", "pause", "hold",
                                                   "rest", "chime"}  # fmt: skip
    assert all(round(e["start"], 3) == e["start"] for e in plan["events"])  # milliseconds
    assert [set(s) for s in plan["sections"]] == [{"title", "start", "end"}] * 2
    assert [s["title"] for s in plan["sections"]] == ["Left side", "Right side"]


def test_plan_table_shows_start_kind_text_and_the_total() -> None:
    code, out, _ = run("plan", GOOD, "--engine", "fake")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Lunge mini"
    assert "  00:01  speech   Ease off if anything hurts." in lines
    assert "         == Left side ==" in lines
    assert lines[-2:] == [
        "voice fake: Calm, 140 wpm; its lines are spoken at 140 wpm",
        "total 00:59 (58.630s)",
    ]


def test_voices_lists_the_engine_voices_and_rejects_unknown_engines() -> None:
    code, out, _ = run("voices", "--engine", "fake")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["fake/calm", "fake/brisk"]
    code, _, err = run("voices", "--engine", "espeak")
    assert code == 1 and "unknown speech engine 'espeak'" in err


def test_a_missing_speech_engine_is_one_line_saying_what_to_install(tmp_path: Path) -> None:
    code, _, err = run("build", GOOD, "--engine", "missing", "-o", tmp_path / "x.mp3")
    assert code == 1
    assert err == "eSpeak NG is not available; install it with 'apt-get install espeak-ng'\n"
    assert not (tmp_path / "x.mp3").exists()


def test_an_unknown_voice_option_is_one_clear_line() -> None:
    code, _, err = run("plan", GOOD, "--engine", "fake", "--voice", "nobody")
    assert code == 1
    assert err.strip().endswith("'psoas-audio voices --engine fake' lists them")


def test_sigterm_during_a_build_leaves_no_partial_file(tmp_path: Path) -> None:
    """A real process, killed while ffmpeg is writing: the old MP3 survives, no .part is left."""
    routine = tmp_path / "long.yaml"
    routine.write_text("title: Long\nvoice: {engine: fake}\nsteps:\n"
                       + "  - hold: 2h\n    say: Hold.\n" * 4)  # fmt: skip
    old = tmp_path / "long.mp3"
    old.write_bytes(OLD_MP3)
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    code = "import conftest; from psoas_audio.__main__ import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "build", str(routine), "-o", str(old)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=TESTS,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".long.mp3.*.part")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.glob(".long.mp3.*.part")), "the build never started encoding"
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "interrupted; nothing was written, and any older file is as it was" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp3", "long.yaml"]
    assert old.read_bytes() == OLD_MP3


def test_voices_can_be_filtered_by_language() -> None:
    code, out, _ = run("voices", "--engine", "fake", "--language", "en")
    assert code == 0 and len(out.splitlines()) == 2
    code, out, err = run("voices", "--engine", "fake", "--language", "de")
    assert code == 1 and out == ""
    assert err.startswith("the fake engine has no voice for language 'de'")


def test_a_build_off_a_terminal_prints_a_line_per_stage_quiet_none_and_verbose_its_figures(
    tmp_path: Path,
) -> None:
    """CI, cron and batch logs see each stage with its time; a bar is for terminals only."""
    target = tmp_path / "mini.mp3"
    code, out, err = run("build", GOOD, "--engine", "fake", "-o", target, "--verbose")
    assert code == 0 and out == f"{target}  00:59\n"
    stages = [line for line in err.splitlines() if PROGRESS.fullmatch(line)]
    names = [line.split(": ")[1].rsplit(" ", 1)[0] for line in stages]
    assert names[0] == "speaking 7 lines" and names[-2:] == ["leveling", "encoding 0:59 of audio"]
    assert all(line.startswith("lunge-mini.yaml: ") for line in stages)
    assert "  lines: 7 distinct, 0 from the cache, 7 spoken" in err
    assert "  loudness: -16." in err
    code, out, err = run("build", GOOD, "--engine", "fake", "-o", target, "-v")  # warm
    names = [line.split(": ")[1].rsplit(" ", 1)[0] for line in err.splitlines()
             if PROGRESS.fullmatch(line)]  # fmt: skip
    assert names[-1] == "encoding 0:59 of audio" and "leveling" not in names  # nothing to level
    assert "  lines: 7 distinct, 7 from the cache, 0 spoken" in err
    code, out, err = run("build", GOOD, "--engine", "fake", "-o", target, "--quiet")
    assert code == 0 and out == f"{target}  00:59\n" and err == ""
    code, _, err = run("build", GOOD, "-o", target, "-q", "-v")
    assert code == 1 and "--quiet and --verbose: choose one" in err


def test_a_verbose_batch_gives_each_tracks_figures_after_the_table(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    for name, line in (("a", "Lie down."), ("b", "Stand up.")):
        (folder / f"{name}.yaml").write_text(f"title: {name}\nsteps: [{{say: {line}}}]\n")
    out_dir = tmp_path / "out"
    code, out, err = run("build", folder, "--engine", "fake", "-o", f"{out_dir}/", "-v")
    assert code == 0, err
    assert out.splitlines()[0].split() == ["file", "length", "size", "time"]
    figures = [line for line in err.splitlines() if not PROGRESS.fullmatch(line)]
    assert figures.pop(0).startswith("voice: fake: ")
    assert figures[0] == f"{out_dir / 'a.mp3'}:"
    assert figures[1] == "  lines: 1 distinct, 0 from the cache, 1 spoken"
    assert figures[2].startswith("  loudness: -16.")
    assert figures[3] == f"{out_dir / 'b.mp3'}:"
    code, out, err = run("build", folder, "--engine", "fake", "-o", f"{out_dir}/", "-q")
    assert code == 0 and err == ""


def test_a_builds_bar_only_moves_forward_whatever_its_stages() -> None:
    from rich.progress import Progress

    from psoas_audio.cli import BAR_UNITS, _Display, _Session

    with Progress(disable=True) as progress:
        display = _Display(_Session(), progress, "r.yaml")
        seen: list[float] = []

        def step(stage: str, total: int, *done: int) -> None:
            display.start(stage, total)
            for count in done:
                display.update(count)
                seen.append(progress.tasks[0].completed)

        step("speaking", 10, 0, 5, 10)
        step("speaking", 10, 0, 10)  # a fit lays the plan out again: the same stage goes on
        step("speaking again", 10, 0, 4, 10)
        step("leveling", 30, 0, 30)
        step("leveling", 30, 0, 30)  # re-aimed after the MP3 was metered
        step("encoding", 1000, 0, 500, 1000)
        step("encoding again", 1000, 0, 1000)
    assert seen == sorted(seen) and seen[1] > 0 and seen[-1] <= BAR_UNITS
    assert seen[-1] > seen[-3]  # the second encode still moved it


def test_bare_psoas_audio_shows_help_and_version_says_which() -> None:
    code, out, _ = run()
    assert code == 0 and "[OPTIONS] COMMAND" in out.splitlines()[0] and "  build " in out
    code, out, _ = run("--version")
    assert code == 0 and out.strip() == f"psoas-audio {importlib.metadata.version('psoas-audio')}"


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_placeholders_not_python_types(command: str) -> None:
    code, out, _ = run(command, "--help")
    assert code == 0 and not re.search(r"<[A-Za-z]", out), out  # no <str>, <list[Path]>
    assert "{" not in out.splitlines()[0]  # ROUTINE..., not {ROUTINE}...


def test_the_cache_says_where_it_is_and_prunes_only_its_own_old_entries(
    tmp_path: Path, private_cache: Path
) -> None:
    assert run("build", GOOD, "--engine", "fake", "-o", tmp_path / "a.mp3")[0] == 0
    code, out, _ = run("cache")
    entries = int(out.split(": ")[1].split(" entries")[0].replace(",", ""))
    assert code == 0 and out.startswith(f"{private_cache}: ") and entries > 10
    mine = private_cache / "values" / "notes.txt"  # not an entry: never removed
    mine.write_text("keep me")
    old = time.time() - 40 * 86400
    entry = next((private_cache / "audio").glob("*/*"))
    os.utime(entry, (old, old))
    code, out, _ = run("cache", "--prune", "30")
    assert code == 0 and out.startswith("removed 1 entries") and not entry.exists()
    code, out, _ = run("cache", "--clear")
    assert code == 0 and out.splitlines()[1].endswith(": 0 entries, 0.0 MB")
    assert mine.read_text() == "keep me"
    code, _, err = run("build", GOOD, "--engine", "fake", "-o", tmp_path / "b.mp3")
    assert code == 0, err  # everything made again
    assert (tmp_path / "a.mp3").stat().st_size == (tmp_path / "b.mp3").stat().st_size


def test_a_choice_in_the_wrong_case_is_suggested_as_written() -> None:
    from psoas_audio.errors import did_you_mean

    assert did_you_mean("RAIN", ["none", "rain", "ocean", "drone"]) == " (did you mean 'rain'?)"
    assert did_you_mean("Say", ["say", "hold"]) == " (did you mean 'say'?)"
    assert did_you_mean("xyzzy", ["say", "hold"]) == ""
