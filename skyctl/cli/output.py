"""Rendering shared by every command: JSON to stdout, or a rich table for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from skyctl.errors import UserError

# Piped output (cron, logs) gets room for wide tables instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True)


def want_json(ctx: typer.Context, flag: bool) -> bool:
    """True when `--json` was given on the command or globally (`skyctl --json CMD`)."""
    root = ctx.find_root()
    return flag or bool(root.obj and root.obj.get("json"))


def print_json(data: Any) -> None:
    """Stable, machine-readable output: sorted keys are not used so that key order stays meaningful."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]],
          justify: Callable[[str], str] | None = None) -> Table:
    """A rich table; numeric-looking columns are right-aligned."""
    t = Table(title=title, title_justify="left", header_style="bold")
    for col in columns:
        t.add_column(col, justify=justify(col) if justify else "left")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    return t


def pyplot(path: Path) -> Any:
    """matplotlib's pyplot on the headless Agg backend, loaded only when a plot is asked for (`--plot`)."""
    try:
        import matplotlib
    except ImportError:
        raise UserError("plotting needs matplotlib", field="--plot", value=str(path),
                        fix="pip install 'skyctl[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(plt: Any, fig: Any, path: Path) -> None:
    """Write `fig` to `path` and free it; an unwritable path is the user's `--plot` to fix."""
    try:
        fig.savefig(path)
    except OSError as e:
        raise UserError("cannot write the plot", field="--plot", value=str(path),
                        fix=e.strerror or "check the path") from None
    finally:
        plt.close(fig)
