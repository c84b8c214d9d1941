"""The launch plan: every zone a replica of this spec may go to, priced, and why the others are left out.

Each `resources` candidate is expanded to zone-level locations (region-level where the catalog has no zones,
e.g. Azure). Clouds in the catalog are priced from its offerings: the cheapest instance type there that
matches the accelerator, count, cpus, memory and instance type. Clouds outside the catalog that have a
provider (`local`) are priced by `Provider.price` over `Provider.locations`.

Where a candidate names no cloud it means every enabled cloud, as in SkyPilot. `local` takes part in such an
open candidate only when it asks for no accelerator and no instance type: this machine has no GPU or cloud
machine to give, so such a request lands on `local` only when the spec says `cloud: local` (then both are
accepted and not enforced, which lets GPU specs be rehearsed locally; the replica still sees
`SKYPILOT_NUM_GPUS_PER_NODE`). The shipped catalog lists GPU instance types only, so a CPU-only spec can run
on `local` alone.

Order: `ordered` keeps the spec's preference (locations of one item cheapest first), `any_of` is cheapest
first, both by the price of the candidate's own mode (spot for `use_spot`, else on-demand).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from providers.base import Location, Provider
from providers.registry import get_provider, provider_names
from skyctl.catalog import Catalog, Offering, load_catalog
from skyctl.errors import UserError, did_you_mean
from skyctl.serve.types import Candidate, Excluded
from skyctl.spec import Resources, ServiceSpec
from skyctl.spec.location import LOCAL_CLOUD

_MAX_REASONS = 8  # reasons quoted in the all-excluded error; `serve validate` shows every one


@dataclass
class LaunchPlan:
    """Candidates in preference order (`rank[i]`: index of the spec's `resources` item for `ordered`, else 0)
    and the places left out."""

    candidates: list[Candidate]
    excluded: list[Excluded]
    ordered: bool = False
    rank: list[int] = field(default_factory=list)

    def ranked(self, spot: bool) -> list[Candidate]:
        """Candidates that have a price in this mode, best first: preference order for `ordered`, then
        cheapest in this mode (the plan's own order breaks ties)."""
        order = sorted(range(len(self.candidates)),
                       key=lambda i: (self.rank[i], _price_key(self.candidates[i].price(spot)), i))
        return [self.candidates[i] for i in order if self.candidates[i].price(spot) is not None]

    def locate(self, location: Location) -> Location:
        """A replica's location at the plan's level of detail, so placers recognise it: a plan may hold a
        region (Azure's catalog has no zones) while the instance there reports its zone."""
        known = {c.location for c in self.candidates}
        regional = Location(location.cloud, location.region)
        return regional if location not in known and regional in known else location


def launch_candidates(spec: ServiceSpec, *, providers: Mapping[str, Provider] | None = None,
                      catalog: Catalog | None = None, enabled_clouds: set[str] | None = None) -> LaunchPlan:
    """The plan for `spec`. `enabled_clouds` are those with working credentials (None: every cloud with a
    provider); `providers` price the clouds the catalog lacks (None: built from the registry on demand).
    Raises UserError on `resources` when no location is left."""
    planner = _Planner(spec, dict(providers or {}), catalog or load_catalog(),
                       set(enabled_clouds) if enabled_clouds is not None
                       else set(providers) if providers is not None else set(provider_names()))
    plan = planner.run()
    if not plan.candidates:
        reasons = [f"{e.where}: {e.reason}" for e in plan.excluded]
        more = f"; and {len(reasons) - _MAX_REASONS} more" if len(reasons) > _MAX_REASONS else ""
        raise UserError("no location can launch a replica: " + "; ".join(reasons[:_MAX_REASONS]) + more,
                        field="resources",
                        fix="enable a cloud that offers it (`skyctl check`), or change the accelerator, "
                            "cpus/memory or the cloud/region/zone; `skyctl catalog` lists what is offered")
    return plan


def describe_candidate(c: Candidate) -> str:
    """One line for tables and logs: `aws/us-east-1/us-east-1a g6.xlarge L4:1 spot $0.4155/h, on-demand
    $0.8048/h`."""
    machine = " ".join(p for p in (c.instance_type, _gpus(c.resources)) if p) or "cpu"
    prices = ", ".join(f"{mode} {_money(price)}" for mode, price in
                       (("spot", c.spot_price), ("on-demand", c.ondemand_price)))
    return f"{c.location} {machine} {prices}"


def plan_to_dict(plan: LaunchPlan) -> dict[str, Any]:
    """JSON-ready for `serve validate --json` (keys only get added)."""
    return {
        "ordered": plan.ordered,
        "candidates": [{"cloud": c.location.cloud, "region": c.location.region, "zone": c.location.zone,
                        "location": str(c.location), "instance_type": c.instance_type,
                        "accelerators": c.resources.accelerators or None, "use_spot": c.resources.use_spot,
                        "spot_price": c.spot_price, "ondemand_price": c.ondemand_price, "rank": rank,
                        "description": describe_candidate(c)}
                       for c, rank in zip(plan.candidates, plan.rank, strict=True)],
        "excluded": [{"where": e.where, "reason": e.reason} for e in plan.excluded],
    }


class _Planner:
    """One plan computation: walks every spec candidate over its clouds, regions and zones."""

    def __init__(self, spec: ServiceSpec, providers: dict[str, Provider], catalog: Catalog,
                 enabled: set[str]) -> None:
        self.spec, self.providers, self.catalog, self.enabled = spec, providers, catalog, enabled
        self.fallback = spec.service.replica_policy.use_ondemand_fallback
        self.catalog_clouds = set(catalog.clouds())
        self.known = self.catalog_clouds | set(provider_names()) | set(providers)
        self.found: list[tuple[int, Candidate]] = []
        self.excluded: list[Excluded] = []

    def run(self) -> LaunchPlan:
        ordered = self.spec.task.ordered
        for index, r in enumerate(self.spec.task.resources):
            for cloud in self._clouds(r):
                if cloud in self.catalog_clouds:
                    self._catalog_cloud(r, cloud, index if ordered else 0)
                else:
                    self._provider_cloud(r, cloud, index if ordered else 0)
        entries = sorted(self.found, key=lambda e: (e[0], _price_key(e[1].price(e[1].resources.use_spot)),
                                                    _price_key(e[1].price(not e[1].resources.use_spot)),
                                                    str(e[1].location), e[1].instance_type or ""))
        seen: set[tuple[Any, ...]] = set()
        kept: list[tuple[int, Candidate]] = []
        for rank, c in entries:  # two items covering one zone with one machine: keep the better-ranked
            key = (c.location, c.instance_type, c.resources.accelerator, c.resources.accelerator_count)
            if key not in seen:
                seen.add(key)
                kept.append((rank, c))
        excluded = list(dict.fromkeys(self.excluded))
        return LaunchPlan([c for _, c in kept], excluded, ordered, [rank for rank, _ in kept])

    def _clouds(self, r: Resources) -> list[str]:
        """The clouds this candidate may use; named ones that cannot be used are excluded with the reason."""
        if r.cloud is not None:
            if r.cloud not in self.known:
                self._exclude(r.cloud, "skyctl has no provider and no catalog prices for this cloud yet")
                return []
            if r.cloud not in self.enabled:
                self._exclude(r.cloud, _NOT_ENABLED)
                return []
            return [r.cloud]
        out = []
        for cloud in sorted(self.known):
            if cloud not in self.enabled:
                self._exclude(cloud, _NOT_ENABLED)
            elif cloud == LOCAL_CLOUD and (r.accelerator or r.instance_type):
                self._exclude(cloud, f"{_gpus(r) or r.instance_type} requested: local replicas get no GPU "
                                     "or cloud machine unless the spec says `cloud: local`")
            else:
                out.append(cloud)
        return out

    def _catalog_cloud(self, r: Resources, cloud: str, rank: int) -> None:
        """Walk cloud -> region -> zone; a level with no match is excluded once, with the first unmet need."""
        if r.region is not None and r.region not in self.catalog.regions(cloud):
            self._exclude(f"{cloud}/{r.region}", "region not in the catalog"
                          + _hint(r.region, self.catalog.regions(cloud)))
            return
        scope = [o for o in self.catalog.offerings if o.cloud == cloud
                 and (r.region is None or o.region == r.region)]
        if r.zone is not None:
            zones = {o.zone for o in scope if o.zone}
            if r.zone not in zones:
                self._exclude(_where(cloud, r.region, r.zone), "zone not in the catalog"
                              + _hint(r.zone, zones))
                return
            scope = [o for o in scope if o.zone == r.zone]
        if not self._matches(scope, r, _where(cloud, r.region, r.zone)):
            return
        for region in sorted({o.region for o in scope}):
            in_region = [o for o in scope if o.region == region]
            if r.region is None and not self._matches(in_region, r, _where(cloud, region)):
                continue
            for zone in sorted({o.zone for o in in_region}, key=lambda z: z or ""):
                here = self._matches([o for o in in_region if o.zone == zone], r, _where(cloud, region, zone))
                if here:
                    best = min(here, key=lambda o: (_price_key(o.price(r.use_spot)),
                                                    _price_key(o.price(not r.use_spot)), o.instance_type))
                    self.found.append((rank, Candidate(Location(cloud, region, zone), r, best.instance_type,
                                                       best.price_spot, best.price_ondemand)))

    def _provider_cloud(self, r: Resources, cloud: str, rank: int) -> None:
        """A cloud priced by its provider (local): its locations, the requested zone if any."""
        provider = self.providers.get(cloud)
        if provider is None:
            provider = self.providers[cloud] = get_provider(cloud)
        locations = provider.locations(spot=r.use_spot)
        picked = [loc for loc in locations if (r.region is None or loc.region == r.region)
                  and (r.zone is None or loc.zone == r.zone)]
        if not picked:
            offered = ", ".join(str(loc) for loc in locations)
            self._exclude(_where(cloud, r.region, r.zone), f"not offered by the {cloud} provider "
                                                           f"(it offers {offered})")
        for loc in picked:
            spot, ondemand = (provider.price(r.instance_type, spot=s, region=loc.region, zone=loc.zone)
                              for s in (True, False))
            if (spot if r.use_spot else ondemand) is None and not (self.fallback and ondemand is not None):
                self._exclude(str(loc), f"no {'spot' if r.use_spot else 'on-demand'} price")
                continue
            self.found.append((rank, Candidate(loc, r, r.instance_type, spot, ondemand)))

    def _matches(self, offers: list[Offering], r: Resources, where: str) -> list[Offering]:
        """Offerings that fit `r` and have a price it can use; none -> exclude `where` with the first unmet
        need (accelerator, count, instance type, cpus, memory, price), naming what is offered instead."""
        need = _gpus(r) or r.instance_type or "a CPU-only machine"
        steps = [
            (r.accelerator is None and r.instance_type is None, lambda o: False,
             lambda _: "the catalog lists GPU instance types only (CPU-only replicas run on `cloud: local`)"),
            (r.accelerator is not None, lambda o: o.gpu == r.accelerator,
             lambda _: f"no {r.accelerator} offering"),
            (r.accelerator is not None, lambda o: o.gpu_count == r.accelerator_count,
             lambda left: f"no {need} offering (offered: {_list(f'{o.gpu}:{o.gpu_count}' for o in left)})"),
            (r.instance_type is not None, lambda o: o.instance_type == r.instance_type,
             lambda left: f"no instance type {r.instance_type}{' with ' + _gpus(r) if r.accelerator else ''} "
                          f"(offered: {_list(o.instance_type for o in left)})"),
            (r.cpus is not None, lambda o: r.cpus.allows(o.vcpus),
             lambda left: f"no {need} offering with cpus {r.cpus} "
                          f"(offered: {_list(f'{o.instance_type} {o.vcpus} vCPUs' for o in left)})"),
            (r.memory is not None, lambda o: r.memory.allows(o.memory_gb),
             lambda left: f"no {need} offering with memory {r.memory} GB "
                          f"(offered: {_list(f'{o.instance_type} {o.memory_gb:g} GB' for o in left)})"),
            (True, lambda o: o.price(r.use_spot) is not None
             or (self.fallback and o.price_ondemand is not None),
             lambda left: f"no {'spot' if r.use_spot else 'on-demand'} price for "
                          f"{_list(o.instance_type for o in left)}"),
        ]
        left = offers
        for active, keep, reason in steps:
            if not active:
                continue
            kept = [o for o in left if keep(o)]
            if not kept:
                self._exclude(where, reason(left))
                return []
            left = kept
        return left

    def _exclude(self, where: str, reason: str) -> None:
        self.excluded.append(Excluded(where, reason))


_NOT_ENABLED = "cloud not enabled: no working credentials (`skyctl check` says what is missing)"


def _where(cloud: str, region: str | None = None, zone: str | None = None) -> str:
    return "/".join(p for p in (cloud, region, zone) if p)


def _gpus(r: Resources) -> str:
    return f"{r.accelerator}:{r.accelerators[r.accelerator]}" if r.accelerator else ""


def _price_key(price: float | None) -> float:
    return math.inf if price is None else price


def _money(price: float | None) -> str:
    return "-" if price is None else f"${price:.4g}/h"


def _list(items: Iterable[str]) -> str:
    return ", ".join(sorted(set(items)))


def _hint(name: str, known: Iterable[str]) -> str:
    hint = did_you_mean(name, known)
    return f"; {hint}" if hint else ""
