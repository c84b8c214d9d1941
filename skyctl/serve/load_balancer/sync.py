"""Database <-> load balancer: every `interval` the ready set, policy and API key are read from the
state database and the per-second request counts are added to it.

The database is the bus, so the load balancer never waits on the controller: when a read fails (the file
is locked, moved, or the controller's host is restarting it) the last-known set keeps serving and the
failure is logged once per streak; counts whose write failed are carried to the next flush. All database
work runs in a worker thread so the event loop keeps proxying meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.engine import Engine

from skyctl.errors import UserError
from skyctl.serve.load_balancer.policies import Backend, make_policy
from skyctl.serve.load_balancer.proxy import LoadBalancerApp
from skyctl.spec import TLS, ReplicaPolicy, spec_from_dict
from skyctl.state import get_engine, read_session, serve_repo, write_session

log = logging.getLogger("skyctl.serve.load_balancer")


@dataclass(frozen=True)
class Snapshot:
    """What the load balancer needs from the database, read in one transaction."""

    backends: tuple[Backend, ...]
    policy: str
    api_key_sha256: str | None = None


class Store(Protocol):
    def read(self) -> Snapshot: ...

    def flush(self, counts: Mapping[int, int]) -> None: ...


class DbStore:
    """The real store: `serve_repo` queries on the state database (blocking; call from a thread)."""

    def __init__(self, service_id: int, engine: Engine | None = None) -> None:
        self.service_id, self._engine = service_id, engine
        self._policies: dict[int, ReplicaPolicy] = {}  # parsed version specs; a version never changes

    @property
    def engine(self) -> Engine:
        return self._engine or get_engine()

    def read(self) -> Snapshot:
        with read_session(self.engine) as s:
            service = serve_repo.service_by_id(s, self.service_id)
            if service is None:
                raise LookupError(f"service id {self.service_id} is not in the database")
            rows = serve_repo.routable_replicas(s, self.service_id)
            policy = self._replica_policy(s, service.current_version)
            backends = tuple(Backend(r.endpoint, r.replica_id,
                                     policy.target_qps_for(r.accelerator, r.accelerator_count) or 1.0)
                             for r in rows if r.endpoint)
            return Snapshot(backends, service.load_balancing_policy, service.api_key_sha256)

    def flush(self, counts: Mapping[int, int]) -> None:
        if counts:
            with write_session(self.engine) as s:
                serve_repo.add_request_counts(s, self.service_id, counts)

    def endpoint(self) -> tuple[int | None, TLS | None]:
        """The recorded `lb_port` and the current version's `service.tls`, needed before serving."""
        with read_session(self.engine) as s:
            service = serve_repo.service_by_id(s, self.service_id)
            if service is None:
                raise LookupError(f"service id {self.service_id} is not in the database")
            row = serve_repo.version(s, self.service_id, service.current_version)
            tls = spec_from_dict(row.spec).service.tls if row else None
            return service.lb_port, tls

    def _replica_policy(self, s, number: int) -> ReplicaPolicy:  # type: ignore[no-untyped-def]
        if number not in self._policies:
            row = serve_repo.version(s, self.service_id, number)
            self._policies[number] = (spec_from_dict(row.spec).service.replica_policy if row
                                      else ReplicaPolicy())
        return self._policies[number]


class Syncer:
    """Keeps `app` in step with the store; logs one line per change of the ready set, not per request."""

    def __init__(self, app: LoadBalancerApp, store: Store, interval_s: float = 1.0) -> None:
        self.app, self.store, self.interval_s = app, store, interval_s
        self.failing = False
        self._stop = asyncio.Event()

    async def sync_once(self) -> None:
        await self.flush()
        try:
            snap = await asyncio.to_thread(self.store.read)
        except Exception as exc:  # any database failure: keep serving what we have
            if not self.failing:
                log.error("cannot read the ready set (%s: %s); keeping the last-known %d replica(s)",
                          type(exc).__name__, exc, len(self.app.policy.backends))
            self.failing = True
            return
        if self.failing:
            log.info("database readable again")
        self.failing = False
        self.apply(snap)

    def apply(self, snap: Snapshot) -> None:
        app = self.app
        if snap.policy != app.policy.name:
            try:
                policy = make_policy(snap.policy)
            except UserError as exc:
                log.error("%s; keeping %s", exc, app.policy.name)
            else:
                log.info("load-balancing policy %s -> %s", app.policy.name or "-", policy.name)
                app.policy = policy
        before = app.policy.backends
        if list(snap.backends) != before:
            app.policy.set_backends(snap.backends)
            log.info("ready replicas: %s (was %s)", _describe(snap.backends), _describe(before))
        if snap.api_key_sha256 != app.api_key_sha256:
            log.info("API key %s", "required" if snap.api_key_sha256 else "not required")
            app.api_key_sha256 = snap.api_key_sha256

    async def flush(self) -> None:
        counts = self.app.counter.drain()
        if not counts:
            return
        try:
            await asyncio.to_thread(self.store.flush, counts)
        except Exception as exc:
            self.app.counter.restore(counts)
            log.error("cannot write request counts (%s: %s); will retry", type(exc).__name__, exc)

    async def run(self) -> None:
        """Sync every interval until `stop`, then flush what was counted since the last one."""
        while not self._stop.is_set():
            await self.sync_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval_s)
        await self.flush()

    def stop(self) -> None:
        self._stop.set()


def _describe(backends: list[Backend] | tuple[Backend, ...]) -> str:
    if not backends:
        return "none"
    return ", ".join(f"#{b.replica_id} {b.endpoint}" + (f" w={b.weight:g}" if b.weight != 1.0 else "")
                     for b in backends)
