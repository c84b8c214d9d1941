"""Scale-up and launches: a new replica row, then `provider.launch` through the placer's candidates.

Write-ahead order for every attempt: the row (PROVISIONING, idempotency key, the candidate's location and
prices) is committed, then the provider is called, then the instance is recorded. A `CapacityError` moves
to the next candidate (and tells the placer); quota, auth and user errors stop with FAILED_PROVISION and
the message; a `TransientError` is retried on a later tick with bounded exponential backoff. A row left
PROVISIONING without an instance by a crash is relaunched with its own key, at its recorded location first.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from providers.base import CapacityError, LaunchSpec, ProviderError, State, TransientError
from skyctl.serve import replica_manager as rm
from skyctl.serve.failpoints import AFTER_LAUNCH, BEFORE_LAUNCH, failpoint
from skyctl.serve.launcher import Launcher, LaunchJob, LaunchOutcome
from skyctl.serve.reconcile import Inventory, needs_relaunch
from skyctl.serve.status import ALIVE, ReplicaStatus
from skyctl.serve.types import Candidate, ScaleUp
from skyctl.state.serve_tables import ReplicaRecord, ServiceRecord

if TYPE_CHECKING:
    from skyctl.serve.controller import Controller

log = logging.getLogger("skyctl.serve.controller")
S = ReplicaStatus


@dataclass
class _Attempt:
    """One replica's walk through its candidates (in memory: a restart starts a fresh walk)."""

    candidates: list[Candidate]
    index: int = 0
    transient: int = 0
    errors: list[str] = field(default_factory=list)


