"""Authoring: a JSON Schema made from the model and kept beside the routines, and a starter
routine that shows every feature and builds as it is."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from conftest import ROOT, TESTS
from psoas_audio.authoring import SCHEMA_COMMENT, SCHEMA_FILE, routine_schema, schema_text
from psoas_audio.cli import app

SHIPPED = sorted((ROOT / "routines").glob("*.yaml"))
GOLDEN = sorted((TESTS / "golden").glob("*.yaml"))
validator = jsonschema.Draft202012Validator(routine_schema())


def test_the_schema_beside_the_routines_is_the_one_the_model_makes() -> None:
    """If this fails: psoas-audio schema > routines/routine.schema.json"""
    assert (ROOT / "routines" / SCHEMA_FILE).read_text(encoding="utf-8") == schema_text()
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0 and result.stdout == schema_text()
    jsonschema.Draft202012Validator.check_schema(json.loads(schema_text()))


@pytest.mark.parametrize("path", SHIPPED + GOLDEN, ids=[p.stem for p in SHIPPED + GOLDEN])
def test_every_shipped_and_golden_routine_meets_the_schema(path: Path) -> None:
    validator.validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_routines_point_editors_at_the_schema(path: Path) -> None:
    assert path.read_text(encoding="utf-8").splitlines()[0] == SCHEMA_COMMENT


@pytest.mark.parametrize(
    "name", ["unknown-step-key", "unknown-top-key", "missing-title", "chime-unknown-style"]
)
def test_the_schema_flags_mistakes_as_an_editor_would(name: str) -> None:
    data = yaml.safe_load((TESTS / "bad" / f"{name}.yaml").read_text(encoding="utf-8"))
    assert not validator.is_valid(data)


def test_new_writes_a_starter_that_builds_and_never_overwrites(tmp_path: Path) -> None:
    routine = tmp_path / "mine.yaml"
    runner = CliRunner()
    result = runner.invoke(app, ["new", str(routine)])
    assert result.exit_code == 0, result.stderr
    text = routine.read_text(encoding="utf-8")
    assert text.splitlines()[0] == SCHEMA_COMMENT and (tmp_path / SCHEMA_FILE).exists()
    validator.validate(yaml.safe_load(text))
    for feature in ("sides:", "repeat:", "section:", "countdown:", "halfway:", "remind:",
                    "pause:", "chime:", "pronounce:", "vars:", "album:", "cover:"):  # fmt: skip
        assert feature in text
    out = tmp_path / "mine.mp3"
    result = runner.invoke(app, ["build", str(routine), "--engine", "fake", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    routine.write_text("title: Mine, edited\nsteps: [{say: Hi.}]\n")
    result = runner.invoke(app, ["new", str(routine)])
    assert result.exit_code == 1
    assert result.stderr == f"{routine}: already exists; refusing to replace it\n"
    assert routine.read_text() == "title: Mine, edited\nsteps: [{say: Hi.}]\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "mine.mp3", "mine.vtt", "mine.yaml", SCHEMA_FILE
    ]  # fmt: skip
