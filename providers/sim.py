"""`sim`, the simulated cloud: zones whose spot capacity follows a trace, on a virtual clock, in memory.

The controller's own code runs against it (`skyctl serve simulate`), so it keeps the Provider contract
exactly; nothing runs and nothing is written to disk. Semantics, chosen to match the SpotHedge artifact:
- time is cut into ticks (`tick_seconds`, 30 s); capacity[zone][i] is the most spot replicas that may be
  alive in that zone during tick `start_tick + i` (the last value holds past the end of the array);
- when a zone's capacity drops below its live spot replicas, the newest ones are PREEMPTED, at the start
  of that tick (the artifact caps its alive count, and its READY count is a minimum over the cold-start
  window, which is the same as dropping the newest replicas first);
- launching spot into a full zone raises CapacityError; on-demand is always available;
- an instance is PENDING until `launched_at + cold_start`, RUNNING (= ready) after; no health probes.
Capacity counts every service's spot replicas: the capacity is the cloud's, not the service's.
"""

from __future__ import annotations

import bisect
import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence

from providers.base import CapacityError, Instance, LaunchSpec, Location, Provider, ProviderUserError, State
from skyctl.clock import Clock, VirtualClock
from skyctl.errors import UserError

DEFAULT_ZONES = ("sim-a", "sim-b", "sim-c")
DEFAULT_SPOT_PRICE = 1.0  # the paper's unit: costs come out as multiples of one spot replica-hour
ON_DEMAND_RATIO = 3.0
PREEMPTION_REASON = "sim-spot-capacity"
# us-east-1f -> us-east-1, us-central1-a -> us-central1, sim-a -> sim
_ZONE_SUFFIX = re.compile(r"(.+?)(?:-[a-z]|(?<=\d)[a-z])")


def region_of(zone: str) -> str:
    """The region a zone name belongs to (AWS and GCP spellings); the zone itself when it has no suffix."""
    m = _ZONE_SUFFIX.fullmatch(zone)
    return m.group(1) if m and m.group(1) else zone


