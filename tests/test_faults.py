"""Faults, tried on real processes: interrupts at any moment, kills, hostile -o targets, damaged
caches, builds racing on one cache, a hung ffmpeg. Nothing but the requested output may ever be
written or replaced, and nothing may end in a traceback or in wrong audio."""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import webvtt

from conftest import TESTS, without_progress
from measure import RATE, decode, ebur128, silent_run
from psoas_audio import files
from psoas_audio.cache import HEADER
from psoas_audio.errors import OutputError
from test_e2e import assert_track_follows_plan
from test_tags import seconds

GOOD = TESTS / "golden" / "lunge-mini.yaml"
OLD_MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00an older build"
# As the psoas-audio command starts, with the fake engines registered once interrupts are caught.
PYTHON_CLI = (
    "import psoas_audio.__main__ as entry; entry.catch_early_interrupts(); "
    "import conftest; entry.main()"
)


def start(
    *args: str | Path,
    cache: Path,
    prelude: str = "",
    env: dict[str, str] | None = None,
    group: bool = False,
) -> subprocess.Popen[str]:
    """The command line in a process of its own, with the fake engines importable; with
    group, in a process group of its own, as a terminal runs a command."""
    environment = {
        **os.environ,
        **(env or {}),
        "PSOAS_AUDIO_CACHE": str(cache),
        "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    return subprocess.Popen(
        [sys.executable, "-c", prelude + PYTHON_CLI, *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment, cwd=TESTS,
        start_new_session=group,
    )  # fmt: skip


def finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    """The exit code, stdout and stderr (without the progress lines)."""
    out, err = process.communicate(timeout=timeout)
    assert "Traceback" not in out + err, err
    return process.returncode, out, without_progress(err)


def run(*args: str | Path, cache: Path, **kwargs: Any) -> tuple[int, str, str]:
    return finish(start(*args, cache=cache, **kwargs))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if files.TEMP_MARK in p.name)


