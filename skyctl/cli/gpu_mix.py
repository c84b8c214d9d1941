"""`skyctl gpu-mix`: the cheapest mix of GPU types for a workload (Mélange ILP), and its profiles."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)
