"""Engine and session factory: SQLite at `$SKYCTL_HOME/state.db` by default, any SQLAlchemy URL via
`SKYCTL_DB_URL`.

SQLite is opened in WAL mode with a busy timeout so controllers, CLI calls and cron jobs in separate
processes can share one file. Write sessions start with `BEGIN IMMEDIATE`: a writer takes the write lock
up front (waiting up to the busy timeout) instead of failing later when a read-then-write transaction
tries to upgrade its lock under contention.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine

from skyctl.home import skyctl_home

BUSY_TIMEOUT_S = 30.0

_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()


def db_url() -> str:
    """`SKYCTL_DB_URL` if set, else the SQLite file in the skyctl home."""
    return os.environ.get("SKYCTL_DB_URL") or f"sqlite:///{skyctl_home() / 'state.db'}"


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL per process, migrated to the current schema on first use."""
    from skyctl.state.schema import migrate

    url = url or db_url()
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _create(url)
            migrate(engine)
            _ENGINES[url] = engine
    return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests switch homes; long-lived processes may fork)."""
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


def _create(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    memory = parsed.database in (None, "", ":memory:")
    if not memory:
        os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}}
    if memory:
        kwargs["poolclass"] = StaticPool  # one shared connection, else every checkout is a new empty DB
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module so `_sqlite_on_begin` decides the BEGIN kind.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


def _sqlite_on_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def write_session(engine: Engine | None = None) -> Iterator[Session]:
    """A transaction that holds the write lock from its start; commits on success, rolls back on error."""
    engine = engine or get_engine()
    immediate = engine.execution_options(sqlite_begin="IMMEDIATE")
    with Session(immediate, expire_on_commit=False) as s, s.begin():
        yield s


@contextmanager
def read_session(engine: Engine | None = None) -> Iterator[Session]:
    """A snapshot for queries; never blocks writers (WAL) and never writes."""
    engine = engine or get_engine()
    with Session(engine, expire_on_commit=False) as s, s.begin():
        yield s
