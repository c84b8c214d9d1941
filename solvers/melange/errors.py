"""The solver package's own error type.

Solvers may not import `skyctl`, so bad inputs are raised as `ProblemError` carrying the same field/value/fix
triple as `skyctl.errors.UserError`; the service layer converts one into the other and adds the file name.
"""

from __future__ import annotations

from typing import Any


class ProblemError(ValueError):
    """An input the solver cannot use. `field` is a dotted path into the input (e.g. `gpus.L4[2][3]`)."""

    def __init__(self, message: str, *, field: str | None = None, value: Any = None,
                 fix: str | None = None) -> None:
        self.message, self.field, self.value, self.fix = message, field, value, fix
        parts = [f"{field}: " if field else "", message]
        if value is not None:
            parts.append(f" (got {value!r})")
        if fix:
            parts.append(f"; {fix}")
        super().__init__("".join(parts))