def test_an_interrupt_at_any_moment_of_a_cold_build_leaves_the_old_mp3_whole(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "mini.mp3"
    colds = []
    for cache in ("c0", "c1"):  # the quicker of two: another test's load can slow either
        started = time.monotonic()
        code, _, err = run("build", GOOD, "--engine", "fake", "-o", target, cache=tmp_path / cache)
        assert code == 0, err
        colds.append(time.monotonic() - started)
    cold = min(colds)
    outcomes = []
    for index in range(12):  # SIGINT and SIGTERM, spread over the whole cold build
        target.write_bytes(OLD_MP3)
        target.with_suffix(".vtt").unlink(missing_ok=True)
        delay = cold * (index // 2 + 0.5) / 6
        sig = signal.SIGINT if index % 2 else signal.SIGTERM
        process = start("build", GOOD, "--engine", "fake", "-o", target,
                        cache=tmp_path / f"cache{index}")  # fmt: skip
        time.sleep(delay)
        process.send_signal(sig)
        code, _, err = finish(process)
        assert leftovers(folder) == [], f"after {sig.name} at {delay:.2f}s"
        written = sorted(p.name for p in folder.iterdir())
        if code == 130 and "nothing was written" in err:
            assert target.read_bytes() == OLD_MP3, f"{sig.name} at {delay:.2f}s"
            assert written == ["mini.mp3"]
        else:  # the signal came as the finished files were put in place, or after
            assert written == ["mini.mp3", "mini.vtt"]  # the track and its transcript together
            assert code in (0, 130), err
            assert code == 0 or f"interrupted after writing {target}" in err
            assert len(decode(target)) / RATE == pytest.approx(58.630, abs=0.05)
        outcomes.append(code)
    assert outcomes.count(130) >= 8, outcomes  # most signals landed inside the build


# The signal arrives just after an engine's child process is born and before it has been
# handed its start-up data: the moment CI once caught by chance.
SIGNAL_AS_AN_ENGINE_IS_BORN = """
import multiprocessing.util, os, signal
_spawn = multiprocessing.util.spawnv_passfds
def spawn_then_signal(path, args, passfds):
    pid = _spawn(path, args, passfds)
    if b"spawn_main" in b" ".join(map(os.fsencode, args)):  # not the resource tracker
        multiprocessing.util.spawnv_passfds = _spawn
        os.kill(os.getpid(), signal.SIGTERM)
    return pid
multiprocessing.util.spawnv_passfds = spawn_then_signal
"""


def test_a_signal_while_an_engine_process_is_born_leaves_no_orphan_and_no_traceback(
    tmp_path: Path,
) -> None:
    target = tmp_path / "mini.mp3"
    target.write_bytes(OLD_MP3)
    process = start("build", GOOD, "--engine", "fake", "-o", target, cache=tmp_path / "cache",
                    prelude=SIGNAL_AS_AN_ENGINE_IS_BORN)  # fmt: skip
    code, _, err = finish(process, timeout=60)  # an orphaned child would hold stderr open
    assert code == 130, err
    assert "nothing was written" in err
    assert target.read_bytes() == OLD_MP3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "mini.mp3"]


def test_an_interrupt_while_a_track_is_encoded_in_parts_leaves_no_part_behind(
    tmp_path: Path,
) -> None:
    from test_mp3join import LONG

    three_cores = "import os; os.cpu_count = lambda: 3; "  # cut in three, whatever the machine
    routine, folder = tmp_path / "long.yaml", tmp_path / "out"
    routine.write_text(LONG)
    folder.mkdir()
    target, cache = folder / "long.mp3", tmp_path / "cache"
    for _ in range(2):  # the second build is what each one below repeats: time that one
        started = time.monotonic()
        code, _, err = run("build", routine, "--engine", "fake", "-o", target, cache=cache,
                           prelude=three_cores)  # fmt: skip
        assert code == 0, err
        warm = time.monotonic() - started
    whole = decode(target)
    outcomes = []
    for index in range(8):
        target.write_bytes(OLD_MP3)
        delay = warm * (index + 0.5) / 8
        process = start("build", routine, "--engine", "fake", "-o", target, cache=cache,
                        prelude=three_cores)  # fmt: skip
        time.sleep(delay)
        process.send_signal(signal.SIGINT if index % 2 else signal.SIGTERM)
        code, _, err = finish(process)
        assert leftovers(folder) == [], f"a part left behind after {delay:.2f}s"
        if code == 130 and "nothing was written" in err:
            assert target.read_bytes() == OLD_MP3
        else:
            assert code in (0, 130), err
            assert np.array_equal(decode(target), whole)
        outcomes.append(code)
    assert outcomes.count(130) >= 4, outcomes


def test_a_build_sweeps_only_its_own_leftovers(tmp_path: Path) -> None:
    """Names like ours, a folder among them, are the user's: only mkstemp's exact pattern is."""
    folder = tmp_path / "out"
    folder.mkdir()
    theirs = [".todo.psoas-notes.partial.txt", ".cfg.psoas-2024.parts", ".mix.psoas-v2.part.mp3"]
    for name in theirs:
        (folder / name).write_text("keep")
    (folder / ".backup.psoas-old.part").mkdir()
    (folder / ".backup.psoas-old.part" / "important.txt").write_text("keep")
    (folder / ".x.mp3.psoas-abcd1234.part").write_bytes(b"left by a killed build")
    code, _, err = run("build", GOOD, "--engine", "fake", "-o", folder / "mini.mp3",
                       cache=tmp_path / "cache")  # fmt: skip
    assert code == 0, err
    kept = sorted([*theirs, ".backup.psoas-old.part", "mini.mp3", "mini.vtt"])
    assert sorted(p.name for p in folder.iterdir()) == kept
    assert (folder / ".backup.psoas-old.part" / "important.txt").read_text() == "keep"


def test_builds_put_their_files_in_place_one_after_the_other(tmp_path: Path) -> None:
    """So two builds to one output leave a track and a transcript from the same build."""
    import threading

    from psoas_audio.files import putting_in_place

    entered = threading.Event()

    def second() -> None:
        with putting_in_place(tmp_path):
            entered.set()

    with putting_in_place(tmp_path):
        thread = threading.Thread(target=second)
        thread.start()
        assert not entered.wait(0.5)  # it waits for the first to finish
    assert entered.wait(5)
    thread.join()


def test_a_batch_worker_whose_parent_died_as_it_started_builds_nothing(tmp_path: Path) -> None:
    """The parent's pid comes with the set-up: an orphan from the start does not build."""
    from psoas_audio import Options
    from psoas_audio.batch import Job, write_frame

    worker = subprocess.Popen(
        [sys.executable, "-m", "psoas_audio.worker"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PSOAS_AUDIO_CACHE": str(tmp_path / "cache"),
             "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"},
    )  # fmt: skip
    assert worker.stdin is not None
    gone = worker.pid + 10_000_000  # no process has this pid: the parent is gone
    write_frame(worker.stdin, ("setup", sys.path, {}, Options(engine="pyttsx3"), gone))
    write_frame(worker.stdin, ("job", 0, Job(GOOD, tmp_path / "mini.mp3")))
    _, err = worker.communicate(timeout=60)
    assert b"Traceback" not in err, err
    assert not (tmp_path / "mini.mp3").exists()


def test_a_killed_build_leaves_leftovers_that_the_next_build_removes(tmp_path: Path) -> None:
    routine = tmp_path / "long.yaml"
    routine.write_text("title: Long\nsteps:\n" + "  - hold: 2h\n    say: Hold.\n" * 4)
    target = tmp_path / "long.mp3"
    target.write_bytes(OLD_MP3)
    cache = tmp_path / "cache"
    process = start("build", routine, "--engine", "fake", "-o", target, cache=cache)
    deadline = time.monotonic() + 60
    while not leftovers(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(tmp_path), "the build never started encoding"
    process.kill()
    process.communicate()
    assert leftovers(tmp_path)  # SIGKILL runs no clean-up: the lock dies with the process
    assert target.read_bytes() == OLD_MP3

    routine.write_text("title: Short\nsteps:\n  - hold: 2s\n    say: Hold.\n")
    code, _, err = run("build", routine, "--engine", "fake", "-o", target, cache=cache)
    assert code == 0, err
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cache",
        "long.mp3",
        "long.vtt",
        "long.yaml",
    ]
    assert [p for p in (cache / "tmp").iterdir()] == []


def test_a_build_never_sweeps_the_temporary_of_a_build_running_beside_it(tmp_path: Path) -> None:
    long = tmp_path / "long.yaml"
    # Two hours: still encoding when the other build is done (half that once ended first).
    long.write_text("title: Long\nsteps:\n" + "  - hold: 1h\n    say: Hold.\n" * 2)
    process = start("build", long, "--engine", "fake", "-o", f"{tmp_path}/", cache=tmp_path / "c")
    deadline = time.monotonic() + 60
    while not leftovers(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    busy = leftovers(tmp_path)
    assert busy, "the long build never started encoding"
    code, _, err = run("build", GOOD, "--engine", "fake", "-o", f"{tmp_path}/",
                       cache=tmp_path / "c")  # fmt: skip
    assert code == 0, err
    assert process.poll() is None, "the long build ended too soon to test anything"
    assert set(busy) <= set(leftovers(tmp_path))  # still there: its build holds its lock
    code, _, err = finish(process, timeout=300)
    assert code == 0, err
    assert len(decode(tmp_path / "long.mp3")) / RATE > 3600 and leftovers(tmp_path) == []


KINDS = ["fifo", "routine", "text", "utf16", "id3-prose", "device", "symlink-loop", "folder"]


@pytest.mark.parametrize("kind", KINDS)
def test_o_refuses_what_is_not_an_mp3_and_leaves_it_untouched(
    kind: str, tmp_path: Path, clean_build: tuple[Path, Path]
) -> None:
    warm = clean_build[0]  # whether the cache is warm makes no difference here
    target = tmp_path / "target"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "routine":
        target = tmp_path / "other-routine.yaml"
        target.write_bytes(GOOD.read_bytes())
    elif kind in ("text", "utf16", "id3-prose"):
        target = tmp_path / "notes.mp3"  # named like a track, but not one
        notes: dict[str, bytes] = {
            "text": b"my notes, not a track\n",
            "utf16": "my notes".encode("utf-16"),
            "id3-prose": b"ID3 is a tag format; these are notes about it.\n",
        }
        target.write_bytes(notes[kind])
    elif kind == "device":
        target = Path("/dev/null")
    elif kind == "symlink-loop":
        target.symlink_to(target.name)
    else:
        target.mkdir()
        target = Path(f"{target}")  # without a trailing /, a folder is not taken as one
    before = sorted(tmp_path.iterdir())
    content = target.read_bytes() if target.is_file() else None
    code, _, err = run("build", GOOD, "--engine", "fake", "-o", target, cache=warm)
    if kind == "folder":  # an existing folder is where the MP3 goes
        assert code == 0 and (target / "lunge-mini.mp3").is_file()
        return
    assert code == 1
    assert err.startswith(f"{target}: ") and len(err.splitlines()) == 1, err
    assert sorted(tmp_path.iterdir()) == before  # not even the cache: refused before any work
    if content is not None:
        assert target.read_bytes() == content
    if kind == "fifo":
        assert target.is_fifo()
    if kind == "symlink-loop":
        assert err == f"{target}: a symlink loop (the link points back at itself)\n"
    if kind in ("routine", "text", "utf16", "id3-prose"):
        assert err.endswith(
            "name does not end in .mp3 (--force writes it anyway)\n"
            if kind == "routine"
            else "exists and is not an MP3; refusing to replace it (--force replaces it anyway)\n"
        )
        code, _, err = run("build", GOOD, "--engine", "fake", "-o", target, "--force",
                           cache=warm)  # fmt: skip
        assert code == 0, err
        assert target.read_bytes().startswith(b"ID3")


def test_o_through_a_symlink_replaces_the_file_and_keeps_the_link(
    tmp_path: Path, clean_build: tuple[Path, Path]
) -> None:
    real = tmp_path / "real.mp3"
    real.write_bytes(OLD_MP3)
    link = tmp_path / "link.mp3"
    link.symlink_to(real.name)
    code, _, err = run("build", GOOD, "--engine", "fake", "-o", link, cache=clean_build[0])
    assert code == 0, err
    assert link.is_symlink() and real.read_bytes().startswith(b"ID3\x03")
    assert real.read_bytes() != OLD_MP3


def test_an_unwritable_folder_is_refused_before_any_speech(tmp_path: Path) -> None:
    log = tmp_path / "spoken.log"
    code, _, err = run(
        "build", GOOD, "--engine", "fake", "-o", "/proc/psoas-audio/x.mp3",
        cache=tmp_path / "c", env={"FAKE_ENGINE_LOG": str(log)},
    )  # fmt: skip
    assert code == 1 and err.startswith("cannot create the folder /proc/psoas-audio:"), err
    assert not log.exists()  # nothing was spoken


def damage(cache: Path, seed: int = 7) -> int:
    """Truncate half of the entries and fill the rest with noise under an intact header."""
    rng = random.Random(seed)
    entries = sorted(p for p in cache.rglob("*") if p.is_file() and p.parent.name != "tmp")
    for index, path in enumerate(entries):
        data = path.read_bytes()
        if index % 2:
            path.write_bytes(data[: rng.randrange(1, len(data))])
        else:
            keep = HEADER + 4  # the magic, the checksum and a clip's sample rate stay
            path.write_bytes(data[:keep] + rng.randbytes(len(data) - keep))
    return len(entries)


@pytest.mark.e2e
def test_a_damaged_cache_heals_and_the_track_matches_a_clean_build(tmp_path: Path) -> None:
    from test_e2e import SHORT

    routine = tmp_path / "short.yaml"
    routine.write_text(SHORT, encoding="utf-8")
    clean, healed = tmp_path / "clean.mp3", tmp_path / "healed.mp3"
    cache = tmp_path / "cache"
    code, _, err = run("build", routine, "-o", clean, cache=cache)
    assert code == 0, err
    assert damage(cache) >= 10
    code, _, err = run("build", routine, "-o", healed, cache=cache)
    assert code == 0, err
    assert "note: the cache had" in err and "discarded and made again" in err
    clean_audio, healed_audio = decode(clean), decode(healed)
    assert abs(len(healed_audio) - len(clean_audio)) / RATE <= 0.001
    assert ebur128(healed)[0] == pytest.approx(ebur128(clean)[0], abs=0.1)
    code, plan, err = run("plan", routine, "--json", cache=cache)
    assert code == 0, err
    assert_track_follows_plan(routine, json.loads(plan), healed_audio)  # no noise anywhere


SHARED_LINES = [
    "Lie down on your back.",
    "Let your knees fall open.",
    "Breathe into the belly.",
    "Soften the jaw.",
    "Come back slowly.",
]


@pytest.mark.e2e
def test_six_builds_of_three_routines_share_a_cold_cache_at_once(tmp_path: Path) -> None:
    routines = []
    for index in range(3):
        lines = SHARED_LINES[index : index + 3]
        body = "".join(f"  - say: {line}\n  - hold: 2s\n" for line in lines)
        routine = tmp_path / f"r{index}.yaml"
        routine.write_text(f"title: Routine {index}\nchime: tick\nsteps:\n{body}")
        routines.append(routine)
    cache = tmp_path / "cache"

    def build(routine: Path, copy: int) -> subprocess.Popen[str]:
        return start("build", routine, "-o", tmp_path / f"{routine.stem}-{copy}.mp3", cache=cache)

    processes = [(routine, copy, build(routine, copy)) for copy in range(2) for routine in routines]
    for _, _, process in processes:
        code, _, err = finish(process, timeout=600)
        assert code == 0, err
    # Each build follows its own plan, which its transcript records. (A plan made afterwards
    # may hold another build's take of a line: eSpeak's clip of a phrase can differ by several
    # ms with what the same engine process spoke before it.)
    for routine, copy, _ in processes:
        mp3 = tmp_path / f"{routine.stem}-{copy}.mp3"
        audio = decode(mp3)
        cues = [
            (seconds(caption.start), seconds(caption.end), caption.text)
            for caption in webvtt.read(str(mp3.with_suffix(".vtt"))).captions
        ]
        assert [text for _, _, text in cues] == SHARED_LINES[int(routine.stem[1]) :][:3]
        holds = [(end, next_start) for (_, end, _), (next_start, _, _) in itertools.pairwise(cues)]
        holds.append((cues[-1][1], cues[-1][1] + 2.0))  # the last hold, then the tick
        for begin, stop in holds:
            assert stop - begin == pytest.approx(2.0, abs=0.0015)  # to the sample, in ms
            inside = audio[int((begin + 0.015) * RATE) : int((stop - 0.015) * RATE)]
            assert np.max(np.abs(inside)) < 10 ** (-60 / 20), f"{mp3.name}: sound in a hold"
            heard = silent_run(audio, begin, stop, -60)
            assert heard == pytest.approx(2.0, abs=0.02), f"{mp3.name}: hold at {begin:.3f}s"
        assert len(audio) / RATE == pytest.approx(holds[-1][1] + 0.5, abs=0.05)  # tick: 0.5 s


def fake_ffmpeg(folder: Path, script: str) -> dict[str, str]:
    folder.mkdir()
    ffmpeg = folder / "ffmpeg"
    ffmpeg.write_text(f"#!/bin/sh\n{script}\n")
    ffmpeg.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("exec sleep 600", "ffmpeg stopped taking audio while encoding 59 seconds of audio "
                           "(nothing for 2s) and was stopped"),
        ("cat > /dev/null; exec sleep 600", "ffmpeg did not finish encoding 59 seconds of audio "
                                            "within 3s and was stopped"),
    ],
    ids=["takes-nothing", "never-finishes"],
)  # fmt: skip
def test_a_hung_ffmpeg_is_a_clear_error_within_its_time_limit(
    script: str, message: str, tmp_path: Path
) -> None:
    target = tmp_path / "mini.mp3"
    target.write_bytes(OLD_MP3)
    env = fake_ffmpeg(tmp_path / "bin", script)
    prelude = "import psoas_audio.tools as t; t.STALL_SECONDS = 2; t.FINISH_SECONDS = 2; "
    started = time.monotonic()
    process = start("build", GOOD, "--engine", "fake", "-o", target, cache=tmp_path / "c",
                    prelude=prelude, env=env)  # fmt: skip
    code, _, err = finish(process, timeout=60)
    assert code == 1 and err.splitlines() == [
        "voice: fake: Calm, 140 wpm (its lines measure 140 wpm)",
        message,
    ]
    assert time.monotonic() - started < 30
    assert target.read_bytes() == OLD_MP3 and leftovers(tmp_path) == []