class SimProvider(Provider):
    """Spot capacity from a trace, prices from a table, time from an injected clock; pure in memory."""

    name = "sim"

    def __init__(self, capacity: Mapping[str, Sequence[int]] | None = None, *, clock: Clock | None = None,
                 tick_seconds: float = 30.0, start_tick: int = 0, cold_start: float = 120.0,
                 spot_prices: Mapping[str, float] | None = None,
                 ondemand_prices: Mapping[str, float] | None = None, ondemand_ratio: float = ON_DEMAND_RATIO,
                 cloud: str = "sim", instance_type: str = "sim-gpu") -> None:
        """`capacity=None` gives three zones with unlimited spot. Prices are $/h per zone; a zone missing
        from `spot_prices` costs DEFAULT_SPOT_PRICE and on-demand defaults to `ondemand_ratio` x spot."""
        self.clock = clock or VirtualClock()
        self.tick_seconds, self.cold_start, self.cloud = tick_seconds, cold_start, cloud
        self.instance_type = instance_type
        self.zones = tuple(capacity) if capacity is not None else DEFAULT_ZONES
        if not self.zones:
            raise ProviderUserError("a simulated cloud needs at least one zone", provider=self.name,
                                    field="capacity", value={}, fix="give one capacity series per zone")
        self._trace = {z: list(capacity[z]) for z in self.zones} if capacity is not None else {}
        self._override: dict[str, int] = {}
        self._spot = {z: float((spot_prices or {}).get(z, DEFAULT_SPOT_PRICE)) for z in self.zones}
        od = ondemand_prices or {}
        self._od = {z: float(od.get(z, ondemand_ratio * self._spot[z])) for z in self.zones}
        self._t0, self._tick0 = self.clock.now(), start_tick
        self._synced = start_tick  # capacity drops up to this tick have been applied
        self._by_id: dict[str, Instance] = {}
        self._by_service: dict[str, list[Instance]] = {}
        self._by_key: dict[str, Instance] = {}
        self._live_spot: dict[str, list[Instance]] = {z: [] for z in self.zones}  # launch order per zone
        self._next = 0
        self._lock = threading.RLock()
        self._below: dict[tuple[str, int], list[int]] = {}  # (zone, n) -> trace ticks with capacity < n

    # -- the Provider interface ------------------------------------------------------------------------
    def check(self) -> tuple[bool, str | None]:
        return True, None

    def locations(self, *, spot: bool) -> list[Location]:
        return [Location(self.cloud, region_of(z), z) for z in self.zones]

    def price(self, instance_type: str | None, *, spot: bool, region: str | None = None,
              zone: str | None = None) -> float | None:
        table = self._spot if spot else self._od
        return table[zone] if zone in table else min(table.values())

    def launch(self, spec: LaunchSpec) -> Instance:
        with self._lock:
            self._sync()
            existing = self._by_key.get(spec.idempotency_key)
            if existing is not None:
                return self._view(existing)
            zone = self._place(spec)
            now = self.clock.now()
            self._next += 1
            inst = Instance(
                id=f"sim-{self._next:08d}", service=spec.service, replica_id=spec.replica_id,
                state=State.PENDING, spot=spec.spot, cloud=self.cloud, region=region_of(zone), zone=zone,
                instance_type=spec.instance_type or self.instance_type,
                price_per_hour=self.price(None, spot=spec.spot, zone=zone), launched_at=now,
                idempotency_key=spec.idempotency_key, tags=spec.all_tags())
            self._by_id[inst.id] = self._by_key[spec.idempotency_key] = inst
            self._by_service.setdefault(spec.service, []).append(inst)
            if spec.spot:
                self._live_spot[zone].append(inst)
            return self._view(inst)

    def list(self, service: str | None = None) -> list[Instance]:
        with self._lock:
            self._sync()
            pool = self._by_service.get(service, ()) if service is not None else self._by_id.values()
            now = self.clock.now()
            return [self._view(i, now) for i in pool]

    def status(self, ids: Iterable[str]) -> dict[str, Instance]:
        with self._lock:
            self._sync()
            return {i: self._view(self._by_id[i]) for i in ids if i in self._by_id}

    def terminate(self, ids: Iterable[str]) -> None:
        with self._lock:
            self._sync()
            for i in ids:
                inst = self._by_id.get(i)
                if inst is not None and inst.state.live:
                    self._end(inst, State.TERMINATED, self.clock.now(), None)

    def preempt(self, instance_id: str) -> Instance:
        with self._lock:
            self._sync()
            inst = self._by_id.get(instance_id)
            if inst is None:
                raise ProviderUserError("no simulated instance with this id", provider=self.name,
                                        field="instance_id", value=instance_id,
                                        fix="pick an id from `skyctl serve status`")
            if not inst.spot:
                raise ProviderUserError("only spot instances can be preempted", provider=self.name,
                                        field="instance_id", value=instance_id, fix="pick a spot replica")
            if inst.state.live:
                self._end(inst, State.PREEMPTED, self.clock.now(), "sim-preempt")
            return self._view(inst)

    # -- sim extras --------------------------------------------------------------------------------------
    def ready(self, instance_id: str) -> bool:
        """The prober's answer without HTTP: RUNNING means READY (cold start over, not gone)."""
        with self._lock:
            self._sync()
            inst = self._by_id.get(instance_id)
            return inst is not None and self._started(inst, self.clock.now()).state is State.RUNNING

    def next_change(self) -> float:
        """The earliest time after now at which this cloud changes by itself (a cold start ends, or a zone's
        trace capacity drops below its live spot replicas); until then, with no launch, terminate or
        override, every read returns what it returns now. `math.inf` when nothing is due."""
        with self._lock:
            self._sync()
            now, tick = self.clock.now(), self._tick()
            due = [i.launched_at + self.cold_start for i in self._by_id.values()
                   if i.state is State.PENDING and i.launched_at + self.cold_start > now]  # type: ignore[operator]
            for zone, live in self._live_spot.items():
                if live and zone not in self._override and zone in self._trace:
                    drops = self._drops_below(zone, len(live))
                    at = bisect.bisect_right(drops, tick)
                    if at < len(drops):
                        due.append(self._t0 + (drops[at] - self._tick0) * self.tick_seconds)
            return min(due, default=math.inf)

    def spot_capacity(self, zone: str) -> int | None:
        """Spot replicas the zone can hold now (None: unlimited)."""
        return self._capacity(self._zone(zone), self._tick())

    def set_spot_capacity(self, zone: str, capacity: int | None) -> None:
        """Override the trace for `zone` (None restores it); a drop below the live count preempts now."""
        with self._lock:
            self._sync()
            if capacity is None:
                self._override.pop(self._zone(zone), None)
            else:
                self._override[self._zone(zone)] = capacity
            self._drop_to(zone, self._capacity(zone, self._synced), self.clock.now())

    # -- internals ---------------------------------------------------------------------------------------
    def _tick(self) -> int:
        return self._tick0 + int((self.clock.now() - self._t0) // self.tick_seconds)

    def _capacity(self, zone: str, tick: int) -> int | None:
        if zone in self._override:
            return self._override[zone]
        series = self._trace.get(zone)
        if series is None:
            return None
        return series[min(max(tick, 0), len(series) - 1)]

    def _sync(self) -> None:
        """Apply every capacity drop between the last call and now, tick by tick, at the tick's start."""
        now_tick = self._tick()
        if now_tick <= self._synced:
            return
        for zone, live in self._live_spot.items():
            for tick in range(self._synced + 1, now_tick + 1):
                if not live:
                    break
                cap = self._capacity(zone, tick)
                if cap is not None and cap < len(live):
                    self._drop_to(zone, cap, self._t0 + (tick - self._tick0) * self.tick_seconds)
        self._synced = now_tick

    def _drops_below(self, zone: str, n: int) -> list[int]:
        """Ticks (indices of the zone's series) whose capacity is below `n`, ascending (cached)."""
        key = (zone, n)
        if key not in self._below:
            self._below[key] = [t for t, cap in enumerate(self._trace[zone]) if cap < n]
        return self._below[key]

    def _drop_to(self, zone: str, cap: int | None, when: float) -> None:
        live = self._live_spot[zone]
        while cap is not None and len(live) > cap:
            self._end(live[-1], State.PREEMPTED, when, PREEMPTION_REASON)

    def _end(self, inst: Instance, state: State, when: float, reason: str | None) -> None:
        inst.state, inst.ended_at, inst.reason = state, when, reason
        if inst.spot:
            self._live_spot[inst.zone].remove(inst)

    def _view(self, inst: Instance, now: float | None = None) -> Instance:
        """A copy for the caller (so it cannot edit our records), with PENDING -> RUNNING applied."""
        self._started(inst, now if now is not None else self.clock.now())
        out = object.__new__(Instance)  # 3x faster than copy.copy; list() is the simulator's hot path
        out.__dict__.update(inst.__dict__)
        out.tags = dict(inst.tags)
        return out

    def _started(self, inst: Instance, now: float) -> Instance:
        """PENDING -> RUNNING once the cold start is over (applied when read)."""
        if inst.state is State.PENDING and now >= inst.launched_at + self.cold_start:  # type: ignore[operator]
            inst.state = State.RUNNING
        return inst

    def _place(self, spec: LaunchSpec) -> str:
        if spec.region is not None and spec.region not in {region_of(z) for z in self.zones}:
            raise ProviderUserError("unknown simulated region", provider=self.name, field="region",
                                    value=spec.region, fix=f"use one of {self._regions()}")
        if spec.zone is not None:
            zone = self._zone(spec.zone)
        else:
            zones = [z for z in self.zones if spec.region in (None, region_of(z))]
            table = self._spot if spec.spot else self._od
            zone = min(zones, key=lambda z: (not self._has_room(z), table[z])) if spec.spot else \
                min(zones, key=table.__getitem__)
        if spec.spot and not self._has_room(zone):
            used = len(self._live_spot[zone])
            raise CapacityError(f"no spot capacity left ({used}/{self._capacity(zone, self._synced)} in use)",
                                provider=self.name, location=Location(self.cloud, region_of(zone), zone),
                                code="sim-spot-capacity")
        return zone

    def _has_room(self, zone: str) -> bool:
        cap = self._capacity(zone, self._synced)
        return cap is None or len(self._live_spot[zone]) < cap

    def _zone(self, zone: str) -> str:
        if zone not in self._live_spot:
            raise ProviderUserError("unknown simulated zone", provider=self.name, field="zone", value=zone,
                                    fix=f"use one of {', '.join(self.zones)}")
        return zone

    def _regions(self) -> str:
        return ", ".join(sorted({region_of(z) for z in self.zones}))


def catalog_prices(zones: Iterable[str], gpu: str,
                   gpu_count: int) -> tuple[dict[str, float], dict[str, float]]:
    """(spot, on-demand) $/h per zone for the cheapest catalog offering of `gpu_count` x `gpu` there.

    Zones the catalog does not price are left out, so SimProvider falls back to its defaults for them.
    """
    from skyctl.catalog.loader import load_catalog

    try:
        offers = load_catalog().query(gpu=gpu, gpu_count=gpu_count, spot=True)
    except UserError:  # a GPU the catalog has never heard of: no prices, not an error
        offers = []
    spot: dict[str, float] = {}
    ondemand: dict[str, float] = {}
    for zone in zones:
        hits = [o for o in offers if o.zone == zone]
        if hits:
            spot[zone] = hits[0].price_spot
            if hits[0].price_ondemand is not None:
                ondemand[zone] = hits[0].price_ondemand
    return spot, ondemand
