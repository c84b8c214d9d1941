"""Reading and validating an offerings CSV: the shipped one, or a user's override file.

The CLI starts often, so a file is parsed once per process and cached by (path, size, mtime). Every row
is checked; a bad cell is a UserError naming the file, line and column, so an edited override file never
yields a half-loaded catalog.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from skyctl.catalog.catalog import Catalog
from skyctl.catalog.gpus import gpu_family
from skyctl.catalog.model import Offering
from skyctl.errors import UserError
from skyctl.home import skyctl_home

OFFERINGS_FILE = "offerings.csv"
SHIPPED = f"<package skyctl.catalog>/{OFFERINGS_FILE}"
COLUMNS = ("cloud", "region", "zone", "instance_type", "gpu", "gpu_count", "gpu_memory_gb", "vcpus",
           "memory_gb", "price_ondemand", "price_spot", "price_date", "price_source")
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")  # ISO date, month or year


def override_path() -> Path | None:
    """The user's catalog file if one is set: $SKYCTL_CATALOG, else $SKYCTL_HOME (~/.skyctl)/catalog.csv.

    Checked on every load_catalog() call (one stat), so a long-running controller sees a newly added file.
    """
    env = os.environ.get("SKYCTL_CATALOG")
    if env:
        path = os.path.expanduser(env)
        if not os.path.isfile(path):
            raise UserError("catalog file not found", field="SKYCTL_CATALOG", value=env,
                            fix="point it at an offerings CSV or unset it to use the shipped catalog")
        return Path(path)
    path = skyctl_home(create=False) / "catalog.csv"
    return path if path.is_file() else None


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The catalog: `path` if given, else the user's override file if set, else the shipped one.

    Parsed once per file version (path, size, mtime) and process, so callers need not keep it around.
    """
    chosen = Path(path).expanduser() if path is not None else override_path()
    if chosen is None:
        return _shipped()
    try:
        st = chosen.stat()
    except OSError as e:
        raise UserError("cannot read catalog file", field="path", value=str(chosen),
                        fix=e.strerror or "check the path") from e
    return _cached_file(str(chosen.resolve()), st.st_size, st.st_mtime_ns)


@cache
def _shipped() -> Catalog:
    text = resources.files("skyctl.catalog").joinpath(OFFERINGS_FILE).read_text(encoding="utf-8")
    return Catalog(parse_offerings(text, SHIPPED), SHIPPED)


@cache
def _cached_file(path: str, size: int, mtime_ns: int) -> Catalog:
    """Size and mtime are part of the cache key so an edited file is re-read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError("cannot read catalog file", field="path", value=path, fix=str(e)) from e
    return Catalog(parse_offerings(text, path), path)


def parse_offerings(text: str, source: str) -> tuple[Offering, ...]:
    """Parse and check an offerings CSV; `source` names the file in error messages.

    Cells repeat a lot (clouds, regions, GPU names, sources), so each distinct (column, text) pair is
    converted and checked once per file; that keeps a cold parse within a few times a bare csv.reader pass.
    """
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != COLUMNS:
        raise UserError("wrong header", source=source, field="line 1", value=",".join(header or []),
                        fix=f"the columns must be exactly: {','.join(COLUMNS)}")
    memo: dict[tuple[int, str], Any] = {}
    seen: dict[tuple[str, str, str | None, str], int] = {}
    out: list[Offering] = []
    for lineno, cells in _rows(reader):
        if len(cells) != len(COLUMNS):
            raise UserError(f"expected {len(COLUMNS)} cells, found {len(cells)}", source=source,
                            field=f"line {lineno}", fix="check for a missing or extra comma")
        values = []
        for i, raw in enumerate(cells):
            value = memo.get((i, raw), _MISSING)
            if value is _MISSING:
                value = memo[(i, raw)] = _convert(i, raw.strip(), source, lineno)
            values.append(value)
        off = Offering(*values)
        if off.price_ondemand is None and off.price_spot is None:
            raise UserError("an offering needs at least one price", source=source,
                            field=f"line {lineno}, column price_ondemand",
                            fix="fill price_ondemand or price_spot")
        key = (off.cloud, off.region, off.zone, off.instance_type)
        if key in seen:
            raise UserError("duplicate offering", source=source, field=f"line {lineno}",
                            value=off.location + "/" + off.instance_type,
                            fix=f"it repeats line {seen[key]}; keep one row per place and instance type")
        seen[key] = lineno
        out.append(off)
    if not out:
        raise UserError("catalog has no offerings", source=source, fix="add at least one row")
    return tuple(out)


def _rows(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """Non-blank rows with the line number they start on (1-based; quoted newlines are counted)."""
    start = reader.line_num + 1
    for cells in reader:
        if any(c.strip() for c in cells):
            yield start, cells
        start = reader.line_num + 1


def _convert(index: int, text: str, source: str, lineno: int) -> Any:
    """One cell, converted and checked; a bad one is a UserError naming file, line and column."""
    convert, want = _CELLS[index]
    try:
        return convert(text)
    except (ValueError, UserError) as e:
        hint = e.fix if isinstance(e, UserError) and e.fix else want
        raise UserError("bad value", source=source, field=f"line {lineno}, column {COLUMNS[index]}",
                        value=text, fix=hint) from None


def _name(s: str) -> str:
    if not _NAME.match(s):
        raise ValueError(s)
    return s


def _optional(s: str) -> str | None:
    return s or None


def _nonempty(s: str) -> str:
    if not s:
        raise ValueError(s)
    return s


def _gpu(s: str) -> str:
    family = gpu_family(s)
    if len(family) > 1:
        raise UserError("ambiguous", fix=f"write one of {', '.join(family)}")
    return family[0]


def _positive_int(s: str) -> int:
    n = int(float(s)) if s.endswith(".0") else int(s)
    if n < 1:
        raise ValueError(s)
    return n


def _positive_float(s: str) -> float:
    x = float(s)
    if not x > 0 or x == float("inf"):
        raise ValueError(s)
    return x


def _price(s: str) -> float | None:
    if not s:
        return None
    x = float(s)
    if not 0 <= x < float("inf"):
        raise ValueError(s)
    return x


def _date(s: str) -> str:
    if not _DATE.match(s):
        raise ValueError(s)
    return s


_MISSING = object()
_PRICE_HINT = "a non-negative $/h number, or empty for no offer"
# (converter, what a good value looks like), in COLUMNS order, which is also Offering's field order
_CELLS: tuple[tuple[Callable[[str], Any], str], ...] = (
    (_name, "lower-case letters, digits and '-', e.g. aws"),
    (_name, "lower-case letters, digits and '-', e.g. us-east-1"),
    (_optional, "a zone name, or empty where the cloud has no zones"),
    (_nonempty, "the cloud's instance type name"),
    (_gpu, "a known GPU type"),
    (_positive_int, "a whole number >= 1"),
    (_positive_float, "GB of one GPU, > 0"),
    (_positive_int, "a whole number >= 1"),
    (_positive_float, "RAM in GB, > 0"),
    (_price, _PRICE_HINT),
    (_price, _PRICE_HINT),
    (_date, "an ISO date: YYYY-MM-DD, or YYYY-MM or YYYY"),
    (_nonempty, "name where the price comes from"),
)
