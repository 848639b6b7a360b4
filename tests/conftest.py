from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from psoas_audio.speech.engine import ENGINES

TESTS = Path(__file__).parent
ROOT = TESTS.parent

ENGINES.update(
    fake="fakes:FakeEngine",
    hanging="fakes:HangingEngine",
    crashing="fakes:CrashingEngine",
    missing="fakes:MissingEngine",
)


@pytest.fixture(autouse=True)
def private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test gets its own phrase cache unless it asks for the shared one."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("PSOAS_AUDIO_CACHE", str(folder))
    return folder


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the real-engine tests, so each phrase is spoken once per session."""
    return tmp_path_factory.mktemp("shared-cache")


Writer = Callable[[str, str], Path]


@pytest.fixture
def write(tmp_path: Path) -> Writer:
    """write(name, yaml_text) -> the path of a routine file in this test's folder."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write


PROGRESS = re.compile(r".+: (speaking|leveling|encoding)( again)?\b.* \d+\.\ds")


def without_progress(stderr: str) -> str:
    """stderr without the lines a build prints per stage when it is not on a terminal."""
    kept = [
        line
        for line in stderr.splitlines(keepends=True)
        if not PROGRESS.fullmatch(line.rstrip("\n"))
    ]
    return "".join(kept)
