"""Explicit schema versions and forward migrations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, inspect, text

from skyctl.errors import Failure
from skyctl.state import dispose_engines, get_engine
from skyctl.state.schema import Component, migrate, schema_versions


def _meta(with_note: bool) -> MetaData:
    meta = MetaData()
    cols = [Column("id", Integer, primary_key=True), Column("name", String)]
    if with_note:
        cols.append(Column("note", String, server_default="none"))
    Table("demo_thing", meta, *cols)
    return meta


@pytest.fixture(autouse=True)
def _dispose():
    yield
    dispose_engines()


def _engine(path: Path):
    """skyctl's engine (transactional DDL on SQLite), which also carries skyctl's own components."""
    return get_engine(f"sqlite:///{path}")


def _demo_version(engine) -> int:
    return schema_versions(engine)["demo"]


def test_fresh_database_gets_current_shape_and_version(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "db.sqlite")
    assert migrate(engine, [Component("demo", 2, {2: _fail}, _meta(True))]) == {"demo": 2}
    assert {c["name"] for c in inspect(engine).get_columns("demo_thing")} == {"id", "name", "note"}
    assert _demo_version(engine) == 2


def _fail(conn) -> None:
    raise AssertionError("a fresh database must not run upgrade steps")


def test_old_database_is_upgraded_once(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "db.sqlite")
    migrate(engine, [Component("demo", 1, {}, _meta(False))])
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO demo_thing (name) VALUES ('a')"))
    calls = []

    def add_note(conn) -> None:
        calls.append(1)
        conn.execute(text("ALTER TABLE demo_thing ADD COLUMN note VARCHAR DEFAULT 'none'"))
        conn.execute(text("UPDATE demo_thing SET note = 'was ' || name"))

    v2 = Component("demo", 2, {2: add_note}, _meta(True))
    migrate(engine, [v2])
    migrate(engine, [v2])
    assert calls == [1]
    assert _demo_version(engine) == 2
    with engine.connect() as conn:
        assert conn.execute(text("SELECT note FROM demo_thing")).scalar() == "was a"


def test_a_failing_step_leaves_the_old_version(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "db.sqlite")
    migrate(engine, [Component("demo", 1, {}, _meta(False))])

    def broken(conn) -> None:
        conn.execute(text("ALTER TABLE demo_thing ADD COLUMN note VARCHAR"))
        raise RuntimeError("step failed half-way")

    with pytest.raises(RuntimeError):
        migrate(engine, [Component("demo", 2, {2: broken}, _meta(True))])
    assert _demo_version(engine) == 1
    assert "note" not in {c["name"] for c in inspect(engine).get_columns("demo_thing")}


def test_database_newer_than_code_is_refused(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "db.sqlite")
    migrate(engine, [Component("demo", 2, {2: _fail}, _meta(True))])
    with pytest.raises(Failure, match="newer than this skyctl"):
        migrate(engine, [Component("demo", 1, {}, _meta(False))])


def test_component_must_have_every_step() -> None:
    with pytest.raises(ValueError, match="missing steps"):
        Component("demo", 3, {2: _fail})


def test_cli_reports_newer_schema_as_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    engine = _engine(home / "state.db")
    with engine.begin() as conn:  # as if a newer skyctl had migrated this database
        conn.execute(text("UPDATE schema_version SET version = 99 WHERE component = 'store'"))
    dispose_engines()
    r = subprocess.run([sys.executable, "-m", "skyctl", "store", "ls"], capture_output=True, text=True,
                       env={"SKYCTL_HOME": str(home), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert r.returncode == 1
    assert "newer than this skyctl" in r.stderr and "Traceback" not in r.stderr
