"""The omniscient optimum: the cheapest spot/on-demand schedule that keeps `target` replicas READY.

The planner sees the whole capacity trace. Decision: how many spot replicas are alive in each zone at each
tick (`alive[z, t] <= capacity[z, t]`) and how many on-demand ones (`ondemand[t]`, always available). A
replica is billed for every tick it is alive, launch tick included, and is READY once it has been alive for
`cold` ticks (launched at t, READY at t + cold). When a count drops, the newest replicas go first (what a
capacity drop does in the paper's simulator, and the best choice for a planner), so the READY replicas of a
zone at t are `min(alive[z, t-cold .. t])`. Nothing runs before tick 0, so the first `cold` ticks cannot be
covered; availability and the target constraint start at tick `cold`, as in the artifact.

ILP (PuLP, HiGHS through `solvers.melange.backend`):
    min  sum_t tick_h * (sum_z spot_price[z] * alive[z,t] + od_price * ondemand[t])
    s.t. ready[z,t] <= alive[z,t-k], ready_od[t] <= ondemand[t-k]     for k = 0..cold
         sum_z ready[z,t] + ready_od[t] >= target                       for t >= cold
         0 <= alive[z,t] <= min(capacity[z,t], target) integer, 0 <= ondemand[t] <= target integer
More than `target` alive in one zone never helps (READY counts are minima of alive counts, and `target`
READY are enough), which keeps the bounds tight.

Speed: ticks are merged into blocks over which every zone's capacity stays constant (runs of the trace's
own points); the plan is held constant inside a block except near its ends: the cold+1 ticks after a
change (launch on a rise, release what it replaces once READY) and the `cold` ticks before one (pre-warm
before a drop) stay single ticks. That this loses nothing is checked, not proven: `tests/solvers` compares
it with the per-tick model on random instances and with brute force over every schedule of tiny ones, and
`bench/spot_optimal.py --check` on real windows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pulp

from solvers.melange.backend import resolve_solver, run
from solvers.melange.errors import ProblemError
from solvers.melange.ilp import _var as new_var  # PuLP 3.3+/older compatible variable creation

ON_DEMAND_RATIO = 3.0  # the paper's on-demand price / spot price


@dataclass(frozen=True)
class SpotProblem:
    capacity: np.ndarray  # int (zones, ticks): max spot replicas alive per zone per tick
    target: int = 3
    cold: int = 4  # ticks from launch to READY (120 s at 30 s ticks)
    spot_price: tuple[float, ...] | None = None  # $/h per zone; default 1.0 each
    ondemand_price: float | None = None  # $/h; default ON_DEMAND_RATIO x the cheapest spot price
    tick_seconds: float = 30.0

    def prices(self) -> tuple[np.ndarray, float]:
        n_zones = self.capacity.shape[0]
        spot = np.array(self.spot_price if self.spot_price is not None else [1.0] * n_zones, dtype=float)
        if spot.shape != (n_zones,):
            raise ProblemError("one spot price per zone", field="spot_price", value=list(spot))
        od = self.ondemand_price if self.ondemand_price is not None else ON_DEMAND_RATIO * float(spot.min())
        return spot, float(od)


@dataclass(frozen=True)
class Schedule:
    """A plan and its scores; `alive`/`ondemand` are per tick, cost in $ (price units x hours)."""

    alive: np.ndarray  # int (zones, ticks)
    ondemand: np.ndarray  # int (ticks,)
    ready: np.ndarray  # int (ticks,): READY replicas, spot + on-demand
    cost: float
    ondemand_cost: float  # all-on-demand baseline: target on-demand replicas for every tick
    availability: float  # fraction of ticks >= cold with ready >= target
    status: str = "evaluated"
    seconds: float = 0.0

    @property
    def cost_pct(self) -> float:
        return 100.0 * self.cost / self.ondemand_cost


def ready_counts(alive: np.ndarray, cold: int) -> np.ndarray:
    """READY replicas per row and tick: the minimum of the last cold+1 alive counts (0 before tick `cold`)."""
    alive = np.atleast_2d(alive)
    out = np.zeros_like(alive)
    for t in range(cold, alive.shape[1]):
        out[:, t] = alive[:, t - cold:t + 1].min(axis=1)
    return out


def evaluate(problem: SpotProblem, alive: np.ndarray, ondemand: np.ndarray, *, status: str = "evaluated",
             seconds: float = 0.0) -> Schedule:
    """Score a plan (clipped to capacity, as the trace would preempt the excess): cost and availability."""
    alive = np.minimum(np.asarray(alive, dtype=np.int64), problem.capacity)
    ondemand = np.asarray(ondemand, dtype=np.int64)
    spot_price, od_price = problem.prices()
    hours = problem.tick_seconds / 3600.0
    ready = ready_counts(alive, problem.cold).sum(axis=0) + ready_counts(ondemand, problem.cold)[0]
    n = problem.capacity.shape[1]
    counted = ready[problem.cold:]
    return Schedule(
        alive=alive, ondemand=ondemand, ready=ready,
        cost=hours * float(spot_price @ alive.sum(axis=1) + od_price * ondemand.sum()),
        ondemand_cost=hours * od_price * problem.target * n,
        availability=float((counted >= problem.target).mean()) if counted.size else 1.0,
        status=status, seconds=seconds)


def blocks(capacity: np.ndarray, cold: int) -> list[tuple[int, int]]:
    """[start, end) tick ranges over which the plan may be held constant without losing optimality.

    A run of constant capacity (every zone) keeps its first cold+1 ticks (launch at a rise, then release
    what it replaces once READY) and its last `cold` ticks (pre-warm before a drop) as single ticks.
    """
    change = np.flatnonzero((np.diff(capacity, axis=1) != 0).any(axis=0)) + 1
    starts = [0, *change.tolist()]
    ends = [*starts[1:], capacity.shape[1]]
    out: list[tuple[int, int]] = []
    for s, e in zip(starts, ends, strict=True):
        head = min(e, s + cold + 1)
        tail = max(head, e - cold)
        out.extend((t, t + 1) for t in range(s, head))
        if head < tail:
            out.append((head, tail))
        out.extend((t, t + 1) for t in range(tail, e))
    return out


def solve(problem: SpotProblem, *, solver: str | None = None, time_limit: float = 60.0,
          aggregate: bool = True) -> Schedule:
    """The cheapest schedule keeping `target` READY from tick `cold` on (proven optimal unless timed out)."""
    cap = np.asarray(problem.capacity, dtype=np.int64)
    if cap.ndim != 2 or cap.shape[1] <= problem.cold or (cap < 0).any():
        raise ProblemError("capacity must be a (zones, ticks) array of counts >= 0, longer than cold",
                           field="capacity", value=cap.shape)
    if problem.target < 1 or problem.cold < 0:
        raise ProblemError("target must be >= 1 and cold >= 0", field="target", value=problem.target)
    spot_price, od_price = problem.prices()
    hours = problem.tick_seconds / 3600.0
    n_zones, n = cap.shape
    spans = blocks(cap, problem.cold) if aggregate else [(t, t + 1) for t in range(n)]
    block_of = np.repeat(np.arange(len(spans)), [e - s for s, e in spans])
    model = pulp.LpProblem("spot_optimum", pulp.LpMinimize)
    # rows 0..n_zones-1: spot zones; row n_zones: on-demand
    bound = np.vstack([np.minimum(cap, problem.target), np.full((1, n), problem.target)])
    price = [*spot_price.tolist(), od_price]
    alive = [[new_var(model, f"a{z}_{b}", 0, int(bound[z, s]), pulp.LpInteger)
              for b, (s, _) in enumerate(spans)] for z in range(n_zones + 1)]
    model += pulp.lpSum(price[z] * hours * (e - s) * alive[z][b]
                        for z in range(n_zones + 1) for b, (s, e) in enumerate(spans))
    # READY in a block = min of alive over [start - cold, start] (alive is constant after the start)
    for b, (s, _) in enumerate(spans):
        if s < problem.cold:
            continue
        ready = []
        for z in range(n_zones + 1):
            r = new_var(model, f"r{z}_{b}", 0, problem.target, pulp.LpContinuous)
            for k in sorted({int(block_of[t]) for t in range(s - problem.cold, s + 1)}):
                model += r <= alive[z][k]
            ready.append(r)
        model += pulp.lpSum(ready) >= problem.target
    t0 = time.perf_counter()
    result = run(model, resolve_solver(solver), time_limit)
    if result.objective is None:
        raise ProblemError(f"no schedule found ({result.status})", field="time_limit", value=time_limit,
                           fix="allow more time")
    plan = np.array([[round(alive[z][b].value()) for b in range(len(spans))] for z in range(n_zones + 1)])
    per_tick = plan[:, block_of]
    return evaluate(problem, per_tick[:n_zones], per_tick[n_zones], status=result.status,
                    seconds=time.perf_counter() - t0)
