"""The `skyctl` entry point: global options, command groups, and the error boundary."""

from __future__ import annotations

import sys

import typer

from skyctl import __version__
from skyctl.cli.output import err_console
from skyctl.errors import EXIT_FAILURE, SkyctlError

app = typer.Typer(
    name="skyctl",
    help="Serve LLMs across clouds at the lowest cost.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"skyctl {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    json_: bool = typer.Option(False, "--json", help="Machine-readable JSON output for every command."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """skyctl: GPU mixes, serving, storage placement and cost reports."""
    ctx.obj = {"json": json_, "debug": debug}


def _register() -> None:
    """Attach the command groups once; each group stays its own module."""
    from skyctl.cli import groups

    for name, sub, help_ in groups.GROUPS:
        app.add_typer(sub, name=name, help=help_)


_register()


def run(argv: list[str] | None = None) -> int:
    """Console-script entry: maps our errors to one line and an exit code, never a traceback."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        app(args=args, prog_name="skyctl")  # usage errors exit 2 through click's standalone mode
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else EXIT_FAILURE)
    except SkyctlError as e:
        if debug:
            raise
        err_console.print(f"[bold red]error:[/] {e.message}", highlight=False, soft_wrap=True)
        return e.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(run())
