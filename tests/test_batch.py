"""Batches: folders of routines built in parallel, a broken one reported while the others build,
a playlist in order, and interrupts that leave nothing behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import TESTS, without_progress
from measure import id3_frames, probe_tags
from psoas_audio import files
from psoas_audio.cli import app
from psoas_audio.speech import process
from psoas_audio.speech.engine import engine_path

GOLDEN = sorted((TESTS / "golden").glob("*.yaml"))


def batch_folder(tmp_path: Path, broken: bool = False) -> Path:
    folder = tmp_path / "My studio"
    folder.mkdir()
    for path in GOLDEN[:3]:
        shutil.copy(path, folder / path.name)
    if broken:
        (folder / "b-broken.yaml").write_text("title: Broken\nsteps:\n  - sya: Hello.\n")
    return folder


def test_a_folder_is_a_batch_with_a_playlist_album_and_track_numbers(tmp_path: Path) -> None:
    folder = batch_folder(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["build", str(folder), "--engine", "fake", "-o", f"{out}/", "--jobs", "2"]
    )
    assert result.exit_code == 0, result.stderr
    names = [path.stem for path in sorted(folder.glob("*.yaml"))]
    table = result.stdout.splitlines()
    assert table[0].split() == ["file", "length", "size", "time"]
    assert [line.split()[0] for line in table[1:4]] == [str(out / f"{n}.mp3") for n in names]
    assert table[4] == str(out / "playlist.m3u")
    playlist = (out / "playlist.m3u").read_text(encoding="utf-8").splitlines()
    assert playlist[0] == "#EXTM3U"
    assert playlist[2::2] == [f"{n}.mp3" for n in names]  # relative, in the routines' order
    for number, name in enumerate(names, start=1):
        tags = probe_tags(out / f"{name}.mp3")["format"]["tags"]
        assert (tags["album"], tags["track"]) == ("My studio", f"{number}/3")
        seconds = float(probe_tags(out / f"{name}.mp3")["format"]["duration"])
        extinf = playlist[2 * number - 1]
        assert extinf.startswith("#EXTINF:") and abs(int(extinf[8:].split(",")[0]) - seconds) < 1
    assert len(id3_frames(out / f"{names[0]}.mp3", "APIC")) == 1


def test_a_broken_routine_is_reported_and_the_others_still_build(tmp_path: Path) -> None:
    folder = batch_folder(tmp_path, broken=True)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["build", str(folder), "--engine", "fake", "-o", f"{out}/"])
    assert result.exit_code == 1
    assert without_progress(result.stderr) == (
        f"{folder / 'b-broken.yaml'}:3:5: unknown key 'sya' (did you mean 'say'?)\n"
        "voice: fake: Calm, 140 wpm\n"  # once for the batch: every track has the same voice
    )
    assert "Traceback" not in result.stdout + result.stderr
    built = sorted(p.name for p in out.glob("*.mp3"))
    assert built == sorted(f"{p.stem}.mp3" for p in GOLDEN[:3])
    listed = (out / "playlist.m3u").read_text().splitlines()[2::2]
    assert listed == [
        f"{p.stem}.mp3" for p in sorted(folder.glob("*.yaml")) if p.stem != "b-broken"
    ]
    broken = [line for line in result.stdout.splitlines() if "b-broken" in line]
    assert len(broken) == 1 and broken[0].startswith(str(folder / "b-broken.yaml"))
    assert broken[0].split()[-1] == "failed"  # in its place in the table


OLD = b"ID3\x03\x00\x00\x00\x00\x00\x00an older build"
LONG = "title: {name}\nsteps:\n  - hold: 2h\n    say: Hold {name}.\n"
SHORT = "title: {name}\nsteps:\n  - hold: 2s\n    say: Hold {name}.\n"


def start_batch(tmp_path: Path, *routines: str, jobs: int = 2) -> subprocess.Popen[str]:
    """A batch in a terminal session of its own, over routines r0, r1, ... (LONG or SHORT)."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    for number, text in enumerate(routines):
        (folder / f"r{number}.yaml").write_text(text.format(name=f"R{number}"))
    (out / "r0.mp3").write_bytes(OLD)
    env = {**os.environ, "PSOAS_AUDIO_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}  # fmt: skip
    code = "import conftest; from psoas_audio.__main__ import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "build", str(folder), "--engine", "fake", "-o", f"{out}/",
         "--jobs", str(jobs)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,  # a terminal of its own: Ctrl-C reaches the whole group
    )  # fmt: skip


