"""Fixtures shared by the serve tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from skyctl.state import dispose_engines


@pytest.fixture
def serve_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh SKYCTL_HOME (so a fresh SQLite state database) for in-process controller tests."""
    home = tmp_path / "home"
    monkeypatch.setenv("SKYCTL_HOME", str(home))
    monkeypatch.delenv("SKYCTL_DB_URL", raising=False)
    yield home
    dispose_engines()
