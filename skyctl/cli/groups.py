"""The list of command groups. Each entry: (name, Typer app, help)."""

from __future__ import annotations

import typer

GROUPS: list[tuple[str, typer.Typer, str]] = []
