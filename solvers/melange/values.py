"""Checked conversion of user-supplied numbers, bucket edges and [input][output] tables.

Every message names the exact cell (`field[row][col]`) and reminds that rows are input buckets and columns
output buckets, because the orientation mix-up is the most common mistake with Mélange inputs.
"""

from __future__ import annotations

import math
from typing import Any

from solvers.melange.errors import ProblemError

ORIENTATION = "rows are input-length buckets, columns are output-length buckets"


def number(value: Any, field: str, *, minimum: float = 0.0, allow_equal: bool = True) -> float:
    """A finite float >= minimum (or > minimum when allow_equal is False)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProblemError("must be a number", field=field, value=value)
    x = float(value)
    if not math.isfinite(x):
        raise ProblemError("must be a finite number", field=field, value=value)
    if x < minimum or (not allow_equal and x == minimum):
        rel = ">=" if allow_equal else ">"
        raise ProblemError(f"must be {rel} {minimum:g}", field=field, value=value)
    return x


def edges(value: Any, field: str) -> tuple[float, ...]:
    """Bucket UPPER edges: a non-empty, strictly increasing list of positive numbers."""
    if not isinstance(value, list | tuple) or not value:
        raise ProblemError("must be a non-empty list of bucket upper edges in tokens", field=field,
                           value=value)
    out = tuple(number(v, f"{field}[{i}]", allow_equal=False) for i, v in enumerate(value))
    for i in range(1, len(out)):
        if out[i] <= out[i - 1]:
            raise ProblemError("bucket edges must be strictly increasing", field=f"{field}[{i}]",
                               value=value[i], fix=f"it must be greater than {out[i - 1]:g}")
    return out


def matrix(value: Any, field: str, shape: tuple[int, int] | None = None,
           expected_from: str = "") -> tuple[tuple[float, ...], ...]:
    """A rectangular table of non-negative numbers indexed [input bucket][output bucket].

    With `shape`, the table must have exactly that many rows and columns; `expected_from` says where the
    expected shape came from, so the message tells the user which side to fix.
    """
    if not isinstance(value, list | tuple) or not value:
        raise ProblemError(f"must be a non-empty table ({ORIENTATION})", field=field, value=value)
    rows: list[tuple[float, ...]] = []
    for i, row in enumerate(value):
        if not isinstance(row, list | tuple):
            raise ProblemError(f"row {i} must be a list ({ORIENTATION})", field=f"{field}[{i}]", value=row)
        rows.append(tuple(number(v, f"{field}[{i}][{k}]") for k, v in enumerate(row)))
    width = len(rows[0])
    if shape is not None and len(rows) != shape[0]:
        raise ProblemError(
            f"has {len(rows)} rows but {expected_from or 'the problem'} has {shape[0]} input buckets "
            f"({ORIENTATION})", field=field, fix="make both tables the same shape")
    want = shape[1] if shape is not None else width
    for i, row in enumerate(rows):
        if len(row) != want:
            src = (expected_from or "the problem") if shape is not None else f"row 0 of {field}"
            raise ProblemError(
                f"row {i} has {len(row)} columns but {src} has {want} output buckets ({ORIENTATION})",
                field=f"{field}[{i}]", fix="make every row the same length as the output-bucket list")
    return tuple(rows)


def whole(value: Any, field: str, *, minimum: int = 0) -> int:
    """An int >= minimum (a float like 3.0 is accepted; 2.5 and True are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ProblemError("must be a whole number", field=field, value=value)
    if value < minimum:
        raise ProblemError(f"must be >= {minimum}", field=field, value=value)
    return int(value)
