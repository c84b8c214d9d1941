"""Multi-region workloads A-E from a single-region request stream (IBM COS format or synthetic).

A: every request from a uniformly random region. B: per object one PUT region and one GET region.
C: all GETs from one region chosen for the whole trace, PUTs uniform. D: per object one PUT region,
GETs uniform. E: per object one of A-D, uniformly. Objects keep the size of their first request, and
an object whose first request is a GET gets a PUT at t = 0 (it existed before the trace); unlike the
original generator, an object that starts with a PUT does not get a second one.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from solvers.skystore.trace import Trace, make_trace

TYPES = ("A", "B", "C", "D", "E")
IBM_OPS = {"REST.GET.OBJECT": "GET", "REST.PUT.OBJECT": "PUT", "GET": "GET", "PUT": "PUT"}


@dataclass(frozen=True)
class Request:
    """One row of a single-region stream: time in ms, 'GET' or 'PUT', object key, bytes."""

    t_ms: int
    op: str
    key: str
    size: int


def parse_ibm(lines: Iterable[str]) -> list[Request]:
    """IBM COS trace lines `ms op objId [size] [begin end]`; only whole-object GET/PUT are kept.

    Raises ValueError naming the line for a malformed timestamp or size.
    """
    out = []
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if len(parts) < 3 or parts[1] not in IBM_OPS:
            continue
        try:
            t, size = int(parts[0]), int(parts[3]) if len(parts) > 3 else -1
        except ValueError as e:
            raise ValueError(f"line {n}: {line.strip()!r}: {e}") from None
        out.append(Request(t, IBM_OPS[parts[1]], parts[2], size))
    return out


# Share of GET-to-GET gaps per class, averaged over the 110 IBM COS traces
# (results/ibm_trace_stats_raw_stats.csv, per_get_time_diff_*): <1 s, 1 s-1 min, 1 min-1 h, 1-24 h, >24 h.
IBM_GAP_CLASSES = ((0.068, 0.01, 1.0), (0.150, 1.0, 60.0), (0.187, 60.0, 3600.0), (0.244, 3600.0, 86400.0),
                   (0.342, 86400.0, 7 * 86400.0))


def _size(rng: random.Random) -> int:
    u = rng.random()
    lo, hi = (2**10, 100 * 2**10) if u < 0.5 else (2**20, 10 * 2**20) if u < 0.97 else (2**30, 16 * 2**30)
    return int(lo * (hi / lo) ** rng.random())


def _ibm_gap_s(rng: random.Random) -> float:
    u = rng.random()
    for share, lo, hi in IBM_GAP_CLASSES:
        if u < share:
            return lo * (hi / lo) ** rng.random()
        u -= share
    return IBM_GAP_CLASSES[-1][2]


def synthetic(n_objects: int, days: float, seed: int, gaps: str = "ibm", mean_gaps_h=(1, 2, 6, 12, 24),
              put_share: float = 1 / 8) -> list[Request]:
    """Synthetic request streams, GET:PUT = 7:1 by default.

    `gaps="ibm"`: each object starts at a uniform time and its gaps are drawn from the IBM traces' gap
    classes (bursty and heavy-tailed, log-uniform inside a class). `gaps="poisson"`: the original
    synthetic generator's memoryless streams, mean gap per object drawn from `mean_gaps_h`.
    Sizes: 50% 1-100 KB, 47% 1-10 MB, 3% 1-16 GB, log-uniform inside each class (the original's
    1 GB-1 TB class is cut to 16 GB so that a handful of objects do not decide every total).
    """
    if gaps not in ("ibm", "poisson"):
        raise ValueError(f"unknown gap model {gaps!r}; use ibm or poisson")
    rng = random.Random(seed)
    horizon = days * 86400_000
    out = []
    for k in range(n_objects):
        size = _size(rng)
        if gaps == "poisson":
            mean_ms = rng.choice(mean_gaps_h) * 3600_000
            step = lambda mean_ms=mean_ms: rng.expovariate(1 / mean_ms)  # noqa: E731
            t = step()
        else:
            step = lambda: _ibm_gap_s(rng) * 1000  # noqa: E731
            t = rng.random() * horizon
        while t < horizon:
            out.append(Request(int(t), "PUT" if rng.random() < put_share else "GET", f"obj{k}", size))
            t += step()
    out.sort(key=lambda q: q.t_ms)
    return out


def with_initial_puts(reqs: list[Request]) -> list[Request]:
    """Fix each object's size to its first known size and give GET-first objects a PUT at t = 0."""
    first: dict[str, Request] = {}
    sizes: dict[str, int] = {}
    for q in reqs:
        first.setdefault(q.key, q)
        if q.size >= 0:
            sizes.setdefault(q.key, q.size)
    seeds = [Request(0, "PUT", k, sizes.get(k, 0)) for k, q in first.items() if q.op == "GET"]
    rows = seeds + [Request(q.t_ms, q.op, q.key, sizes.get(q.key, 0)) for q in reqs]
    rows.sort(key=lambda q: q.t_ms)  # stable: a seed PUT at 0 precedes a GET at 0
    return rows


def assign_regions(reqs: list[Request], kind: str, regions: list[str], seed: int) -> list[tuple]:
    """Rows (timestamp_ms, op, region, key, size) of workload `kind` over `regions`, time-sorted."""
    if kind not in TYPES:
        raise ValueError(f"unknown workload type {kind!r}; use one of {', '.join(TYPES)}")
    rng = random.Random(seed)
    get_region_c = rng.choice(regions)
    per_obj: dict[str, tuple[str, str, str]] = {}  # key -> (type, put region, get region)
    rows = []
    for q in with_initial_puts(reqs):
        spec = per_obj.get(q.key)
        if spec is None:
            k = rng.choice("ABCD") if kind == "E" else kind
            spec = per_obj[q.key] = (k, rng.choice(regions), rng.choice(regions))
        k, put_r, get_r = spec
        if k == "A" or (k == "C" and q.op == "PUT") or (k == "D" and q.op == "GET"):
            region = rng.choice(regions)
        elif k == "C":
            region = get_region_c
        else:
            region = put_r if q.op == "PUT" else get_r
        rows.append((q.t_ms, q.op, region, q.key, q.size))
    return rows


def augment(rows: list[tuple]) -> list[tuple]:
    """Append time_to_next_access and time_to_next_access_same_reg (absolute ms, -1 if none)."""
    nxt: dict[str, int] = {}
    nxt_reg: dict[tuple[str, str], int] = {}
    out = [()] * len(rows)
    for i in range(len(rows) - 1, -1, -1):
        t, _, region, key, _ = rows[i]
        out[i] = (*rows[i], nxt.get(key, -1), nxt_reg.get((key, region), -1))
        nxt[key] = t
        nxt_reg[(key, region)] = t
    return out


def to_trace(rows: list[tuple], regions: list[str]) -> Trace:
    """Rows from `assign_regions` as a solver trace (timestamps ms -> s), without a CSV round trip."""
    rid = {r: i for i, r in enumerate(regions)}
    oid: dict[str, int] = {}
    return make_trace([r[0] / 1000.0 for r in rows], [r[1] == "PUT" for r in rows], [rid[r[2]] for r in rows],
                      [oid.setdefault(r[3], len(oid)) for r in rows], [r[4] for r in rows], regions)
