"""`skyctl serve simulate`: the real controller against the `sim` provider, on windows of a spot trace.

For each policy (a service spec, sim_policies.py) and each window, one `Controller` ticks every 30 s of a
`VirtualClock` over a `SimCloud` whose spot capacity is the window: the autoscaler, placer, replica
manager and launch code are production code; only the state backend (`MemoryStore`, no SQLite) and the
prober (`SimProber`, the provider's `ready()` instead of HTTP) are the simulation's. `optimal` is the
omniscient ILP (solvers/spot/optimal.py), scored by the same rules. Windows run in parallel processes.

Scoring (the SpotHedge artifact's): availability = share of ticks from the cold-start'th on (before it no
replica can be READY) with >= target READY replicas, READY as the controller's rows say after the tick;
cost = replica-hours x the launch price, from the provider's launch to its end, as % of `target`
on-demand replicas for the whole window.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skyctl.clock import VirtualClock
from skyctl.errors import UserError
from skyctl.serve.config import ControllerConfig
from skyctl.serve.controller import Controller
from skyctl.serve.plan import LaunchPlan, launch_candidates
from skyctl.serve.sim_cloud import SimCloud, SimProber
from skyctl.serve.sim_policies import ALL_POLICIES, CONTROLLER_POLICIES, POLICIES, placer_factory, policy_spec
from skyctl.serve.sim_skip import calm_until, decisions_quiet_until, failures
from skyctl.serve.sim_store import QPS, MemoryStore
from skyctl.spec import ServiceSpec
from solvers.melange.errors import ProblemError
from solvers.spot.optimal import SpotProblem, solve
from solvers.spot.traces import PAPER_TRACES, SpotTrace, load_trace, paper_trace_dir

TICK_SECONDS = 30.0
START = 1_700_000_000.0  # virtual time of tick 0 (any value; a realistic one keeps logs readable)
UNLIMITED = 1_000  # what a 1 means in AWS 3's 0/1 trace, as the artifact's loader reads it
TRACES_ENV = "SKYCTL_TRACES_DIR"
# The controller's defaults (brief §8) except: no drain before terminate (the artifact releases at once),
# and a fixed launch concurrency so results do not depend on the machine's CPU count.
SIM_CONFIG = ControllerConfig(tick_seconds=TICK_SECONDS, drain_seconds=0.0, max_concurrent_launches=16)


@dataclass(frozen=True)
class Setup:
    target: int = 3
    hours: float = 24.0
    repeats: int = 10
    seed: int = 0
    cold_start: float = 120.0
    ondemand_ratio: float = 3.0

    @property
    def ticks(self) -> int:
        return int(self.hours * 3600 // TICK_SECONDS)

    @property
    def cold_ticks(self) -> int:
        return round(self.cold_start / TICK_SECONDS)


@dataclass
class Run:
    """One policy on one window: per-tick READY and $/h, and the totals."""

    policy: str
    offset: int
    ready: np.ndarray  # READY replicas after each tick
    rate: np.ndarray  # $/h of everything alive during each tick
    cost: float
    ondemand_cost: float  # target on-demand replicas for the whole window
    availability: float
    preemptions: int
    ondemand_hours: float
    events: list[tuple] = field(default_factory=list)  # every replica row at the end (restart test)
    ticks_run: int = 0  # controller ticks run in full (the others were fast-forwarded: sim_skip.py)


@dataclass(frozen=True)
class Summary:
    policy: str
    availability_pct: float
    cost_pct_of_ondemand: float
    preemptions: float  # per window
    ondemand_hours: float  # per window

    def to_dict(self) -> dict[str, float | str]:
        return {"policy": self.policy, "availability_pct": round(self.availability_pct, 2),
                "cost_pct_of_ondemand": round(self.cost_pct_of_ondemand, 2),
                "preemptions": round(self.preemptions, 2), "ondemand_hours": round(self.ondemand_hours, 2)}


# -- traces -------------------------------------------------------------------------------------------------
def traces_dir() -> Path:
    """`$SKYCTL_TRACES_DIR`, else `shared/data/skyserve/spothedge_ae/data` beside the repository."""
    env = os.environ.get(TRACES_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "skyserve" / "spothedge_ae" / "data"


def open_trace(name_or_path: str) -> SpotTrace:
    """A paper trace by name (aws1, aws2, aws3, gcp1) or any trace folder/file by path."""
    try:
        if name_or_path.lower() in PAPER_TRACES:
            folder = paper_trace_dir(name_or_path, traces_dir())
            if not folder.is_dir():
                raise UserError("the SpotHedge trace folder is missing", field="--trace",
                                value=str(folder),
                                fix=f"set {TRACES_ENV} to the folder of AWS1 ... GCP1, or pass a trace path")
            unlimited = UNLIMITED if name_or_path.lower() == "aws3" else None
            return load_trace(folder, available_means=unlimited)
        return load_trace(name_or_path)
    except ProblemError as e:
        raise UserError(e.message, field="--trace", value=e.value, fix=e.fix) from None


# -- one run ------------------------------------------------------------------------------------------------
def run_window(policy: str, zones: Sequence[str], window: np.ndarray, setup: Setup, *, offset: int = 0,
               restart_at: Sequence[int] = (), fast_forward: bool = True) -> Run:
    """Tick a fresh controller through `window` (zones x ticks); `restart_at`: ticks before which the
    controller is replaced by a new one over the same store (a restart). `fast_forward`: skip the ticks
    that provably change nothing (sim_skip.py); False runs every tick (the tests compare the two)."""
    if policy == "optimal":
        return _optimal(window, setup, offset)
    clock = VirtualClock(START)
    capacity = {z: window[i].tolist() for i, z in enumerate(zones)}
    cloud = SimCloud(capacity, clock=clock, tick_seconds=TICK_SECONDS, cold_start=setup.cold_start,
                     ondemand_ratio=setup.ondemand_ratio)
    spec = policy_spec(policy, setup.target)
    store = MemoryStore(f"sim-{policy}", spec, now=clock.now())

    def plan(s: ServiceSpec) -> LaunchPlan:
        return launch_candidates(s, providers={cloud.name: cloud}, enabled_clouds={cloud.name})

    def controller() -> Controller:
        return Controller(store.service.id, provider_factory=lambda _cloud: cloud, clock=clock,
                          config=SIM_CONFIG, prober=SimProber(cloud), plan_factory=plan,
                          placer_factory=placer_factory(policy), store=store)

    n = window.shape[1]
    ready = np.zeros(n, dtype=np.int64)
    ctl = controller()
    restarts = sorted(set(restart_at))
    t = ran = 0
    with _quiet():
        while t < n:
            if t in restarts:
                ctl.close()
                ctl = controller()
            rows_before = store.service.next_replica_id
            ctl.tick()
            ran += 1
            ready[t] = sum(r.status == "READY" for r in store.open_rows())
            t += 1
            # A tick that made a row (a launch, or an attempt that failed) is as a rule followed by more:
            # not worth asking. Asking less only skips less, so this cannot change a result.
            launched = store.service.next_replica_id != rows_before
            stop = _calm_to(t, n, restarts, ctl, cloud, store) if fast_forward and not launched else t
            quiet = stop > t and decisions_quiet_until(ctl, store, clock.now() + TICK_SECONDS) == math.inf
            if quiet:  # nothing at all can happen before `stop`: skip to it
                ready[t:stop] = ready[t - 1]
                clock.advance(TICK_SECONDS * (stop - t + 1))
                t = stop
                continue
            clock.advance(TICK_SECONDS)
            while t < stop:  # only the autoscaler may act: run just its decision step (sim_skip.py)
                saved = ctl.autoscaler.dump()  # type: ignore[union-attr]
                if ctl.decisions(store.service, failures(store), QPS, clock.now()):
                    # It acts: undo the step and run this tick in full. A restart from the state before
                    # the step is the undo (a restart changes nothing: test_serve_simulate_restart.py).
                    store.update_service(store.service.id, autoscaler_state=saved)
                    ctl.close()
                    ctl = controller()
                    break
                ready[t] = ready[t - 1]
                t += 1
                clock.advance(TICK_SECONDS)
    ctl.close()
    run = _score(policy, offset, cloud, store, ready, setup)
    run.ticks_run = ran
    return run


def _calm_to(t: int, n: int, restarts: list[int], ctl: Controller, cloud: SimCloud,
             store: MemoryStore) -> int:
    """Tick `t - 1` was just run: the next tick to run in full (sim_skip.py), those before it doing at
    most their decision step. That is the tick before the next possible change, so that it and the
    change's tick run as in a tick-by-tick run. A restart at `r` replaces the controller before tick `r`,
    so tick `r - 1` runs in full too (its service row is what the new controller loads)."""
    until = calm_until(ctl, cloud, store, TICK_SECONDS)
    change = math.ceil((until - START) / TICK_SECONDS) if until < math.inf else n
    stop = min([change - 1, n, *(r - 1 for r in restarts if r > t)])
    return max(t, stop)


def _score(policy: str, offset: int, cloud: SimCloud, store: MemoryStore, ready: np.ndarray,
           setup: Setup) -> Run:
    n = len(ready)
    end = START + n * TICK_SECONDS
    rate = np.zeros(n)
    od_hours = 0.0
    for inst in cloud.list():
        first = int((inst.launched_at - START) // TICK_SECONDS)  # type: ignore[operator]
        last = int(((inst.ended_at if inst.ended_at is not None else end) - START) // TICK_SECONDS)
        rate[first:last] += inst.price_per_hour or 0.0
        if not inst.spot:
            od_hours += (last - first) * TICK_SECONDS / 3600
    hours = TICK_SECONDS / 3600
    od_price = setup.ondemand_ratio * max(cloud.price(None, spot=True, zone=z) or 0.0 for z in cloud.zones)
    rows = store.rows()
    events = [(r.replica_id, r.status, r.spot, r.zone, r.purpose, r.created_at, r.launched_at, r.ready_at,
               r.ended_at) for r in rows]
    return Run(policy, offset, ready, rate, float(rate.sum() * hours), od_price * setup.target * n * hours,
               _availability(ready, setup), sum(bool(r.preempted) for r in rows), od_hours, events)


def _availability(ready: np.ndarray, setup: Setup) -> float:
    counted = ready[setup.cold_ticks:]
    return float((counted >= setup.target).mean()) if counted.size else 1.0


def _optimal(window: np.ndarray, setup: Setup, offset: int) -> Run:
    sched = solve(SpotProblem(window, target=setup.target, cold=setup.cold_ticks,
                              ondemand_price=setup.ondemand_ratio * 1.0, tick_seconds=TICK_SECONDS))
    hours = TICK_SECONDS / 3600
    rate = sched.alive.sum(axis=0) * 1.0 + sched.ondemand * setup.ondemand_ratio
    return Run("optimal", offset, sched.ready, rate.astype(float), sched.cost, sched.ondemand_cost,
               sched.availability, 0, float(sched.ondemand.sum() * hours))


@contextmanager
def _quiet() -> Iterator[None]:
    """The controller logs every launch failure as a warning: thousands in a simulated day."""
    logger = logging.getLogger("skyctl.serve.controller")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


# -- many runs ----------------------------------------------------------------------------------------------
def simulate(trace: SpotTrace, policies: Sequence[str], setup: Setup, *, jobs: int | None = None,
             progress: Callable[[Run], None] | None = None) -> dict[str, list[Run]]:
    """Every policy on the same `repeats` windows; runs spread over `jobs` processes (default: CPUs)."""
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        raise UserError("unknown policy", field="--policy", value=unknown[0],
                        fix=f"use one of {', '.join(POLICIES)} or all")
    if setup.target < 1 or setup.repeats < 1 or setup.hours <= 0 or setup.cold_start < 0:
        raise UserError("target and repeats must be >= 1, hours > 0 and cold start >= 0", field="--target",
                        value=(setup.target, setup.repeats, setup.hours, setup.cold_start))
    try:
        windows = trace.windows(setup.ticks, setup.repeats, setup.seed, TICK_SECONDS)
    except ProblemError as e:
        raise UserError(e.message, field="--hours", value=setup.hours,
                        fix=f"this trace has {trace.seconds / 3600:.1f} hours") from None
    work = [(p, trace.zones, w, setup, o) for p in policies for o, w in windows]
    jobs = jobs or os.cpu_count() or 1
    out: dict[str, list[Run]] = {p: [] for p in policies}
    if jobs <= 1 or len(work) == 1:
        results: Iterator[Run] = (_job(w) for w in work)
        for run in results:
            out[run.policy].append(run)
            if progress:
                progress(run)
        return out
    # the slow jobs (the ILP, the learning policies) first, so no process idles at the end
    work.sort(key=lambda w: POLICIES.index(w[0]), reverse=True)
    with ProcessPoolExecutor(max_workers=min(jobs, len(work))) as pool:
        for run in pool.map(_job, work, chunksize=1):
            out[run.policy].append(run)
            if progress:
                progress(run)
    for runs in out.values():
        runs.sort(key=lambda r: [o for o, _ in windows].index(r.offset))
    return out


def _job(args: tuple) -> Run:
    policy, zones, window, setup, offset = args
    return run_window(policy, zones, window, setup, offset=offset)


def summarize(runs: dict[str, list[Run]]) -> list[Summary]:
    out = []
    for policy, rs in runs.items():
        out.append(Summary(policy, 100 * float(np.mean([r.availability for r in rs])),
                           100 * sum(r.cost for r in rs) / sum(r.ondemand_cost for r in rs),
                           float(np.mean([r.preemptions for r in rs])),
                           float(np.mean([r.ondemand_hours for r in rs]))))
    return out


__all__ = ["ALL_POLICIES", "CONTROLLER_POLICIES", "POLICIES", "Run", "Setup", "Summary", "open_trace",
           "run_window", "simulate", "summarize", "traces_dir"]