class LaunchManager:
    def __init__(self, controller: Controller, launcher: Launcher) -> None:
        self.c = controller
        self.launcher = launcher
        self._attempts: dict[int, _Attempt] = {}
        self._not_before: dict[int, float] = {}  # TransientError backoff

    def in_flight(self, replica_id: int) -> bool:
        return replica_id in self.launcher.in_flight()

    def idle(self) -> bool:
        """No launch in flight, no candidate walk under way and no retry waiting: a tick whose rows ask
        for no launch does nothing here."""
        return not self._attempts and not self._not_before and not self.launcher.in_flight()

    def forget(self, replica_id: int) -> None:
        self._attempts.pop(replica_id, None)
        self._not_before.pop(replica_id, None)

    def scale_up(self, d: ScaleUp, now: float) -> ReplicaRecord:
        """The PENDING row, with its idempotency key, committed before anything is launched for it."""
        spec = self.c.latest
        spot = d.spot if d.spot is not None else spec.task.resources[0].use_spot

        def fields(svc: ServiceRecord) -> dict[str, Any]:
            key = f"{svc.id}-{svc.next_replica_id}-{int(svc.created_at * 1000):x}"
            return {"version": svc.current_version, "status": S.PENDING, "spot": spot, "purpose": d.purpose,
                    "idempotency_key": key, "created_at": now}

        row = self.c.store.new_replica(self.c.service_id, fields)
        log.info("replica %d: scale up (%s, %s)", row.replica_id, "spot" if spot else "on-demand", d.purpose)
        self.c.add_row(row)
        return row

    def run(self, inv: Inventory, listed: set[str], now: float) -> None:
        """Apply finished launches, then start launches for PENDING rows and interrupted PROVISIONING rows,
        at most `max_concurrent_launches` at once."""
        self._collect(now)
        busy = len(self.launcher.in_flight())
        flying = self.launcher.in_flight()
        for rid, row in sorted(self.c.rows.items()):
            if busy >= self.c.config.max_concurrent_launches:
                break
            status = rm.status(row)
            relaunch = needs_relaunch(row, inv, flying) and (row.cloud is None or row.cloud in listed)
            if status is not S.PENDING and not relaunch:
                continue
            if now < self._not_before.get(rid, -math.inf):
                continue
            if relaunch and rid not in self._attempts:
                log.info("replica %d: relaunching with its idempotency key %s", rid, row.idempotency_key)
            self._submit(row, now)
            busy += 1
            self._collect(now)
        self.c.flush()

    # -- internals ------------------------------------------------------------------------------------------
    def _submit(self, row: ReplicaRecord, now: float) -> None:
        rid = row.replica_id
        attempt = self._attempts.get(rid)
        if attempt is None:
            candidates = self._candidates(row, now)
            if not candidates:
                return
            attempt = self._attempts[rid] = _Attempt(candidates)
        cand = attempt.candidates[attempt.index]
        rm.start_launch(row, cand, now)
        self.c.flush()
        failpoint(BEFORE_LAUNCH)
        provider = self.c.providers(cand.location.cloud)
        self.launcher.submit(LaunchJob(rid, provider, self._launch_spec(row, cand), cand))

    def _candidates(self, row: ReplicaRecord, now: float) -> list[Candidate]:
        placer = self.c.placer
        if placer is None:
            self._fail(row, self.c.plan_error or "no launch plan for this version", now)
            return []
        plan = self.c.plan
        assert plan is not None  # a placer exists only with a plan
        live_spot = [plan.locate(loc) for r in self.c.rows.values() if r.spot and rm.status(r) in ALIVE
                     and r.replica_id != row.replica_id and (loc := rm.location(r)) is not None]
        candidates = list(placer.choose(spot=row.spot, live_spot=live_spot, now=now))
        here = plan.locate(loc) if (loc := rm.location(row)) is not None else None
        if here is not None:  # a relaunch: the same place first, where the provider knows the key
            candidates.sort(key=lambda c: c.location != here)
        if not candidates:
            self._fail(row, f"no {'spot' if row.spot else 'on-demand'} location to launch in", now)
        return candidates

    def _launch_spec(self, row: ReplicaRecord, cand: Candidate) -> LaunchSpec:
        spec = self.c.spec(row.version)
        task, res, loc = spec.task, cand.resources, cand.location
        image = res.image_id.get(loc.region) if isinstance(res.image_id, dict) else res.image_id
        return LaunchSpec(
            service=self.c.name, replica_id=str(row.replica_id), idempotency_key=row.idempotency_key,
            spot=row.spot, region=loc.region, zone=loc.zone, instance_type=cand.instance_type,
            accelerators={k: math.ceil(v) for k, v in res.accelerators.items()}, setup=task.setup,
            run=task.run, envs={k: v for k, v in task.envs.items() if v is not None}, workdir=task.workdir,
            image_id=image, disk_size_gb=res.disk_size,
            ports=[spec.service.ports] if spec.service.ports else [])

    def _collect(self, now: float) -> None:
        while outcomes := self.launcher.collect():
            for outcome in outcomes:
                self._apply(outcome, now)

    def _apply(self, out: LaunchOutcome, now: float) -> None:
        rid = out.job.replica_id
        row = self.c.rows.get(rid)
        if row is None:  # the row ended meanwhile; reconciliation terminates the instance as an orphan
            self.forget(rid)
            return
        loc = out.job.candidate.location
        placer = self.c.placer
        if out.instance is not None:
            failpoint(AFTER_LAUNCH)
            rm.record_instance(row, out.instance, now)
            if rm.status(row) is S.PROVISIONING and out.instance.state is State.RUNNING:
                row.status = S.STARTING
            self.forget(rid)
            if placer:
                placer.on_launched(loc, spot=row.spot, now=now)
            self.c.flush()
            return
        err = out.error
        attempt = self._attempts[rid]
        if rm.status(row) is not S.PROVISIONING:  # scaled down while launching: nothing was started
            row.status, row.ended_at = S.TERMINATED, now
            self.forget(rid)
        elif isinstance(err, CapacityError):
            log.info("replica %d: no capacity in %s: %s", rid, loc, err)
            if placer:
                placer.on_capacity_error(loc, spot=row.spot, now=now)
            attempt.errors.append(f"{loc}: {err}")
            attempt.index += 1
            if attempt.index < len(attempt.candidates):
                self._submit(row, now)
            else:
                self._fail(row, f"no capacity in any of {len(attempt.candidates)} location(s): "
                                + "; ".join(attempt.errors[-3:]), now)
        elif isinstance(err, TransientError) and attempt.transient < self.c.config.launch_retries:
            attempt.transient += 1
            cfg = self.c.config
            delay = err.retry_after or min(cfg.launch_backoff_seconds * 2 ** (attempt.transient - 1),
                                           cfg.launch_backoff_max_seconds)
            self._not_before[rid] = now + delay
            row.failure = f"launch retry {attempt.transient}/{cfg.launch_retries} in {delay:g}s: {err}"
            log.info("replica %d: %s", rid, row.failure)
        elif isinstance(err, ProviderError):  # quota, auth, user error, or transient errors exhausted
            self._fail(row, str(err), now)
        else:
            log.error("replica %d: launch raised %s", rid, err, exc_info=err)
            self._fail(row, f"launch failed: {type(err).__name__}: {err}", now)
        self.c.flush()

    def _fail(self, row: ReplicaRecord, message: str, now: float) -> None:
        log.warning("replica %d: FAILED_PROVISION: %s", row.replica_id, message)
        rm.fail_provision(row, message, now)
        self.forget(row.replica_id)
        self.c.flush()
