"""The state database foundation: where it lives, SQLite settings for many processes, write locking."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import text

from skyctl.home import skyctl_home
from skyctl.state import db_url, dispose_engines, get_engine, read_session, schema_versions, write_session


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SKYCTL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SKYCTL_DB_URL", raising=False)
    yield
    dispose_engines()


def test_home_and_default_url_follow_skyctl_home(tmp_path: Path) -> None:
    assert skyctl_home() == tmp_path / "home"
    assert (tmp_path / "home").is_dir()
    assert db_url() == f"sqlite:///{tmp_path / 'home' / 'state.db'}"
    get_engine()
    assert (tmp_path / "home" / "state.db").is_file()


def test_home_defaults_to_dot_skyctl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKYCTL_HOME")
    assert skyctl_home(create=False) == Path.home() / ".skyctl"


def test_db_url_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'x.db'}"
    monkeypatch.setenv("SKYCTL_DB_URL", url)
    assert db_url() == url
    engine = get_engine()
    assert str(engine.url) == url
    assert (tmp_path / "elsewhere" / "x.db").is_file()
    assert not (tmp_path / "home" / "state.db").exists()


def test_sqlite_is_wal_with_busy_timeout_and_foreign_keys() -> None:
    with get_engine().connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_fresh_database_records_schema_versions() -> None:
    assert schema_versions(get_engine()) == {"store": 1, "serve": 1}


def test_in_memory_url_shares_one_database() -> None:
    engine = get_engine("sqlite://")
    with write_session(engine) as s:
        s.connection().exec_driver_sql("CREATE TABLE t (x INTEGER)")
        s.connection().exec_driver_sql("INSERT INTO t VALUES (7)")
    with read_session(engine) as s:
        assert s.connection().exec_driver_sql("SELECT x FROM t").scalar() == 7


def test_write_session_rolls_back_on_error() -> None:
    engine = get_engine()
    with write_session(engine) as s:
        s.connection().exec_driver_sql("CREATE TABLE t (x INTEGER)")
    with pytest.raises(RuntimeError), write_session(engine) as s:
        s.connection().exec_driver_sql("INSERT INTO t VALUES (1)")
        raise RuntimeError("boom")
    with read_session(engine) as s:
        assert s.execute(text("SELECT count(*) FROM t")).scalar() == 0


_WORKER = textwrap.dedent("""
    import sys
    from sqlalchemy import text
    from skyctl.state import get_engine, write_session
    engine = get_engine()  # a fresh database: the processes also race to create the schema
    with write_session(engine) as s:
        s.execute(text("CREATE TABLE IF NOT EXISTS counter (n INTEGER)"))
        if s.execute(text("SELECT count(*) FROM counter")).scalar() == 0:
            s.execute(text("INSERT INTO counter VALUES (0)"))
    for _ in range(int(sys.argv[1])):
        with write_session(engine) as s:  # read-modify-write: lost updates unless writers serialise
            n = s.execute(text("SELECT n FROM counter")).scalar()
            s.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
""")


@pytest.mark.slow  # four interpreters on a 2-core box
def test_processes_share_the_file_without_lost_updates_or_lock_errors() -> None:
    """Several processes increment a counter by read-then-write; WAL + busy timeout + BEGIN IMMEDIATE
    must make every update count and never surface 'database is locked'."""
    procs, per = 4, 25
    runs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(per)], stderr=subprocess.PIPE, text=True)
            for _ in range(procs)]
    errors = [p.communicate(timeout=120)[1] for p in runs]
    assert [p.returncode for p in runs] == [0] * procs, errors
    with read_session(get_engine()) as s:
        assert s.execute(text("SELECT n FROM counter")).scalar() == procs * per
    assert schema_versions(get_engine()) == {"store": 1, "serve": 1}