def test_a_file_open_elsewhere_on_windows_is_retried_then_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "x.mp3"
    monkeypatch.setattr(files, "RETRY_BUSY", True)
    monkeypatch.setattr(files, "BUSY_RETRY_SECONDS", 0.5)
    real_replace, failures = os.replace, list[Any]()

    def busy(source: Any, destination: Any) -> None:
        if len(failures) < 3:
            failures.append(destination)
            raise PermissionError(13, "in use")
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", busy)
    with files.staged(target) as staged:
        staged.path.write_bytes(OLD_MP3)
        staged.commit()  # three refusals, then the player let go
    assert target.read_bytes() == OLD_MP3 and len(failures) == 3

    monkeypatch.setattr(os, "replace", lambda *args: (_ for _ in ()).throw(PermissionError(13)))
    with files.staged(target) as staged, pytest.raises(OutputError) as caught:
        staged.path.write_bytes(b"ID3new")
        staged.commit()
    assert "another program (a player?) has it open; close it and build again" in str(caught.value)
    assert target.read_bytes() == OLD_MP3 and leftovers(tmp_path) == []


def test_a_full_disk_is_refused_before_any_speech(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from psoas_audio.cli import app

    log = tmp_path / "spoken.log"
    monkeypatch.setenv("FAKE_ENGINE_LOG", str(log))
    real_usage = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real_usage(path)._replace(free=100_000))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["build", str(GOOD), "--engine", "fake", "-o", f"{out}/"])
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"not enough space in {out}: the track needs about 1.5 MB, 0.1 MB is free\n"
    )
    assert not log.exists() and not out.exists()  # nothing spoken, not even the folder made


