"""Explicit schema versions and forward migrations, per component (store, serve, ...).

Each table module registers a `Component` with its current version and the steps that bring an older
database up to it. `migrate` runs in one write transaction: it creates missing tables at their current
shape, then runs the pending steps of every component and records the new versions, so two processes
starting at once cannot both migrate. New tables need no step (they are created); steps are for changes
to tables that already exist (add a column, backfill, rename).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, MetaData, select
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

from skyctl.errors import Failure

# Modules whose import defines tables and registers their component; later issues append theirs.
TABLE_MODULES: tuple[str, ...] = ("skyctl.state.store_tables", "skyctl.state.serve_tables")

Step = Callable[[Connection], None]


@dataclass(frozen=True)
class Component:
    """A group of tables versioned together. `steps[v]` upgrades a database from v-1 to v."""

    name: str
    version: int
    steps: Mapping[int, Step] = field(default_factory=dict)
    metadata: MetaData = field(default_factory=lambda: SQLModel.metadata)

    def __post_init__(self) -> None:
        missing = [v for v in range(2, self.version + 1) if v not in self.steps]
        if self.version < 1 or missing:
            raise ValueError(f"component {self.name!r} v{self.version}: missing steps {missing}")


class SchemaVersion(SQLModel, table=True):
    """One row per component: the schema version the database is at."""

    __tablename__ = "schema_version"
    component: str = Field(primary_key=True)
    version: int


_COMPONENTS: dict[str, Component] = {}
_REG_LOCK = threading.Lock()


def register_component(component: Component) -> None:
    """Called by each table module at import time."""
    with _REG_LOCK:
        _COMPONENTS[component.name] = component


def registered_components() -> list[Component]:
    for module in TABLE_MODULES:
        importlib.import_module(module)
    return list(_COMPONENTS.values())


def migrate(engine: Engine, components: list[Component] | None = None) -> dict[str, int]:
    """Bring the database to the current version of each component; returns {component: version}."""
    comps = registered_components() if components is None else components
    done: dict[str, int] = {}
    with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as conn:
        SchemaVersion.metadata.create_all(conn, tables=[SchemaVersion.__table__])  # type: ignore[list-item]
        for comp in comps:
            comp.metadata.create_all(conn)
            table = SchemaVersion.__table__
            row = conn.execute(select(table.c.version).where(table.c.component == comp.name)).first()
            if row is None:
                conn.execute(table.insert().values(component=comp.name, version=comp.version))
            elif row.version > comp.version:
                raise Failure(f"the database at {engine.url!r} has {comp.name} schema v{row.version}, newer "
                              f"than this skyctl's v{comp.version}; upgrade skyctl or point SKYCTL_DB_URL "
                              "at another database")
            else:
                for v in range(row.version + 1, comp.version + 1):
                    comp.steps[v](conn)
                where = table.c.component == comp.name
                conn.execute(table.update().where(where).values(version=comp.version))
            done[comp.name] = comp.version
    return done


def schema_versions(engine: Engine) -> dict[str, int]:
    """What the database records, for `skyctl check` style diagnostics and tests."""
    with engine.connect() as conn:
        table = SchemaVersion.__table__
        return {r.component: r.version for r in conn.execute(select(table.c.component, table.c.version))}
