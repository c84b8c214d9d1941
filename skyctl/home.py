"""Where skyctl keeps its files: `~/.skyctl`, or `$SKYCTL_HOME` so tests and users can relocate it."""

from __future__ import annotations

import os
from pathlib import Path


def skyctl_home(create: bool = True) -> Path:
    """The home directory, created on first use so every caller can write into it straight away."""
    raw = os.environ.get("SKYCTL_HOME")
    home = Path(raw).expanduser() if raw else Path.home() / ".skyctl"
    if create:
        home.mkdir(parents=True, exist_ok=True)
    return home
