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
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import TESTS
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
    assert result.stderr == (
        f"{folder / 'b-broken.yaml'}:3:5: unknown key 'sya' (did you mean 'say'?)\n"
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


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupted_batch_stops_every_build_and_leaves_nothing(
    how: str, tmp_path: Path
) -> None:
    folder = tmp_path / "long"
    folder.mkdir()
    for n in range(3):
        (folder / f"r{n}.yaml").write_text(
            f"title: R{n}\nsteps:\n  - hold: 2h\n    say: Hold {n}.\n"
        )
    out = tmp_path / "out"
    out.mkdir()
    old = b"ID3\x03\x00\x00\x00\x00\x00\x00an older build"
    (out / "r0.mp3").write_bytes(old)
    env = {**os.environ, "PSOAS_AUDIO_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}  # fmt: skip
    code = "import conftest; from psoas_audio.__main__ import main; main()"
    build = subprocess.Popen(
        [sys.executable, "-c", code, "build", str(folder), "--engine", "fake", "-o", f"{out}/"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,  # a terminal of its own: Ctrl-C reaches the whole group
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while len([p for p in out.iterdir() if files.TEMP_MARK in p.name]) < 2:
        assert time.monotonic() < deadline, "the builds never started encoding"
        time.sleep(0.1)
    if how == "ctrl-c":
        os.killpg(build.pid, signal.SIGINT)  # as a terminal sends it: to every process
    else:
        build.send_signal(signal.SIGTERM)  # to the command alone, as `kill` does
    _, stderr = build.communicate(timeout=60)
    assert build.returncode == 130, stderr
    assert "interrupted; nothing was written" in stderr and "Traceback" not in stderr
    assert sorted(p.name for p in out.iterdir()) == ["r0.mp3"]  # no temporaries, no playlist
    assert (out / "r0.mp3").read_bytes() == old
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


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