@pytest.mark.parametrize("part", [False, True])
def test_a_disk_that_fills_while_a_metered_mp3_is_written_stops_the_encoder(part: bool) -> None:
    """ffmpeg's tee muxer, left to itself, goes on with the meter's copy when the file cannot
    be written and exits 0 with a truncated file (a build then joined or tagged it). /dev/full
    fails every write with "no space left", as a full disk does."""
    from psoas_audio import export, tools
    from psoas_audio.errors import EncodeError

    command = export.encoder_command(Path("/dev/full"), copy=True, part=part)
    metered: list[bytes] = []
    pcm = [bytes(2 * RATE)] * 5  # five seconds
    with pytest.raises(EncodeError, match="ffmpeg failed while encoding"):
        tools.feed(command, pcm, 5.0, "encoding", None, export._decoder(True), metered.append)


def test_a_silent_track_teaches_the_leveler_no_encoder_shift(tmp_path: Path) -> None:
    """A track of pauses meters as silence (under the -70 LUFS gate): nothing to aim at, so it
    is encoded once and the voice's next track starts from the usual shift, not -3 LU."""
    routine = tmp_path / "pauses.yaml"
    routine.write_text("title: Pauses\nsteps:\n  - pause: 20s\n  - pause: 10s\n")
    cache = tmp_path / "cache"
    code, _, err = run("build", routine, "--engine", "fake", "-o", tmp_path / "p.mp3", "-v",
                       cache=cache)  # fmt: skip
    assert code == 0, err
    assert "encoding again" not in err
    code, _, err = run("build", GOOD, "--engine", "fake", "-o", tmp_path / "g.mp3", "-v",
                       cache=cache)  # fmt: skip
    assert code == 0, err
    assert "encoding again" not in err


