"""Prices as dense arrays over integer region ids, and the break-even arithmetic.

Units are fixed so that every module agrees: a month is 30 days, a GB is 2^30 bytes, trace time is
seconds. `time_scale` compresses storage time: with scale k one trace second costs as much storage as
k real seconds (k = 90 reproduces the original simulator, which charged 3 months per trace day).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

GB = float(2**30)
MONTH_S = 30 * 86400.0
HOUR_S = 3600.0
INF = math.inf


def t_even(egress_gb: float, storage_gb_month: float, time_scale: float = 1.0) -> float:
    """Break-even time in trace seconds: keeping a replica this long costs exactly one re-fetch."""
    if storage_gb_month <= 0:
        return INF
    return egress_gb / storage_gb_month * MONTH_S / time_scale


@dataclass(frozen=True)
class Prices:
    """Prices for regions 0..n-1 (names kept only for reporting).

    `storage[r]` is $/GB-month, `egress[s][d]` $/GB (diagonal 0), `get`/`put` $ per request.
    """

    names: tuple[str, ...]
    storage: tuple[float, ...]
    egress: tuple[tuple[float, ...], ...]
    get: tuple[float, ...]
    put: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.names)

    def median_egress_into(self, dst: int) -> float:
        """The N used when a replica has no other copy to size its TTL against."""
        vals = [self.egress[s][dst] for s in range(self.n) if s != dst]
        return statistics.median(vals) if vals else 0.0

    def t_even(self, src: int, dst: int, time_scale: float = 1.0) -> float:
        """T_even of a replica in `dst` whose next miss would be served from `src` (-1: median source)."""
        n = self.median_egress_into(dst) if src < 0 else self.egress[src][dst]
        return t_even(n, self.storage[dst], time_scale)

    def rates(self, time_scale: float) -> list[float]:
        """Storage $ per byte per trace second, per region."""
        return [s * time_scale / MONTH_S / GB for s in self.storage]

    def egress_per_byte(self) -> list[list[float]]:
        return [[v / GB for v in row] for row in self.egress]


def uniform_prices(names: list[str], storage: float, egress: float) -> Prices:
    """A symmetric price set, handy for tests and hand-computed examples."""
    n = len(names)
    eg = tuple(tuple(0.0 if s == d else egress for d in range(n)) for s in range(n))
    zeros = (0.0,) * n
    return Prices(tuple(names), (storage,) * n, eg, zeros, zeros)