def wait_for(condition: Callable[[], object], what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if files.TEMP_MARK in p.name]


def workers_of(pid: int) -> list[int]:
    """The batch's worker processes (they run in sessions of their own, so look by parent)."""
    found = subprocess.run(["pgrep", "-f", "psoas_audio.worker"], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split() if _parent(int(p)) in (pid, 1)]


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupted_batch_stops_every_build_and_leaves_nothing(
    how: str, tmp_path: Path
) -> None:
    build = start_batch(tmp_path, LONG, LONG, LONG)
    out = tmp_path / "out"
    wait_for(lambda: len(temporaries(out)) >= 2, "the builds never started encoding")
    if how == "ctrl-c":
        os.killpg(build.pid, signal.SIGINT)  # as a terminal sends it: to every process
    else:
        build.send_signal(signal.SIGTERM)  # to the command alone, as `kill` does
    _, stderr = build.communicate(timeout=60)
    assert build.returncode == 130, stderr
    assert "interrupted; nothing was written" in stderr and "Traceback" not in stderr
    assert sorted(p.name for p in out.iterdir()) == ["r0.mp3"]  # no temporaries, no playlist
    assert (out / "r0.mp3").read_bytes() == OLD
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []
    wait_for(lambda: not workers_of(build.pid), "workers outlived the batch", 10)


def test_an_interrupt_while_one_worker_is_idle_and_one_busy_says_what_was_written(
    tmp_path: Path,
) -> None:
    build = start_batch(tmp_path, LONG, SHORT, SHORT)
    out = tmp_path / "out"
    wait_for(lambda: (out / "r2.mp3").exists(), "the short ones never finished")
    time.sleep(0.5)  # one worker now has nothing left to do
    build.send_signal(signal.SIGTERM)
    _, stderr = build.communicate(timeout=60)
    assert build.returncode == 130, stderr
    written = f"{out / 'r1.mp3'}, {out / 'r1.vtt'}, {out / 'r2.mp3'}, {out / 'r2.vtt'}"
    assert f"interrupted after writing {written}; nothing else was written" in stderr
    assert sorted(p.name for p in out.iterdir()) == ["r0.mp3", "r1.mp3", "r1.vtt", "r2.mp3",
                                                     "r2.vtt"]  # fmt: skip
    assert (out / "r0.mp3").read_bytes() == OLD


def test_ctrl_c_as_the_workers_start_is_quiet(tmp_path: Path) -> None:
    build = start_batch(tmp_path, SHORT, SHORT, SHORT)
    # As soon as a worker exists: it is still importing, and the batch has its handler (Python
    # itself takes tens of ms to start, more on a loaded machine, and a Ctrl-C then is its own).
    wait_for(lambda: [p for p in workers_of(build.pid) if _parent(p) == build.pid], "no worker")
    os.killpg(build.pid, signal.SIGINT)
    _, stderr = build.communicate(timeout=60)
    assert build.returncode == 130 and "Traceback" not in stderr and "Fatal" not in stderr
    assert temporaries(tmp_path / "out") == []


