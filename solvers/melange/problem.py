"""The inputs of a Mélange solve: GPU types with prices and throughput tables, bucket rates, slice factor.

Everything is an immutable dataclass so that a solve can never mutate the caller's data (the reference code
adds `loads` keys to its input dict). Tables are indexed [input bucket][output bucket].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from solvers.melange.errors import ProblemError

MODES = ("aggregated", "binary", "continuous")
FRACTION_TOLERANCE = 1e-4  # histograms copied from notebooks are rounded to ~8 digits


@dataclass(frozen=True)
class GpuType:
    """One purchasable GPU type: `tputs[i][k]` req/s one GPU sustains for bucket (i, k); 0 = cannot serve.

    A spot offering of the same GPU is its own `GpuType` (e.g. `A10G:spot`) with `spot=True`.
    """

    name: str
    cost: float  # $/h per GPU
    tputs: tuple[tuple[float, ...], ...]
    max_count: int | None = None
    spot: bool = False


@dataclass(frozen=True)
class Problem:
    """GPU types, request rate per bucket (req/s) and the slice factor of the integer formulations.

    `min_on_demand_fraction` (A): on-demand GPUs must take at least A of every bucket's traffic, so that
    they alone still carry that share if every spot GPU is preempted at once. Edges only label buckets.
    """

    gpus: tuple[GpuType, ...]
    rates: tuple[tuple[float, ...], ...]
    slice_factor: int = 8
    min_on_demand_fraction: float = 0.0
    input_edges: tuple[float, ...] | None = None
    output_edges: tuple[float, ...] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rates), len(self.rates[0]) if self.rates else 0

    def buckets(self) -> list[tuple[int, int]]:
        """Buckets with traffic; zero-rate buckets get no variables at all."""
        return [(i, k) for i, row in enumerate(self.rates) for k, r in enumerate(row) if r > 0]

    def eligible(self, j: int, b: tuple[int, int]) -> bool:
        return self.gpus[j].tputs[b[0]][b[1]] > 0

    def load_per_rate(self, j: int, b: tuple[int, int]) -> float:
        """GPUs of type j needed per req/s of bucket b (the reference stores this as 1/T)."""
        return 1.0 / self.gpus[j].tputs[b[0]][b[1]]

    def cost_of(self, counts: dict[int, int]) -> float:
        """$/h of `counts` (type index -> number of GPUs)."""
        return sum(g.cost * counts[j] for j, g in enumerate(self.gpus))

    def bucket_label(self, b: tuple[int, int]) -> str:
        """`input 100-250 x output 25-100 tokens [2][1]` when edges are known, else `[2][1]`."""
        idx = f"[{b[0]}][{b[1]}]"
        if self.input_edges is None or self.output_edges is None:
            return f"bucket {idx} (row = input bucket, column = output bucket)"
        return (f"input {_range(self.input_edges, b[0])} x output {_range(self.output_edges, b[1])} "
                f"tokens {idx}")


@dataclass(frozen=True)
class SolveOptions:
    """How to solve: formulation, backend (`highs`, `cbc`, or None = HiGHS when installed) and time limit."""

    mode: str = "aggregated"
    solver: str | None = None
    time_limit: float = 60.0


def bucket_rates(fractions: tuple[tuple[float, ...], ...], total_rate: float, *, headroom: float = 0.0,
                 poisson_z: float | None = None) -> tuple[tuple[float, ...], ...]:
    """Per-bucket req/s from a histogram of fractions and the total rate, with optional burst headroom.

    `headroom` h sizes for (1+h) times the rate; `poisson_z` z then adds z*sqrt(r_b) per bucket, the
    normal approximation of a Poisson quantile (z=1.645 is the 95th percentile of each bucket's rate).
    """
    total = sum(map(sum, fractions))
    if abs(total - 1.0) > FRACTION_TOLERANCE:
        raise ProblemError(f"workload fractions sum to {total:.6g}, not 1", field="workload",
                           fix="normalise the histogram (divide every cell by the total) or give counts")
    if headroom < 0:
        raise ProblemError("must be >= 0", field="headroom", value=headroom)
    if poisson_z is not None and poisson_z < 0:
        raise ProblemError("must be >= 0", field="poisson_z", value=poisson_z)
    scale = total_rate * (1.0 + headroom)

    def one(p: float) -> float:
        r = p * scale
        return r + poisson_z * math.sqrt(r) if poisson_z and r > 0 else r

    return tuple(tuple(one(p) for p in row) for row in fractions)


def _range(edges: tuple[float, ...], i: int) -> str:
    lo = 0 if i == 0 else edges[i - 1]
    return f"{lo:g}-{edges[i]:g}"
