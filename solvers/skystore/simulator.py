"""Replay a trace against one policy and account storage, egress and request charges.

Semantics (see docs/store-simulator.md): a write lands in the writer's region and deletes every
replica of the previous version (S3 overwrite); with a base region that copy is permanent, without
one it gets a TTL and the last copy is kept alive (resurrected as permanent). A read is served by the
cheapest live replica (egress, then lowest region id); a remote read is a miss, may leave a replica in
the reader's region, and is charged once. Expiry is lazy: an expired replica is removed, and its
storage charged up to its expiry, at the object's next access or at the end of the trace. Transfers
take no time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from solvers.skystore.costmodel import INF, Prices
from solvers.skystore.policies import Policy
from solvers.skystore.trace import Trace

PROGRESS_EVERY = 1 << 16


@dataclass
class SimResult:
    policy: str
    storage_cost: float
    network_cost: float
    request_cost: float
    hits: int
    misses: int
    bytes_moved: int
    curve: list[tuple[float, float]] = field(default_factory=list)  # (trace seconds, cumulative $)

    @property
    def total_cost(self) -> float:
        return self.storage_cost + self.network_cost + self.request_cost


class _Run:
    """The mutable state of one replay; methods are the non-hot paths."""

    def __init__(self, trace: Trace, prices: Prices, policy: Policy, time_scale: float, base: bool) -> None:
        self.policy, self.base = policy, base
        self.rate = prices.rates(time_scale)
        self.eg = prices.egress_per_byte()
        self.reps: list[dict[int, list[float]] | None] = [None] * trace.n_objects
        self.osize = [0] * trace.n_objects
        self.base_of = [-1] * trace.n_objects
        self.storage = 0.0

    def charge_until(self, o: int, now: float) -> None:
        """Delete every replica of `o` at `now` (an overwrite), charging storage up to then."""
        rp, size, rate = self.reps[o], self.osize[o], self.rate
        if not rp:
            return
        latest = max(rp, key=lambda s: rp[s][1])
        for s, (start, exp) in rp.items():
            end = now if (exp >= now or s == latest) else exp  # the last copy never lapses
            self.storage += size * rate[s] * (end - start)
        if self.policy.tracks_cache:
            for s in rp:
                self.policy.dropped(o, s)

    def expire(self, o: int, rp: dict[int, list[float]], now: float) -> None:
        """Drop lapsed replicas; if all lapsed, the latest-expiring one stays as a permanent copy."""
        dead = [s for s, v in rp.items() if v[1] < now]
        if len(dead) == len(rp):
            keep = max(dead, key=lambda s: rp[s][1])
            rp[keep][1] = INF
            dead.remove(keep)
        size, rate = self.osize[o], self.rate
        for s in dead:
            start, exp = rp.pop(s)
            self.storage += size * rate[s] * (exp - start)
            if self.policy.tracks_cache:
                self.policy.dropped(o, s)

    def ttl_for(self, rp: dict[int, list[float]], r: int, now: float, o: int) -> float:
        """TTL of a replica in r, sized against the other copy most likely to serve its next miss."""
        pol = self.policy
        if pol.const_ttl is not None:
            return pol.const_ttl
        best = None
        for s, v in rp.items():
            if s == r:
                continue
            t = pol.ttl(s, r, now, o)
            if best is None or v[1] == INF or (t < best and v[1] >= now + t):
                best = t
        return pol.ttl(-1, r, now, o) if best is None else best

    def evict_victims(self, victims: list[int], r: int, now: float) -> None:
        for vo in victims:
            rp = self.reps[vo]
            if rp and r in rp and len(rp) > 1 and self.base_of[vo] != r:
                start, _ = rp.pop(r)
                self.storage += self.osize[vo] * self.rate[r] * (now - start)

    def accrued_storage(self, now: float) -> float:
        """Storage charged so far plus what live replicas have accrued (for cost-over-time curves)."""
        extra = 0.0
        for o, rp in enumerate(self.reps):
            if rp:
                for s, (start, exp) in rp.items():
                    extra += self.osize[o] * self.rate[s] * (min(now, exp) - start)
        return self.storage + extra


def simulate(trace: Trace, prices: Prices, policy: Policy, *, time_scale: float = 1.0, base: bool = True,
             horizon: float | None = None, progress: Callable[[int], None] | None = None,
             curve_points: int = 0) -> SimResult:
    """Replay `trace` under `policy`. `horizon` (trace seconds) extends storage past the last request."""
    run = _Run(trace, prices, policy, time_scale, base)
    reps, osize, base_of, eg = run.reps, run.osize, run.base_of, run.eg
    get, put = prices.get, prices.put
    pol = policy
    const_ttl, observes, needs_alt, tracks = pol.const_ttl, pol.observes, pol.needs_alt, pol.tracks_cache
    T, W, R = trace.t.tolist(), trace.write.tolist(), trace.region.tolist()
    OB, S = trace.obj.tolist(), trace.size.tolist()
    n = len(T)
    marks = {n * k // curve_points - 1 for k in range(1, curve_points + 1)} if curve_points else set()
    net = req = 0.0
    hits = misses = moved = 0
    curve: list[tuple[float, float]] = []
    for i in range(n):
        now, r, o = T[i], R[i], OB[i]
        if W[i]:
            run.charge_until(o, now)
            sz = S[i]
            osize[o] = sz
            rp = reps[o] = {}
            targets = pol.write_targets(r)
            b = targets[0]
            base_of[o] = b if base else -1
            for x in targets:
                if x != r:
                    net += sz * eg[r][x]
                    moved += sz
                req += put[x]
                exp = INF if (base and x == b) else now + (const_ttl if const_ttl is not None
                                                          else pol.write_ttl(i, o, x, now))
                rp[x] = [now, exp]
        else:
            rp = reps[o]
            for v in rp.values():
                if v[1] < now:
                    run.expire(o, rp, now)
                    break
            if observes:
                pol.observe_read(o, r, S[i], now)
            v = rp.get(r)
            if v is not None:
                hits += 1
                req += get[r]
                if base_of[o] != r:
                    if tracks:
                        pol.touched(o, r)
                    if needs_alt:
                        alt, best = -1, INF
                        for s in rp:
                            if s != r and eg[s][r] < best:
                                alt, best = s, eg[s][r]
                        if alt >= 0 and not pol.keep_on_hit(i, o, r, now, alt):
                            run.storage += osize[o] * run.rate[r] * (now - v[0])
                            del rp[r]
                    elif const_ttl is None:
                        v[1] = now + run.ttl_for(rp, r, now, o)
                    elif const_ttl != INF:
                        v[1] = now + const_ttl
            else:
                misses += 1
                src, best = -1, INF
                for s in rp:
                    if eg[s][r] < best:
                        src, best = s, eg[s][r]
                sz = osize[o]
                net += sz * best
                moved += sz
                req += get[src]
                if pol.place(i, o, r, now, src):
                    ttl = run.ttl_for(rp, r, now, o)
                    if ttl > 0:
                        rp[r] = [now, now + ttl]
                        req += put[r]
                        if tracks:
                            run.evict_victims(pol.placed(o, r, sz), r, now)
        if i in marks:
            curve.append((now, run.accrued_storage(now) + net + req))
        if progress is not None and i % PROGRESS_EVERY == PROGRESS_EVERY - 1:
            progress(i + 1)
    end = max(T[-1] if n else 0.0, horizon or 0.0)
    for o, rp in enumerate(reps):
        if rp:
            run.charge_until(o, end)
    if progress is not None:
        progress(n)
    return SimResult(pol.name, run.storage, net, req, hits, misses, moved, curve)
