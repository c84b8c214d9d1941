"""The one place that talks SQL: engine/session factory, schema versions, and the sqlmodel tables.

Usage: `engine = get_engine()` (migrated on first use), then `with write_session(engine) as s: ...` for a
change or `with read_session(engine) as s: ...` for a query.
"""

from skyctl.state.db import db_url, dispose_engines, get_engine, read_session, write_session
from skyctl.state.schema import Component, register_component, schema_versions

__all__ = [
    "Component",
    "db_url",
    "dispose_engines",
    "get_engine",
    "read_session",
    "register_component",
    "schema_versions",
    "write_session",
]
