"""Storage, egress and request prices: the shipped tables or a user's YAML pricing file.

Other parts of skyctl (virtual buckets, cost reports) ask this module for prices by region name;
`Pricing.to_prices()` hands the solvers the dense, id-indexed form they compute with.

A pricing file looks like::

    storage: {aws:us-east-1: 0.023, gcp:us-west1: 0.020}     # $/GB-month
    egress: {aws:us-east-1: {gcp:us-west1: 0.09}, gcp:us-west1: {aws:us-east-1: 0.12}}  # $/GB
    get: {aws:us-east-1: 4.0e-7}                                 # $/request, optional
    put: {aws:us-east-1: 5.0e-6}                                 # $/request, optional
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from skyctl.errors import UserError, did_you_mean
from solvers.skystore.costmodel import Prices, t_even

SHIPPED = "shipped list prices (skyctl/store/prices, from the SkyStore artifact's profiles)"


@dataclass(frozen=True)
class Pricing:
    """Prices by region name. Egress inside a region is free; a missing pair is an error."""

    storage: dict[str, float]
    egress: dict[tuple[str, str], float]
    get: dict[str, float]
    put: dict[str, float]
    source: str

    def regions(self) -> list[str]:
        return sorted(self.storage)

    def _check(self, region: str, field: str = "region") -> str:
        if region not in self.storage:
            hint = did_you_mean(region, self.storage)
            raise UserError("unknown region", field=field, value=region, source=self.source,
                            fix=hint or "list the regions with their prices in the pricing file")
        return region

    def storage_gb_month(self, region: str) -> float:
        return self.storage[self._check(region)]

    def egress_gb(self, src: str, dst: str) -> float:
        if self._check(src, "src") == self._check(dst, "dst"):
            return 0.0
        try:
            return self.egress[(src, dst)]
        except KeyError:
            raise UserError("no egress price for this region pair", field=f"egress.{src}.{dst}",
                            source=self.source, fix="add it to the pricing file") from None

    def get_request(self, region: str) -> float:
        return self.get.get(self._check(region), 0.0)

    def put_request(self, region: str) -> float:
        return self.put.get(self._check(region), 0.0)

    def t_even_s(self, src: str, dst: str, time_scale: float = 1.0) -> float:
        """Break-even TTL in seconds for a replica in `dst` fetched from `src`."""
        return t_even(self.egress_gb(src, dst), self.storage_gb_month(dst), time_scale)

    def to_prices(self, regions: list[str], requests: bool = True) -> Prices:
        """Dense prices over `regions` (in that order) for the solvers; request prices optional."""
        for r in regions:
            self._check(r)
        eg = tuple(tuple(self.egress_gb(s, d) for d in regions) for s in regions)
        get = tuple(self.get_request(r) if requests else 0.0 for r in regions)
        put = tuple(self.put_request(r) if requests else 0.0 for r in regions)
        return Prices(tuple(regions), tuple(self.storage[r] for r in regions), eg, get, put)


def load_pricing(path: str | Path | None = None, regions: list[str] | None = None) -> Pricing:
    """The shipped tables (path None) or a YAML pricing file, optionally checked for `regions`."""
    pricing = _load_shipped() if path is None else _load_yaml(Path(path))
    for r in regions or []:
        pricing._check(r, "regions")
    if regions:
        for s in regions:
            for d in regions:
                pricing.egress_gb(s, d)
    return pricing


def _load_shipped() -> Pricing:
    base = resources.files("skyctl.store") / "prices"
    storage, get, put, egress = {}, {}, {}, {}
    with (base / "storage.csv").open() as f:
        for row in csv.DictReader(f):
            storage[row["region"]] = float(row["storage_usd_per_gb_month"])
            get[row["region"]] = float(row["get_usd_per_request"])
            put[row["region"]] = float(row["put_usd_per_request"])
    with (base / "egress.csv").open() as f:
        for row in csv.DictReader(f):
            egress[(row["src"], row["dst"])] = float(row["usd_per_gb"])
    return Pricing(storage, egress, get, put, SHIPPED)


def _number(value: Any, field: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise UserError("must be a non-negative number", field=field, value=value, source=source,
                        fix="give a price in dollars, e.g. 0.02")
    return float(value)


def _table(doc: dict, key: str, source: str, required: bool) -> dict:
    got = doc.get(key)
    if got is None and not required:
        return {}
    if not isinstance(got, dict) or (required and not got):
        raise UserError(f"must be a mapping of region to price{'' if key != 'egress' else ' mappings'}",
                        field=key, value=got, source=source, fix=f"see `{key}:` in docs/store-simulator.md")
    return got


def _load_yaml(path: Path) -> Pricing:
    source = str(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as e:
        raise UserError("cannot read the pricing file", field="--pricing", value=source,
                        fix=e.strerror or "check the path") from None
    except yaml.YAMLError as e:
        raise UserError(f"not valid YAML: {str(e).splitlines()[0]}", source=source,
                        fix="fix the YAML syntax") from None
    if not isinstance(doc, dict):
        raise UserError("must be a mapping with `storage` and `egress`", source=source, value=doc,
                        fix="see docs/store-simulator.md")
    unknown = set(doc) - {"storage", "egress", "get", "put"}
    if unknown:
        key = sorted(unknown)[0]
        raise UserError("unknown key", field=key, source=source,
                        fix=did_you_mean(key, ["storage", "egress", "get", "put"]) or
                        "use storage, egress, get and put")
    storage = {str(r): _number(v, f"storage.{r}", source)
               for r, v in _table(doc, "storage", source, True).items()}
    egress = {}
    for src, row in _table(doc, "egress", source, True).items():
        if not isinstance(row, dict):
            raise UserError("must map destination regions to $/GB", field=f"egress.{src}", value=row,
                            source=source, fix=f"write `{src}: {{DST: 0.02}}`")
        for dst, v in row.items():
            egress[(str(src), str(dst))] = _number(v, f"egress.{src}.{dst}", source)
    req = {k: {str(r): _number(v, f"{k}.{r}", source) for r, v in _table(doc, k, source, False).items()}
           for k in ("get", "put")}
    pricing = Pricing(storage, egress, req["get"], req["put"], source)
    for (s, d) in egress:
        pricing._check(s, f"egress.{s}")
        pricing._check(d, f"egress.{s}.{d}")
    for k in ("get", "put"):
        for r in req[k]:
            pricing._check(r, f"{k}.{r}")
    return pricing