@pytest.fixture(scope="module")
def clean_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fake-engine build of GOOD and the cache it left: (the cache, the MP3)."""
    folder = tmp_path_factory.mktemp("clean")
    code, _, err = run("build", GOOD, "--engine", "fake", "-o", folder / "clean.mp3",
                       cache=folder / "cache")  # fmt: skip
    assert code == 0, err
    return folder / "cache", folder / "clean.mp3"


@pytest.mark.parametrize("stand_in", ["fifo", "symlink-to-dev-zero", "folder", "shard-is-a-file"])
def test_anything_standing_where_a_cache_entry_belongs_is_discarded(
    stand_in: str, tmp_path: Path, clean_build: tuple[Path, Path]
) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(clean_build[0], cache)
    entries = sorted(p for p in cache.rglob("*") if p.is_file() and p.parent.name != "tmp")
    for path in entries:
        path.unlink()
        if stand_in == "fifo":
            os.mkfifo(path)
        elif stand_in == "symlink-to-dev-zero":
            path.symlink_to("/dev/zero")
        elif stand_in == "folder":
            (path / "inside").mkdir(parents=True)
    if stand_in == "shard-is-a-file":
        for shard in {path.parent for path in entries}:
            shutil.rmtree(shard)
            shard.write_text("not a folder")
    process = start("build", GOOD, "--engine", "fake", "-o", tmp_path / "again.mp3", cache=cache)
    code, _, err = finish(process, timeout=60)  # a FIFO read or /dev/zero would never end
    assert code == 0, err
    assert err.startswith("note: the cache had ")
    assert np.array_equal(decode(tmp_path / "again.mp3"), decode(clean_build[1]))


def test_a_clip_read_again_is_hashed_again_only_if_its_file_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Leveling reads every clip several times; only the first read of a file hashes it."""
    import hashlib

    from psoas_audio import cache as cache_module

    store = cache_module.Cache(tmp_path)
    clip = (np.sin(np.arange(44_100) / 7) * 8000).astype(np.int16)
    ref = store.save_audio(clip)
    hashed: list[int] = []
    sha256 = hashlib.sha256

    def counting(data: bytes = b"") -> Any:
        hashed.append(len(data))
        return sha256(data)

    monkeypatch.setattr(hashlib, "sha256", counting)  # looked up on each call
    for _ in range(3):  # written by this process: never hashed again
        loaded = store.load_audio(ref)
        assert loaded is not None and np.array_equal(loaded, clip)
    assert hashed == []
    path = store.folder / "audio" / ref.digest[:2] / ref.digest
    data = bytearray(path.read_bytes())
    before = path.stat()
    data[-2:] = b"\x01\x02"  # damaged in place: same size, and its time put back (touch -r)
    time.sleep(0.02)  # past the file system's clock tick: its change time moves
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    assert store.load_audio(ref) is None
    assert store.damaged == 1 and not path.exists()
    again = cache_module.Cache(tmp_path)  # another build: checks what it has not checked
    ref = again.save_audio(clip)
    assert again.load_audio(ref) is not None and hashed


