"""The query API over a set of offerings: filter, sort by price, pick the cheapest.

Filters are checked against what the catalog actually holds, so a typo ("us-east1", "awz") is a UserError
with a did-you-mean rather than an empty answer that looks like "no capacity".
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from skyctl.catalog.gpus import gpu_family, gpu_specs
from skyctl.catalog.model import Offering
from skyctl.errors import UserError, did_you_mean


class Catalog:
    """An immutable set of offerings with the indexes its queries need."""

    def __init__(self, offerings: Iterable[Offering], source: str = "<memory>") -> None:
        self.offerings: tuple[Offering, ...] = tuple(offerings)
        self.source = source
        self._regions: dict[str, list[str]] = {}
        self._zones: dict[str, set[str]] = {}
        self._instance_types = {o.instance_type for o in self.offerings}
        # sorted once here, so a query is a filter that keeps this order
        spot_priced = (o for o in self.offerings if o.price_spot is not None)
        self._by_price = {False: tuple(sorted(self.offerings, key=lambda o: _sort_key(o, False))),
                          True: tuple(sorted(spot_priced, key=lambda o: _sort_key(o, True)))}
        self._by_gpu: dict[tuple[bool, str], list[Offering]] = {}
        for spot, ordered in self._by_price.items():
            for o in ordered:
                self._by_gpu.setdefault((spot, o.gpu), []).append(o)
        for o in self.offerings:
            regions = self._regions.setdefault(o.cloud, [])
            if o.region not in regions:
                regions.append(o.region)
            if o.zone:
                self._zones.setdefault(o.region, set()).add(o.zone)

    def __len__(self) -> int:
        return len(self.offerings)

    def __repr__(self) -> str:
        return f"Catalog({len(self.offerings)} offerings from {self.source})"

    def gpu_names(self) -> list[str]:
        """GPU types with at least one offering, in spec-table order (roughly: small to large)."""
        present = {o.gpu for o in self.offerings}
        return [g for g in gpu_specs() if g in present]

    def clouds(self) -> list[str]:
        return sorted(self._regions)

    def regions(self, cloud: str | None = None) -> list[str]:
        """Sorted regions of one cloud, or of all clouds."""
        if cloud is None:
            return sorted({r for rs in self._regions.values() for r in rs})
        return sorted(self._regions[self._check_cloud(cloud)])

    def zones(self, region: str | None = None) -> list[str]:
        """Sorted zones of one region (empty for a zone-less cloud such as Azure here), or of all regions."""
        if region is None:
            return sorted({z for zs in self._zones.values() for z in zs})
        return sorted(self._zones.get(self._check_region(region, None), ()))

    def query(self, *, gpu: str | None = None, cloud: str | None = None, region: str | None = None,
              zone: str | None = None, spot: bool = False, gpu_count: int | None = None,
              instance_type: str | None = None) -> list[Offering]:
        """Matching offerings, cheapest first (by spot or on-demand $/h of the whole instance).

        `gpu` takes any spelling `gpu_family` accepts, so "A100" matches both A100 sizes. With spot=True,
        offerings without a spot price are dropped; otherwise those without an on-demand price sort last.
        `instance_type` (exact, as the cloud spells it) is how the controller and the cost report find the
        price of a machine they launched.
        """
        gpus = set(gpu_family(gpu)) if gpu is not None else None
        cloud = self._check_cloud(cloud) if cloud is not None else None
        region = self._check_region(region, cloud) if region is not None else None
        zone = self._check_zone(zone, region) if zone is not None else None
        if instance_type is not None and instance_type not in self._instance_types:
            raise UserError("unknown instance type", field="instance_type", value=instance_type,
                            fix=did_you_mean(instance_type, self._instance_types) or "see skyctl catalog ls")
        if gpu_count is not None and (isinstance(gpu_count, bool) or not isinstance(gpu_count, int)
                                      or gpu_count < 1):
            raise UserError("must be a whole number >= 1", field="gpu_count", value=gpu_count)
        spot = bool(spot)
        if gpus is not None and len(gpus) == 1:  # the common case: the per-GPU list, already in price order
            pool: Iterable[Offering] = self._by_gpu.get((spot, next(iter(gpus))), ())
        else:
            pool = self._by_price[spot]
        return [o for o in pool
                if (gpus is None or o.gpu in gpus) and (cloud is None or o.cloud == cloud)
                and (region is None or o.region == region) and (zone is None or o.zone == zone)
                and (gpu_count is None or o.gpu_count == gpu_count)
                and (instance_type is None or o.instance_type == instance_type)]

    def cheapest(self, gpu: str, *, cloud: str | None = None, region: str | None = None, spot: bool = False,
                 gpu_count: int | None = None) -> Offering:
        """The cheapest matching offering; UserError when nothing matches, saying what would."""
        hits = self.query(gpu=gpu, cloud=cloud, region=region, spot=spot, gpu_count=gpu_count)
        if hits and hits[0].price(spot) is not None:
            return hits[0]
        wanted = " ".join(filter(None, [f"{gpu_count}x" if gpu_count else None, gpu,
                                        "spot" if spot else "on-demand", f"in {cloud}" if cloud else None,
                                        region]))
        elsewhere = self.query(gpu=gpu, spot=spot)
        places = sorted({f"{o.cloud}/{o.region} ({o.gpu_count}x)" for o in elsewhere})
        fix = ("offered in: " + ", ".join(places) if places
               else f"no {'spot ' if spot else ''}offering of {gpu} in this catalog")
        raise UserError(f"no offering matches {wanted}", field="gpu", value=gpu, fix=fix)

    def _check_cloud(self, cloud: str) -> str:
        c = cloud.strip().lower()
        if c not in self._regions:
            raise UserError("unknown cloud", field="cloud", value=cloud,
                            fix=did_you_mean(c, self._regions) or f"choose from {', '.join(self.clouds())}")
        return c

    def _check_region(self, region: str, cloud: str | None) -> str:
        return _known("region", region.strip().lower(), region, self.regions(cloud), cloud)

    def _check_zone(self, zone: str, region: str | None) -> str:
        return _known("zone", zone.strip(), zone, self.zones(region), region)


def _known(field: str, key: str, given: str, known: list[str], scope: str | None) -> str:
    """`key` if it is one of `known`, else a UserError naming the scope and the closest name."""
    if key not in known:
        where = f" in {scope}" if scope else ""
        raise UserError(f"unknown {field}{where}", field=field, value=given,
                        fix=did_you_mean(key, known) or f"choose from {', '.join(known) or '(none)'}")
    return key


def _sort_key(o: Offering, spot: bool) -> tuple[float, float, str, str, str, str]:
    price = o.price(spot)
    per_gpu = o.price_per_gpu(spot)
    return (math.inf if price is None else price, math.inf if per_gpu is None else per_gpu,
            o.cloud, o.region, o.zone or "", o.instance_type)
