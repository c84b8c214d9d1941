"""Shared helpers for the spec tests: fixture paths and dotted lookups into `to_dict()`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "serve"


def lookup(data: Any, dotted: str) -> Any:
    """`resources.any_of[1].cloud` -> the value; a missing key raises KeyError naming the path."""
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", dotted):
        data = data[int(part[1:-1])] if part.startswith("[") else data[part]
    return data