def test_a_worker_killed_outright_fails_its_routine_and_the_others_build(tmp_path: Path) -> None:
    build = start_batch(tmp_path, LONG, SHORT, SHORT, SHORT, jobs=2)
    out = tmp_path / "out"
    wait_for(lambda: len(temporaries(out)) >= 1 and workers_of(build.pid), "no worker started")
    wait_for(lambda: any(p.name.startswith(".r0.mp3") for p in temporaries(out)), "no r0 yet")
    busy_with_r0 = [
        pid for pid in workers_of(build.pid)
        if any("r0.mp3" in os.readlink(f"/proc/{pid}/fd/{fd}")
               for fd in os.listdir(f"/proc/{pid}/fd") if os.path.islink(f"/proc/{pid}/fd/{fd}"))
    ]  # fmt: skip
    assert len(busy_with_r0) == 1
    os.kill(busy_with_r0[0], signal.SIGKILL)
    _, stderr = build.communicate(timeout=120)
    assert build.returncode == 1 and "Traceback" not in stderr
    assert f"{tmp_path / 'in' / 'r0.yaml'}: the worker building it stopped unexpectedly" in stderr
    assert sorted(p.name for p in out.glob("*.mp3")) == ["r0.mp3", "r1.mp3", "r2.mp3", "r3.mp3"]
    assert (out / "r0.mp3").read_bytes() == OLD
    assert (out / "playlist.m3u").read_text().splitlines()[2::2] == ["r1.mp3", "r2.mp3", "r3.mp3"]


def test_workers_stop_when_the_batch_is_killed_outright(tmp_path: Path) -> None:
    build = start_batch(tmp_path, LONG, LONG, SHORT)
    out = tmp_path / "out"
    wait_for(lambda: len(temporaries(out)) >= 2, "the builds never started encoding")
    crew = workers_of(build.pid)
    assert len(crew) == 2
    os.kill(build.pid, signal.SIGKILL)
    build.communicate(timeout=30)
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in crew), "orphans", 30)
    assert not (out / "r2.mp3").exists()  # nobody went on to the next routine
    assert (out / "r0.mp3").read_bytes() == OLD


def test_everything_failing_leaves_no_empty_folders(tmp_path: Path) -> None:
    bad = [tmp_path / f"m{n}.yaml" for n in range(2)]
    for path in bad:  # a reminder too long for its slot: found only once the line is spoken
        path.write_text("title: T\nsteps:\n  - rest: 16s\n    remind: {every: 5s, "
                        "say: Let the ribs soften, and breathe out slowly.}\n")  # fmt: skip
    out = tmp_path / "new" / "deep"
    result = CliRunner().invoke(app, ["build", *map(str, bad), "--engine", "fake", "-o", f"{out}/"])
    assert result.exit_code == 1, result.stderr
    assert not (tmp_path / "new").exists()


def test_a_playlist_entry_never_reads_as_a_comment(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("#1 warm-up", "#2 rest"):
        (folder / f"{name}.yaml").write_text(SHORT.format(name="A track"))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["build", str(folder), "--engine", "fake", "-o", f"{out}/"])
    assert result.exit_code == 0, result.stderr
    lines = (out / "playlist.m3u").read_text().splitlines()
    assert lines[2::2] == ["./#1 warm-up.mp3", "./#2 rest.mp3"]


def test_engine_processes_wait_for_a_free_core() -> None:
    slots = threading.BoundedSemaphore(1)
    process.share_engine_slots(slots)
    try:
        first = process.EngineProcess("fake", engine_path("fake"), 30)
        started: list[process.EngineProcess] = []
        waiting = threading.Thread(
            target=lambda: started.append(process.EngineProcess("fake", engine_path("fake"), 30))
        )
        waiting.start()
        time.sleep(1.0)
        assert not started  # one slot, taken: the second engine waits
        first.close()
        waiting.join(timeout=30)
        assert len(started) == 1
        started[0].close()
    finally:
        process.share_engine_slots(None)


def test_a_builds_extra_engines_take_only_free_cores() -> None:
    slots = threading.BoundedSemaphore(1)
    process.share_engine_slots(slots)
    try:
        first = process.EngineProcess("fake", engine_path("fake"), 30)
        started = time.monotonic()
        with pytest.raises(process.NoFreeCore):  # at once: an extra engine never waits
            process.EngineProcess("fake", engine_path("fake"), 30, wait=False)
        assert time.monotonic() - started < 1
        first.close()
        process.EngineProcess("fake", engine_path("fake"), 30, wait=False).close()
    finally:
        process.share_engine_slots(None)
