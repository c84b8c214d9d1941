"""Typed readers for YAML values that fail with the field path, the value and the fix.

Every parser in this package reads through a `Reader`, so an error always says where in the file the
problem is (`service.replica_policy.max_replicas`), what was there and what to write instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from skyctl.errors import UserError, did_you_mean

_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
               dict: "a mapping", list: "a list", type(None): "null"}


def type_name(value: Any) -> str:
    """'a string', 'a list', ... for messages that name what was found."""
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def join_path(parent: str, key: str | int) -> str:
    """`service` + `replica_policy` -> `service.replica_policy`; ints become `[i]`."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


@dataclass(frozen=True)
class Reader:
    """Error context of one file: `source` is the path (or a label) shown before every message;
    `lines` maps YAML paths to line numbers, so messages read `svc.yaml:12: service.replicas: ...`."""

    source: str | None = None
    lines: Mapping[str, int] = field(default_factory=dict)

    def error(self, path: str, message: str, value: Any = None, fix: str | None = None) -> UserError:
        return UserError(message, field=path or None, value=value, fix=fix, source=self._where(path))

    def _where(self, path: str) -> str | None:
        """`source:line` of the path, or of its nearest written parent (for a missing key)."""
        while path and path not in self.lines:
            parent = re.fullmatch(r"(.*)(\[\d+\]|\.[^.]*)", path)
            path = parent[1] if parent else ""
        line = self.lines.get(path)
        return f"{self.source}:{line}" if self.source and line else self.source

    def mapping(self, value: Any, path: str, *, allowed: Iterable[str],
                unsupported: Mapping[str, str] | None = None) -> dict[str, Any]:
        """A mapping whose keys are all known; unknown keys get a did-you-mean."""
        if not isinstance(value, dict):
            raise self.error(path, f"must be a mapping of fields, not {type_name(value)}", value,
                             "indent the fields under this key as `key: value` lines")
        allowed = list(allowed)
        for key in value:
            if not isinstance(key, str):
                raise self.error(path, "field names must be strings", key, "quote the field name")
            if unsupported and key in unsupported:
                raise self.error(join_path(path, key), "is not supported by skyctl", None,
                                 unsupported[key])
            if key not in allowed:
                hint = did_you_mean(key, allowed)
                fix = f"{hint} Valid fields here: {', '.join(allowed)}" if hint else \
                    f"valid fields here: {', '.join(allowed)}"
                raise self.error(join_path(path, key), "unknown field", None, fix)
        return value

    def string(self, value: Any, path: str, *, example: str) -> str:
        if not isinstance(value, str) or not value:
            got = "an empty string" if value == "" else type_name(value)
            raise self.error(path, f"must be a non-empty string, not {got}", value,
                             f"write e.g. `{example}`")
        return value

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(path, f"must be a boolean, not {type_name(value)}", value,
                             "write `true` or `false` (unquoted)")
        return value

    def integer(self, value: Any, path: str, *, minimum: int | None = None,
                maximum: int | None = None) -> int:
        """Whole numbers only (YAML `2`, not `2.5` or `"2"`); booleans are rejected too."""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(path, f"must be an integer, not {type_name(value)}", value,
                             f"write a whole number, e.g. `{path.rsplit('.', 1)[-1]}: {minimum or 1}`")
        self._check_range(value, path, minimum, maximum)
        return value

    def number(self, value: Any, path: str, *, minimum: float | None = None,
               positive: bool = False) -> float | int:
        """Ints stay ints so that `to_dict()` round-trips `300` as `300`, not `300.0`."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            got = type_name(value) if not isinstance(value, float) else "infinite or NaN"
            raise self.error(path, f"must be a number, not {got}", value,
                             f"write a number (unquoted), e.g. `{path.rsplit('.', 1)[-1]}: 10`")
        if positive and value <= 0:
            raise self.error(path, "must be > 0", value, "use a positive number")
        self._check_range(value, path, minimum, None)
        return value

    def choice(self, value: Any, path: str, choices: Iterable[str]) -> str:
        """A case-insensitive enum value, returned lower-case."""
        choices = list(choices)
        text = self.string(value, path, example=choices[0]).lower()
        if text not in choices:
            hint = did_you_mean(text, choices)
            fix = f"{hint} Choose one of: {', '.join(choices)}" if hint else \
                f"choose one of: {', '.join(choices)}"
            raise self.error(path, "unknown value", value, fix)
        return text

    def str_map(self, value: Any, path: str, *, key_pattern: re.Pattern[str] | None = None,
                what: str = "value") -> dict[str, str]:
        """`{name: text}` with string values (headers, labels)."""
        if not isinstance(value, dict):
            raise self.error(path, f"must be a mapping of name: {what}, not {type_name(value)}", value,
                             f"write one `name: {what}` per line under this key")
        out: dict[str, str] = {}
        for key, item in value.items():
            item_path = join_path(path, str(key))
            if not isinstance(key, str) or (key_pattern and not key_pattern.fullmatch(key)):
                raise self.error(item_path, "invalid name", key, "use letters, digits, '-' and '_'")
            if not isinstance(item, str):
                raise self.error(item_path, f"must be a string, not {type_name(item)}", item,
                                 f"quote the value: `{key}: \"{item}\"`")
            out[key] = item
        return out

    def _check_range(self, value: float, path: str, minimum: float | None, maximum: float | None) -> None:
        if minimum is not None and value < minimum:
            raise self.error(path, f"must be >= {minimum}", value, f"use a value of at least {minimum}")
        if maximum is not None and value > maximum:
            raise self.error(path, f"must be <= {maximum}", value, f"use a value of at most {maximum}")
