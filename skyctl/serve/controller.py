"""The controller of one service: `Controller.tick()` moves the service one step towards its spec.

    read rows -> reconcile with provider.list -> probe -> derive replica statuses -> (every decision
    interval) autoscaler decisions -> apply them (launch through the placer's candidates, drain and
    terminate) -> persist autoscaler/placer state, service status, uptime, heartbeat

`tick` is synchronous and deterministic under a `VirtualClock`: it never sleeps and never reads the wall
clock; launches run inside it unless a thread `Launcher` is configured. Every row change is committed
before the side effect it announces (the row, its idempotency key and location before `launch`;
`scale_down_at`/SHUTTING_DOWN before `terminate`), so a controller killed at any point leaves rows that
the next tick's reconciliation finishes or undoes. `main()` is the process entry:
`python -m skyctl.serve.controller NAME`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from providers.base import Location, Provider, State
from skyctl.check import enabled_clouds
from skyctl.clock import REAL_CLOCK, Clock
from skyctl.errors import UserError
from skyctl.serve import replica_manager as rm
from skyctl.serve import rollout
from skyctl.serve.autoscalers import RequestRateAutoscaler, make_autoscaler
from skyctl.serve.config import ControllerConfig
from skyctl.serve.controller_process import provider_for, teardown_service
from skyctl.serve.controller_store import ControllerStore, SqlStore
from skyctl.serve.failpoints import BEFORE_TERMINATE, failpoint
from skyctl.serve.launcher import Launcher, make_launcher
from skyctl.serve.launching import LaunchManager
from skyctl.serve.placers import make_placer
from skyctl.serve.plan import LaunchPlan, launch_candidates
from skyctl.serve.prober import HttpProber, Prober, ProbeResult, ProbeTarget
from skyctl.serve.reconcile import Inventory, match
from skyctl.serve.status import ALIVE, UNRECOVERABLE, ReplicaStatus, ServiceStatus
from skyctl.serve.types import Decision, Placer, ReplicaView, ScaleDown, ScaleUp
from skyctl.spec import ServiceSpec, spec_from_dict
from skyctl.state.serve_tables import ReplicaRecord, ServiceRecord

log = logging.getLogger("skyctl.serve.controller")
S = ReplicaStatus


def default_plan(spec: ServiceSpec) -> LaunchPlan:
    """The launch plan over the clouds with credentials (`skyctl check`)."""
    return launch_candidates(spec, enabled_clouds=enabled_clouds())


class Controller:
    def __init__(self, service_id: int, *, provider_factory: Callable[[str], Provider] | None = None,
                 clock: Clock = REAL_CLOCK, config: ControllerConfig | None = None,
                 prober: Prober | None = None, launcher: Launcher | None = None,
                 plan_factory: Callable[[ServiceSpec], LaunchPlan] = default_plan,
                 placer_factory: Callable[[ServiceSpec, LaunchPlan], Placer] = make_placer,
                 store: ControllerStore | None = None) -> None:
        """`store`: where rows live (the database by default; the simulator keeps them in memory).
        `placer_factory`: the spec's placer by default; the simulator plugs in its baseline placers."""
        self.service_id = service_id
        self.store: ControllerStore = store or SqlStore()
        self.placer_factory = placer_factory
        self.providers = provider_factory or provider_for
        self.clock = clock
        self.config = config or ControllerConfig.from_env()
        self.prober = prober or HttpProber()
        self.plan_factory = plan_factory
        self.name = ""
        self.rows: dict[int, ReplicaRecord] = {}  # open rows of this tick, by replica id
        self.launches = LaunchManager(self, launcher or make_launcher(self.config.launch_threads))
        self._saved: dict[int, dict] = {}  # row snapshots as last written, to write only what changed
        self._specs: dict[int, ServiceSpec] = {}
        self._digests: dict[int, str] = {}
        self._version: int | None = None
        self._autoscaler = None
        self.placer = None
        self.plan: LaunchPlan | None = None
        self.plan_error: str | None = None
        self._next_decision = -math.inf
        self._last_probe: dict[int, float] = {}
        self._cleanup_after: dict[int, float] = {}
        self._clouds: set[str] | None = None  # every cloud this service ever launched in

    # -- the tick -------------------------------------------------------------------------------------------
    def tick(self) -> bool:
        """One step; False once the service is gone (down finished), so the process can exit."""
        now = self.clock.now()
        loaded = self._load(now)
        if loaded is None:
            return False
        svc, failures, ever_ready, qps = loaded
        if svc.down_requested_at is not None:
            log.info("down requested: tearing %s down", svc.name)
            teardown_service(self.service_id, provider_factory=self.providers, clock=self.clock)
            return False
        self._sync_version(svc, now)
        inv, listed = self._inventory()
        self._reconcile(inv, now)
        results = self._probe(inv, listed, now)
        self._derive(inv, listed, results, now)
        if now >= self._next_decision and self._autoscaler is not None:
            self._decide(svc, failures, qps, now)
        self.launches.run(inv, listed, now)
        self._finish(svc, failures, ever_ready, now)
        return True

    def close(self) -> None:
        self.launches.launcher.close()
        close = getattr(self.prober, "close", None)
        if close:
            close()

    # -- read -----------------------------------------------------------------------------------------------
    def _load(self, now: float) -> tuple[ServiceRecord, list[ReplicaRecord], bool, float] | None:
        snap = self.store.load(self.service_id, now, self.config.qps_window_seconds,
                               with_clouds=self._clouds is None)
        if snap is None:
            return None
        if snap.clouds is not None:
            self._clouds = snap.clouds
        self.name = snap.service.name
        self.rows = {r.replica_id: r for r in snap.rows}
        self._saved = {r.replica_id: r.model_dump() for r in snap.rows}
        return snap.service, snap.failures, snap.ever_ready, snap.qps

    def spec(self, version: int) -> ServiceSpec:
        if version not in self._specs:
            row = self.store.version(self.service_id, version)
            if row is None:
                raise LookupError(f"service {self.service_id} has no version {version}")
            self._specs[version] = spec_from_dict(row.spec)
            self._digests[version] = row.replica_digest
        return self._specs[version]

    @property
    def autoscaler(self) -> RequestRateAutoscaler | None:
        """The autoscaler of the current version (None before the first tick); read-only for callers."""
        return self._autoscaler

    @property
    def latest(self) -> ServiceSpec:
        return self.spec(self._version)  # type: ignore[arg-type]

    # -- write ----------------------------------------------------------------------------------------------
    def flush(self) -> None:
        """Commit every row changed since it was loaded or last written (before any side effect)."""
        dirty = [r for rid, r in self.rows.items() if r.model_dump() != self._saved.get(rid)]
        if not dirty:
            return
        self.store.save_rows(dirty)
        for row in dirty:
            self._saved[row.replica_id] = row.model_dump()

    def add_row(self, row: ReplicaRecord) -> None:
        self.rows[row.replica_id] = row
        self._saved[row.replica_id] = row.model_dump()
        if row.cloud and self._clouds is not None:
            self._clouds.add(row.cloud)

    # -- steps ----------------------------------------------------------------------------------------------
    def _sync_version(self, svc: ServiceRecord, now: float) -> None:
        """First tick, or `serve update`: autoscaler and placer for the latest spec; old-version replicas
        that run exactly what the new version runs are re-labelled in place instead of relaunched."""
        if svc.current_version == self._version:
            return
        spec = self.spec(svc.current_version)
        try:
            plan = self.plan_factory(spec)
            self.plan_error = None
        except UserError as exc:
            plan, self.plan_error = None, exc.message
            log.error("no launch plan for version %d: %s", svc.current_version, exc.message)
        if self._autoscaler is None:
            self._autoscaler = make_autoscaler(spec, self.config.decision_interval_seconds)
            if svc.autoscaler_state:
                self._autoscaler.load(svc.autoscaler_state)
            state = svc.placer_state
        else:
            self._autoscaler = self._autoscaler.update_spec(spec)
            state = self.placer.dump() if self.placer else svc.placer_state
            self._next_decision = now
        self.plan = plan
        self.placer = self.placer_factory(spec, plan) if plan else None
        if self.placer and state:
            self.placer.load(state)
        digest = self._digests[svc.current_version]
        for row in self.rows.values():
            if row.version != svc.current_version and rm.status(row) in ALIVE:
                self.spec(row.version)
                if self._digests[row.version] == digest:
                    log.info("replica %d: version %d -> %d in place (same replica digest)",
                             row.replica_id, row.version, svc.current_version)
                    row.version = svc.current_version
        self._version = svc.current_version
        self.flush()

    def _inventory(self) -> tuple[Inventory, set[str]]:
        """Every instance the providers list for this service; clouds whose listing failed are left out
        (their rows are not judged this tick)."""
        clouds = set(self._clouds or ()) | {r.cloud for r in self.rows.values() if r.cloud}
        if self.plan is not None:
            clouds |= {c.location.cloud for c in self.plan.candidates}
        instances, listed = [], set()
        for cloud in sorted(clouds):
            try:
                instances += self.providers(cloud).list(self.name)
                listed.add(cloud)
            except Exception as exc:  # a cloud API hiccup must not end replicas; retry next tick
                log.warning("listing %s instances failed: %s", cloud, exc)
        return match(self.rows.values(), instances), listed

    def _reconcile(self, inv: Inventory, now: float) -> None:
        for rid in inv.adopted:
            row, inst = self.rows[rid], inv.matched[rid]
            log.info("replica %d: adopting instance %s launched before a restart", rid, inst.id)
            rm.record_instance(row, inst, now)
            if rm.status(row) is S.PENDING:
                row.status = S.PROVISIONING
        self.flush()
        for inst in inv.orphans:
            log.warning("terminating orphan instance %s (replica tag %s, no open row owns it)",
                        inst.id, inst.replica_id)
            try:
                self.providers(inst.cloud).terminate([inst.id])
            except Exception as exc:  # seen again next tick, and retried
                log.warning("terminating orphan %s failed: %s", inst.id, exc)

    def _probe(self, inv: Inventory, listed: set[str], now: float) -> dict[int, ProbeResult]:
        targets = []
        for rid, row in self.rows.items():
            inst = inv.matched.get(rid)
            if not row.endpoint or inst is None or not inst.state.live:
                continue
            # A PROVISIONING row whose instance the provider already reports RUNNING is probed now, not a
            # tick later after the STARTING step: READY is seen as soon as the replica answers.
            starting = rm.status(row) is S.STARTING or (rm.status(row) is S.PROVISIONING
                                                        and inst.state is State.RUNNING)
            if rm.status(row) not in rm.PROBED and not starting:
                continue
            every = (self.config.starting_probe_interval_seconds if starting
                     else self.config.probe_interval_seconds)
            if now - self._last_probe.get(rid, -math.inf) >= every:
                self._last_probe[rid] = now
                targets.append(ProbeTarget(rid, row.endpoint, self.spec(row.version).service.readiness_probe))
        return self.prober.probe(targets) if targets else {}

    def _derive(self, inv: Inventory, listed: set[str], results: dict[int, ProbeResult], now: float) -> None:
        for rid, row in sorted(self.rows.items()):
            if row.instance_id is None or row.cloud not in listed:
                continue
            probe = self.spec(row.version).service.readiness_probe
            for event in rm.step(row, inv.matched.get(rid), results.get(rid), now, probe, self.config):
                if isinstance(event, rm.Terminate):
                    self._terminate(row, now)
                elif isinstance(event, rm.Preempted):
                    log.info("replica %d preempted in %s", rid, event.location)
                    if self.placer:
                        self.placer.on_preempted(self._placed(event.location), now=now)
                    if event.notice:  # still running: its replacement need not wait for the next decision
                        self._next_decision = min(self._next_decision, now)
                elif isinstance(event, rm.Ready) and self.placer:
                    self.placer.on_ready(self._placed(event.location), spot=event.spot,
                                         seconds_to_ready=event.seconds_to_ready, now=now)
            if row.ended_at is not None:
                self._last_probe.pop(rid, None)
        self.flush()

    def _placed(self, location: Location) -> Location:
        return self.plan.locate(location) if self.plan else location

    def _terminate(self, row: ReplicaRecord, now: float) -> None:
        rid = row.replica_id
        if rm.status(row) is S.FAILED_CLEANUP and now < self._cleanup_after.get(rid, -math.inf):
            return
        self.flush()  # write-ahead: the status that asks for this terminate is committed first
        failpoint(BEFORE_TERMINATE)
        error = None
        try:
            self.providers(row.cloud).terminate([row.instance_id])  # type: ignore[arg-type, list-item]
        except Exception as exc:  # FAILED_CLEANUP, retried every cleanup_retry_seconds
            error = f"{type(exc).__name__}: {exc}"
            self._cleanup_after[rid] = now + self.config.cleanup_retry_seconds
            log.warning("replica %d: terminate of %s failed: %s", rid, row.instance_id, error)
        rm.terminated(row, now, error)
        self.flush()

    def _decide(self, svc: ServiceRecord, failures: list[ReplicaRecord], qps: float, now: float) -> None:
        for d in self.decisions(svc, failures, qps, now):
            if isinstance(d, ScaleUp):
                self.launches.scale_up(d, now)
            elif isinstance(d, ScaleDown):
                self._scale_down(d, now)
        self.store.prune_request_counts(self.service_id, now - 2 * self.config.qps_window_seconds)

    def decisions(self, svc: ServiceRecord, failures: list[ReplicaRecord], qps: float,
                  now: float) -> list[Decision]:
        """The autoscaler's decision step (not yet acted on); public for the simulator, which runs only
        this step on ticks where nothing else can happen (sim_skip.py)."""
        views = self.views(failures)
        decisions = self._autoscaler.decide(  # type: ignore[union-attr]
            now, views, qps, latest_version=svc.current_version, active_versions=list(svc.active_versions),
            update_mode=svc.update_mode)
        self._next_decision = now + self._autoscaler.decision_interval(views)  # type: ignore[union-attr]
        return decisions

    def _scale_down(self, d: ScaleDown, now: float) -> None:
        row = self.rows.get(d.replica_id)
        if row is None or rm.status(row) not in ALIVE:
            return
        log.info("replica %d: scale down (%s)", row.replica_id, d.reason)
        rm.mark_scale_down(row, now, self.config.drain_seconds, d.reason)
        if row.instance_id is None and not self.launches.in_flight(row.replica_id):
            row.status, row.ended_at = S.TERMINATED, now  # never launched: nothing to terminate
            self.launches.forget(row.replica_id)
        self.flush()

    def views(self, extra: list[ReplicaRecord] = ()) -> list[ReplicaView]:  # type: ignore[assignment]
        return [ReplicaView(replica_id=r.replica_id, version=r.version, status=rm.status(r), spot=r.spot,
                            accelerator=r.accelerator, accelerator_count=r.accelerator_count,
                            location=rm.location(r), launched_at=r.launched_at, ready_at=r.ready_at,
                            purpose=r.purpose)
                for r in [*self.rows.values(), *extra]]

    def _finish(self, svc: ServiceRecord, failures: list[ReplicaRecord], ever_ready: bool,
                now: float) -> None:
        self.flush()
        statuses = [rm.status(r) for r in self.rows.values()]
        latest = [r for r in [*self.rows.values(), *failures] if r.version == svc.current_version]
        failed = sorted((r for r in latest if rm.status(r).failed), key=lambda r: -r.replica_id)
        failed_fast = not ever_ready and any(rm.status(r) in UNRECOVERABLE for r in failed)
        message = None
        if S.READY in statuses:
            status = ServiceStatus.READY
        elif failed_fast or (failed and not any(s in ALIVE for s in statuses)):
            status = ServiceStatus.FAILED
            message = next((r.failure for r in failed if r.failure), None)
        elif any(s in ALIVE for s in statuses):
            status = ServiceStatus.REPLICA_INIT
        else:
            status = ServiceStatus.NO_REPLICA
        if message is None and self.plan_error:
            message = self.plan_error
        active = rollout.next_active_versions(
            self.views(), latest_version=svc.current_version, active_versions=list(svc.active_versions),
            min_replicas=self.latest.service.replica_policy.min_replicas, update_mode=svc.update_mode)
        fields = {"status": status, "message": message, "active_versions": active,
                  "uptime_start": svc.uptime_start or (now if status is ServiceStatus.READY else None),
                  "autoscaler_state": self._autoscaler.dump() if self._autoscaler else svc.autoscaler_state,
                  "placer_state": self.placer.dump() if self.placer else svc.placer_state,
                  "controller_heartbeat": now}
        self.store.update_service(self.service_id, **fields)


def main(argv: list[str] | None = None) -> int:
    from skyctl.serve.controller_main import run

    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())