def test_a_build_killed_while_speaking_leaves_no_noise_and_no_lasting_files(
    tmp_path: Path,
) -> None:
    routine = tmp_path / "many.yaml"
    routine.write_text(
        "title: Many\nsteps:\n" + "".join(f"  - say: Line number {n}.\n" for n in range(400))
    )
    cache = tmp_path / "cache"
    process = start("build", routine, "--engine", "fake", "-o", tmp_path / "many.mp3", cache=cache,
                    env={"FAKE_ENGINE_DELAY": "0.2"})  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((cache / "tmp").glob(".scratch.psoas-*")):
        time.sleep(0.01)
    assert list((cache / "tmp").glob(".scratch.psoas-*")), "it never started speaking"
    process.kill()
    finish(process)  # the engine child, left alone, goes quietly: no traceback on stderr
    code, _, err = run("build", GOOD, "--engine", "fake", "-o", tmp_path / "mini.mp3", cache=cache)
    assert code == 0, err
    assert list((cache / "tmp").iterdir()) == []  # the killed build's scratch file was swept


def test_a_ctrl_c_to_the_whole_process_group_as_engines_start_prints_no_traceback(
    tmp_path: Path,
) -> None:
    """A terminal's Ctrl-C reaches every process of a build, engines still being born too."""
    routine = tmp_path / "many.yaml"
    routine.write_text(
        "title: Many\nsteps:\n" + "".join(f"  - say: Line {n}, said.\n" for n in range(60))
    )
    target = tmp_path / "out" / "many.mp3"
    codes = []
    for index, delay in enumerate((0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2)):
        process = start("build", routine, "--engine", "fake", "-o", target,
                        cache=tmp_path / f"cache{index}", group=True)  # fmt: skip
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGINT)
        code, _, err = finish(process)  # no traceback, from the build or any of its engines
        assert code in (0, 130), err
        codes.append(code)
    assert codes.count(130) >= 5, codes
    assert not target.parent.exists() or leftovers(target.parent) == []
