"""Fast-forward for `skyctl serve simulate`: the ticks that provably change nothing are not run.

After a tick, the simulator asks `quiet_until` for the first time at which a tick could do anything but
repeat that tick. Until then every tick would only rewrite timestamps that each tick rewrites (a READY
row's `last_ready_at`, the controller's probe times, the autoscaler's last decision time, the heartbeat),
so the simulator runs the tick just before that time and the one at it in full and skips those in between:
the state after the tick before is then the tick-by-tick run's, field for field, and so is everything
after. READY and cost of the skipped ticks come from that unchanged state.

A tick is a repeat when all of these hold (otherwise `quiet_until` answers now: no skip):
- every open row is READY with an instance the provider reports RUNNING, and no other instance of the
  service is live: reconciliation, probes (ok, so READY stays READY) and the replica state machine have
  nothing to do;
- the launch manager is idle (no launch, candidate walk or retry pending), so no launch starts and the
  placer is not consulted (placers only act on launches and replica events, none of which happens);
- every probe and every decision comes back each tick (intervals <= the tick), so the tick run in full
  before the event leaves probe and decision times as a tick-by-tick run would;
- the autoscaler's `decide` with these replicas returns nothing and keeps its state: for the SkyServe
  autoscalers below, whose `decide` reads time only to reset hysteresis counters after a gap, a trial
  decision on a copy that returns nothing with the counters at rest. skyctl's hedge autoscaler (decaying
  statistics and timers) is never skipped: on its calm ticks only its decision step runs;
- the provider has no event due (`SimProvider.next_change`: a cold start ending, a capacity drop).
"""

from __future__ import annotations

import copy
import math

from skyctl.serve.autoscalers import FallbackRequestRateAutoscaler, RequestRateAutoscaler
from skyctl.serve.controller import Controller
from skyctl.serve.sim_cloud import SimCloud
from skyctl.serve.sim_store import QPS, MemoryStore
from skyctl.serve.status import ReplicaStatus

# Autoscalers whose decision, for given replicas and QPS, depends on time only through the reset of
# hysteresis counters after a gap (STALE_AFTER_INTERVALS): with the counters at 0 the reset changes nothing.
TIME_INVARIANT = (RequestRateAutoscaler, FallbackRequestRateAutoscaler)
_AT_REST = ("target", "upscale_counter", "downscale_counter", "latest_version_ever_ready")


def calm_until(ctl: Controller, cloud: SimCloud, store: MemoryStore, tick_seconds: float) -> float:
    """The first time after now at which a tick of `ctl` could do more than its decision step: a tick
    until then runs reconciliation, probes and the replica state machine for nothing, so only the
    autoscaler may act (now, or a time less than two ticks away: no skip). Call right after a tick,
    before the clock moves on. Cheap tests first: answering too early is always sound (it skips less)."""
    now = cloud.clock.now()
    config = ctl.config
    if max(config.probe_interval_seconds, config.decision_interval_seconds) > tick_seconds:
        return now
    if not ctl.launches.idle() or ctl.autoscaler is None:
        return now
    open_rows = store.open_rows()
    if any(r.status != ReplicaStatus.READY or r.instance_id is None for r in open_rows):
        return now
    event = cloud.next_change()
    if event < now + 2 * tick_seconds:
        return event
    live = {i.id for i in cloud.list(ctl.name) if i.state.live}
    if live != {r.instance_id for r in open_rows} or not all(cloud.ready(i) for i in live):
        return now
    return event


def decisions_quiet_until(ctl: Controller, store: MemoryStore, when: float) -> float:
    """Until when the autoscaler decides nothing and keeps its state at every tick from `when` on, the
    replicas staying as they are (`when`: it cannot tell). Only TIME_INVARIANT autoscalers can be shown
    quiet (a hedge tick is never skipped): for them a trial `decide` on a copy that returns nothing with
    the hysteresis counters at rest and unchanged shows it for every later tick."""
    autoscaler = ctl.autoscaler
    if type(autoscaler) not in TIME_INVARIANT:  # cheap test first: the views are not built for nothing
        return when
    svc = store.service
    before = autoscaler.dump()
    trial = copy.copy(autoscaler)  # its state is scalars: a shallow copy is independent
    if trial.decide(when, ctl.views(failures(store)), QPS, latest_version=svc.current_version,
                    active_versions=list(svc.active_versions), update_mode=svc.update_mode):
        return when
    after = trial.dump()
    at_rest = before["upscale_counter"] == before["downscale_counter"] == 0
    return math.inf if at_rest and all(before[k] == after[k] for k in _AT_REST) else when


def failures(store: MemoryStore) -> list:
    """The failure rows a tick's snapshot holds (the stored objects: read only, as `views` does)."""
    return [store.row(i) for i in store.failed_ids(store.service.current_version)]
