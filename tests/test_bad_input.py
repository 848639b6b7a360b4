"""Every command on every bad routine: exit 1, one clear message, no traceback, nothing written,
and `check` says exactly what `build` and `plan` say about it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ROOT, TESTS, without_progress
from psoas_audio.cli import app

runner = CliRunner()
SHIPPED = sorted((ROOT / "routines").glob("*.yaml"))


def mutations(text: str) -> dict[str, str]:
    """Ways a good routine goes wrong in an editor, each a mistake that must be reported."""
    first_say = text.index("say:")
    steps = text.index("steps:\n") + len("steps:\n")

    def line(pattern: str, replacement: str) -> str:
        changed, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
        assert count, pattern
        return changed

    return {
        "misspelt-key": text[:first_say] + "sya:" + text[first_say + 4 :],
        "escaped-bell": line(r"^title: (.*)$", r'title: "\\a\1"'),
        "tab-indent": text[:steps] + "\t" + text[steps:],
        "negative-hold": line(r"hold: .*$", "hold: -5s"),
        "markup": text[:first_say] + "say: <speak>Hello</speak>\n  - " + text[first_say:],
        "no-steps": text[: text.index("steps:")] + "steps:\n",
        "cut-in-a-string": text[:first_say] + 'say: "unfinished\n',
        "list-for-title": line(r"^title: .*$", "title: [1, 2]"),
    }


def generated_corpus(folder: Path) -> list[Path]:
    paths = []
    for routine in SHIPPED:
        for name, text in mutations(routine.read_text(encoding="utf-8")).items():
            path = folder / f"{routine.stem}-{name}.yaml"
            path.write_text(text, encoding="utf-8")
            paths.append(path)
    loop = folder / "symlink-loop.yaml"
    loop.symlink_to(loop.name)
    binary = folder / "binary.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    chapters = folder / "too-many-chapters.yaml"
    chapters.write_text(
        "title: T\nsteps:\n"
        + "".join(f"  - section: Part {n}\n    steps: [{{pause: 1s}}]\n" for n in range(256)),
        encoding="utf-8",
    )
    (folder / "a-folder.yaml").mkdir()
    long = folder / "too-long-once-spoken.yaml"  # its silences are short; its speech is not
    words = " ".join(["relax"] * 25)
    long.write_text(
        f"title: T\nsteps:\n  - repeat: 100\n    steps:\n      - repeat: 50\n"
        f"        steps: [{{say: {words}}}]\n",
        encoding="utf-8",
    )
    return [*paths, loop, binary, chapters, folder / "a-folder.yaml", long]


def commands(routine: Path, out: Path, *extra: str) -> dict[str, list[str]]:
    fake = ["--engine", "fake", *extra]
    return {
        "check": ["check", str(routine), *fake],
        "plan": ["plan", str(routine), *fake],
        "build": ["build", str(routine), "-o", f"{out}/", *fake],
    }


def assert_refused_alike(routine: Path, tmp_path: Path, *extra: str) -> str:
    """Each command exits 1 with the same message and writes nothing; returns the message."""
    out = tmp_path / "out"
    before = routine.read_bytes() if routine.is_file() else None
    messages = {}
    for command, args in commands(routine, out, *extra).items():
        result = runner.invoke(app, args)
        assert result.exit_code == 1, f"{command}: {result.stdout}{result.stderr}"
        assert isinstance(result.exception, SystemExit), f"{command}: {result.exception!r}"
        assert "Traceback" not in result.stdout + result.stderr
        assert result.stderr.strip(), f"{command} gave no message"
        messages[command] = without_progress(result.stderr)
        assert not out.exists(), f"{command} wrote {sorted(out.rglob('*'))}"
        if before is not None:
            assert routine.read_bytes() == before
    assert messages["check"] == messages["build"] == messages["plan"], messages
    return messages["check"]


BAD = sorted((TESTS / "bad").glob("*.yaml"))


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_every_command_refuses_each_bad_routine_alike(path: Path, tmp_path: Path) -> None:
    assert_refused_alike(path, tmp_path)


def test_every_command_refuses_a_generated_corpus_alike(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in generated_corpus(corpus):
        message = assert_refused_alike(path, tmp_path)
        assert message.startswith(str(path)), message  # it names the file


def test_a_symlink_loop_and_too_many_chapters_say_what_is_wrong(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    generated_corpus(corpus)
    loop = assert_refused_alike(corpus / "symlink-loop.yaml", tmp_path)
    assert (
        loop == f"{corpus / 'symlink-loop.yaml'}: a symlink loop (the link points back at itself)\n"
    )
    chapters = assert_refused_alike(corpus / "too-many-chapters.yaml", tmp_path)
    assert (
        "the routine has 256 chapters (top-level sections); an MP3 can list at most 255" in chapters
    )


def test_a_control_character_in_a_set_value_is_refused(tmp_path: Path) -> None:
    routine = TESTS / "golden" / "lunge-mini.yaml"
    message = assert_refused_alike(routine, tmp_path, "--set", "hold=5s\x1b[31m")
    assert message == (
        f"{routine}: --set hold: a control character (U+001B, ESC) in the value; remove it\n"
    )


def test_a_bad_set_value_names_the_set_not_a_line(tmp_path: Path) -> None:
    routine = TESTS / "golden" / "lunge-mini.yaml"
    message = assert_refused_alike(routine, tmp_path, "--set", "hold=soon")
    assert message == (
        f"{routine}: --set hold=soon: expected a duration like 20s, 1.5s, 2m, 1m30s or 90, "
        "got 'soon'\n"
    )


def test_nothing_is_written_in_the_current_folder_either(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["build", str(BAD[0]), "--engine", "fake"])
    assert result.exit_code == 1
    assert os.listdir(tmp_path) == []  # not even output/
