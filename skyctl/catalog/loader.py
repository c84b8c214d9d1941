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

OFFERINGS_FILE = "offerings.csv"
SHIPPED = f"<package skyctl.catalog>/{OFFERINGS_FILE}"
COLUMNS = ("cloud", "region", "zone", "instance_type", "gpu", "gpu_count", "gpu_memory_gb", "vcpus",
           "memory_gb", "price_ondemand", "price_spot", "price_date", "price_source")
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")  # ISO date, month or year


def override_path() -> Path | None:
    """The user's catalog file if one is set: $SKYCTL_CATALOG, else $SKYCTL_HOME (~/.skyctl)/catalog.csv."""
    env = os.environ.get("SKYCTL_CATALOG")
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise UserError("catalog file not found", field="SKYCTL_CATALOG", value=env,
                            fix="point it at an offerings CSV or unset it to use the shipped catalog")
        return path
    home = Path(os.environ.get("SKYCTL_HOME") or Path.home() / ".skyctl").expanduser()
    path = home / "catalog.csv"
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
    """Parse and check an offerings CSV; `source` names the file in error messages."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != COLUMNS:
        raise UserError("wrong header", source=source, field="line 1", value=",".join(header or []),
                        fix=f"the columns must be exactly: {','.join(COLUMNS)}")
    seen: dict[tuple[str, str, str | None, str], int] = {}
    out: list[Offering] = []
    for lineno, cells in _rows(reader):
        off = _parse_row(cells, source, lineno)
        key = (off.cloud, off.region, off.zone, off.instance_type)
        if key in seen:
            raise UserError("duplicate offering", source=source, field=f"line {lineno}", value="/".join(
                p for p in (off.cloud, off.region, off.zone, off.instance_type) if p),
                fix=f"it repeats line {seen[key]}; keep one row per (cloud, region, zone, instance_type)")
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


def _parse_row(cells: list[str], source: str, lineno: int) -> Offering:
    if len(cells) != len(COLUMNS):
        raise UserError(f"expected {len(COLUMNS)} cells, found {len(cells)}", source=source,
                        field=f"line {lineno}", fix="check for a missing or extra comma")
    row = dict(zip(COLUMNS, (c.strip() for c in cells), strict=True))

    def cell(column: str, convert: Callable[[str], Any], want: str) -> Any:
        try:
            return convert(row[column])
        except (ValueError, UserError) as e:
            hint = e.fix if isinstance(e, UserError) and e.fix else want
            raise UserError("bad value", source=source, field=f"line {lineno}, column {column}",
                            value=row[column], fix=hint) from None

    gpu = cell("gpu", _gpu, "a known GPU type")
    od = cell("price_ondemand", _price, "a non-negative $/h number, or empty for no offer")
    spot = cell("price_spot", _price, "a non-negative $/h number, or empty for no offer")
    if od is None and spot is None:
        raise UserError("an offering needs at least one price", source=source,
                        field=f"line {lineno}, column price_ondemand",
                        fix="fill price_ondemand or price_spot")
    return Offering(
        cloud=cell("cloud", _name, "lower-case letters, digits and '-', e.g. aws"),
        region=cell("region", _name, "lower-case letters, digits and '-', e.g. us-east-1"),
        zone=row["zone"] or None,
        instance_type=cell("instance_type", _nonempty, "the cloud's instance type name"),
        gpu=gpu,
        gpu_count=cell("gpu_count", _positive_int, "a whole number >= 1"),
        gpu_memory_gb=cell("gpu_memory_gb", _positive_float, "GB of one GPU, > 0"),
        vcpus=cell("vcpus", _positive_int, "a whole number >= 1"),
        memory_gb=cell("memory_gb", _positive_float, "RAM in GB, > 0"),
        price_ondemand=od,
        price_spot=spot,
        price_date=cell("price_date", _date, "an ISO date: YYYY-MM-DD, or YYYY-MM or YYYY"),
        price_source=cell("price_source", _nonempty, "name where the price comes from"),
    )


def _name(s: str) -> str:
    if not _NAME.match(s):
        raise ValueError(s)
    return s


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
