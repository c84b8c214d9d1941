"""`skyctl catalog refresh`: live prices merged into the user's catalog file, atomically.

Each cloud has a module `skyctl.catalog.live_<cloud>` with one function of this shape:

    def fetch(base: Sequence[Offering], *, regions: set[str] | None, progress: Progress) -> list[Offering]

`base` is the current catalog's rows of that cloud: the instance types and places worth pricing, with the
specs (GPU, vCPUs, memory) the price APIs do not carry reliably. `fetch` returns fresh rows with live
prices, `price_date` and `price_source` naming the API; it may add places the base lacks (a new zone with a
spot price) and it leaves out rows it found no price for, which then keep their old price and source. It
raises `RefreshError` (or any `SkyctlError`) when the API fails; then nothing is written.

The result goes to `$SKYCTL_HOME/catalog.csv`, the override `loader.load_catalog` reads, through a
temporary file in the same directory and `os.replace`, so a reader sees the old or the new file, never
half of one, and a failed refresh leaves the old catalog in place.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib
import io
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from skyctl.catalog.loader import COLUMNS, load_catalog, parse_offerings
from skyctl.catalog.model import Offering
from skyctl.errors import Failure, UserError
from skyctl.home import skyctl_home

LIVE_CLOUDS = ("aws", "gcp", "azure")
Key = tuple[str, str, str | None, str]  # (cloud, region, zone, instance_type): one catalog row

# progress(what, done, total): called as work advances; the CLI draws a bar from it.
Progress = Callable[[str, int, int], None]


class Fetcher(Protocol):
    def __call__(self, base: Sequence[Offering], *, regions: set[str] | None,
                 progress: Progress) -> list[Offering]: ...


class RefreshError(Failure):
    """A price API failed or answered something unusable; the old catalog is kept."""


@dataclass(frozen=True)
class CloudResult:
    cloud: str
    updated: int  # rows whose prices came from the live API
    added: int  # rows for places the old catalog lacked
    kept: int  # rows the API had no price for, left as they were
    source: str  # price_source of the live rows


@dataclass(frozen=True)
class RefreshResult:
    path: Path
    rows: int
    clouds: list[CloudResult]


def no_progress(what: str, done: int, total: int) -> None:
    """The default: refresh quietly (library callers and tests)."""


def today() -> str:
    """The price date written into refreshed rows (UTC, ISO)."""
    return dt.datetime.now(dt.UTC).date().isoformat()


def catalog_path() -> Path:
    """Where refresh writes: the per-user override file the loader picks up."""
    return skyctl_home() / "catalog.csv"


def fetcher(cloud: str) -> Fetcher:
    """The live fetcher of a cloud, imported only when asked (each may need an optional SDK)."""
    if cloud not in LIVE_CLOUDS:
        raise UserError("no live price source for this cloud", field="--cloud", value=cloud,
                        fix=f"use one of {', '.join(LIVE_CLOUDS)}")
    try:
        module = importlib.import_module(f"skyctl.catalog.live_{cloud}")
    except ModuleNotFoundError as e:
        if e.name != f"skyctl.catalog.live_{cloud}":
            raise
        raise RefreshError(f"{cloud}: no live price source in this version of skyctl") from None
    return module.fetch


def refresh(clouds: Sequence[str] = LIVE_CLOUDS, *, regions: set[str] | None = None,
            progress: Progress = no_progress, path: Path | None = None,
            fetchers: dict[str, Fetcher] | None = None) -> RefreshResult:
    """Fetch live prices for `clouds` and write the merged catalog to `path` (default: the override file).

    Every cloud is fetched before anything is written, so one cloud's failure keeps the whole old file.
    `fetchers` replaces the per-cloud modules (tests of the merge and of the atomic write).
    """
    target = path or catalog_path()
    current = load_catalog(target if target.is_file() else None).offerings
    rows = {_key(o): o for o in current}
    results = []
    for cloud in clouds:
        fetch = (fetchers or {}).get(cloud) or fetcher(cloud)
        base = [o for o in current if o.cloud == cloud and (regions is None or o.region in regions)]
        fresh = fetch(base, regions=regions, progress=progress)
        results.append(_merge(rows, cloud, base, fresh))
    merged = sorted(rows.values(), key=lambda o: (o.cloud, o.instance_type, o.region, o.zone or ""))
    text = to_csv(merged)
    parse_offerings(text, str(target))  # the file we are about to install must load: check before replacing
    write_atomic(target, text)
    return RefreshResult(target, len(merged), results)


def _key(o: Offering) -> Key:
    return (o.cloud, o.region, o.zone, o.instance_type)


def _merge(rows: dict[Key, Offering], cloud: str, base: list[Offering],
           fresh: list[Offering]) -> CloudResult:
    """Put `fresh` rows over the old ones in place; count what changed."""
    if not fresh:
        raise RefreshError(f"{cloud}: the price API returned no prices for {len(base)} catalog rows; "
                           "kept the old catalog")
    wrong = [o for o in fresh if o.cloud != cloud]
    if wrong:
        raise RefreshError(f"{cloud}: fetcher returned a row of cloud {wrong[0].cloud!r}")
    base_keys = {_key(o) for o in base}
    fresh_keys = {_key(o) for o in fresh}
    for o in fresh:
        rows[_key(o)] = o
    return CloudResult(cloud, updated=len(fresh_keys & base_keys), added=len(fresh_keys - base_keys),
                       kept=len(base_keys - fresh_keys), source=fresh[0].price_source)


def to_csv(offerings: Sequence[Offering]) -> str:
    """Offerings as the CSV the loader reads (same columns, prices as written, empty for None)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for o in offerings:
        w.writerow(["" if getattr(o, c) is None else _cell(getattr(o, c)) for c in COLUMNS])
    return buf.getvalue()


def _cell(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) and v == int(v) and abs(v) < 1e15 else str(v)


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same directory and rename over `path` (fsync first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
