"""The user-facing error types and the exit codes the CLI maps them to.

Every mistake a user can make is raised as `UserError` with the field path, the offending value and
the fix, so that the CLI prints one line (exit 2) and HTTP surfaces answer 400, never a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

EXIT_OK = 0
EXIT_FAILURE = 1  # the input was fine but the work failed (solver, cloud, network)
EXIT_USAGE = 2  # bad input: fix the command line or the file


class SkyctlError(Exception):
    """Base class: anything the CLI reports as one short message."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UserError(SkyctlError):
    """Bad input. `field` is a dotted path into the file or the option name."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, field: str | None = None, value: Any = None,
                 fix: str | None = None, source: str | None = None) -> None:
        self.field, self.value, self.fix, self.source = field, value, fix, source
        parts = []
        if source:
            parts.append(f"{source}: ")
        if field:
            parts.append(f"{field}: ")
        parts.append(message)
        if value is not None:
            parts.append(f" (got {value!r})")
        if fix:
            parts.append(f"; {fix}")
        super().__init__("".join(parts))


class Failure(SkyctlError):
    """The work itself failed (infeasible problem, cloud error); exit 1."""


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean X?' hint for an unknown name, or None if nothing is close."""
    choices = list(choices)
    lower = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.5)
    return f"did you mean {lower[match[0]]!r}?" if match else None
