"""Load-balancing policies: which ready replica gets the next request.

Pure classes (no I/O, no clock). Every policy counts in-flight requests per replica through `Lease`s:
`acquire` increments the chosen replica's counter and returns a lease whose `release` decrements it
exactly once, so a `finally` around the proxied exchange keeps the counts right on errors, client
disconnects and stream ends. Counters are keyed by endpoint and outlive changes of the ready set: a
replica that leaves while requests are in flight keeps its counter until they finish, and one that comes
back resumes its own counter, so counts can never go negative (SkyServe bug #10444).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from skyctl.errors import UserError, did_you_mean


@dataclass(frozen=True)
class Backend:
    """A routable replica. `weight` is its capacity (target QPS of its accelerator) for the
    instance-aware policy; 1.0 when unknown."""

    endpoint: str
    replica_id: int = 0
    weight: float = 1.0


class Lease:
    """One dispatched request on one backend; `release` is idempotent."""

    __slots__ = ("_policy", "backend", "released")

    def __init__(self, policy: Policy, backend: Backend) -> None:
        self._policy, self.backend, self.released = policy, backend, False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._policy._finish(self.backend.endpoint)


class Policy(abc.ABC):
    """Base: the ready set, in-flight counters, and the choice among candidates (`_pick`)."""

    name = ""

    def __init__(self) -> None:
        self._backends: list[Backend] = []
        self._inflight: dict[str, int] = {}

    @property
    def backends(self) -> list[Backend]:
        return list(self._backends)

    def set_backends(self, backends: Sequence[Backend]) -> None:
        """Replace the ready set; counters of replicas still busy are kept whether or not they stay."""
        self._backends = list(backends)
        live = {b.endpoint for b in self._backends}
        self._inflight = {e: n for e, n in self._inflight.items() if n > 0 or e in live}
        for endpoint in live:
            self._inflight.setdefault(endpoint, 0)

    def inflight(self, endpoint: str) -> int:
        return self._inflight.get(endpoint, 0)

    def acquire(self, avoid: Iterable[str] = ()) -> Lease | None:
        """Choose a backend (preferring ones not in `avoid`, e.g. those that just failed) and count the
        request on it; None when the ready set is empty."""
        if not self._backends:
            return None
        avoid = set(avoid)
        candidates = [b for b in self._backends if b.endpoint not in avoid] or self._backends
        backend = self._pick(candidates)
        self._inflight[backend.endpoint] = self._inflight.get(backend.endpoint, 0) + 1
        return Lease(self, backend)

    def _finish(self, endpoint: str) -> None:
        left = self._inflight.get(endpoint, 0) - 1
        if left > 0 or any(b.endpoint == endpoint for b in self._backends):
            self._inflight[endpoint] = max(left, 0)
        else:
            self._inflight.pop(endpoint, None)

    @abc.abstractmethod
    def _pick(self, candidates: list[Backend]) -> Backend:
        """The backend for the next request, among `candidates` (never empty)."""


class RoundRobin(Policy):
    """Each backend in turn. The cursor counts requests, so a set change shifts but never stalls it."""

    name = "round_robin"

    def __init__(self) -> None:
        super().__init__()
        self._next = 0

    def _pick(self, candidates: list[Backend]) -> Backend:
        backend = candidates[self._next % len(candidates)]
        self._next += 1
        return backend


class LeastLoad(Policy):
    """Fewest in-flight requests; ties go to the least recently chosen, so an idle service still
    spreads its load evenly."""

    name = "least_load"

    def __init__(self) -> None:
        super().__init__()
        self._picks = 0
        self._last: dict[str, int] = {}  # endpoint -> sequence number of its last pick

    def set_backends(self, backends: Sequence[Backend]) -> None:
        super().set_backends(backends)
        live = {b.endpoint for b in backends}
        self._last = {e: n for e, n in self._last.items() if e in live}

    def _score(self, backend: Backend) -> float:
        return self._inflight.get(backend.endpoint, 0)

    def _pick(self, candidates: list[Backend]) -> Backend:
        backend = min(candidates, key=lambda b: (self._score(b), self._last.get(b.endpoint, -1)))
        self._picks += 1
        self._last[backend.endpoint] = self._picks
        return backend


class InstanceAwareLeastLoad(LeastLoad):
    """Fewest in-flight requests per unit of capacity (the accelerator's target QPS), so an H100 replica
    with target 10 takes five requests for every one on an L4 with target 2."""

    name = "instance_aware_least_load"

    def _score(self, backend: Backend) -> float:
        # +1: the load the new request would add, so a bigger replica wins ties at zero in-flight.
        return (self._inflight.get(backend.endpoint, 0) + 1) / max(backend.weight, 1e-9)


POLICIES: dict[str, type[Policy]] = {p.name: p for p in (RoundRobin, LeastLoad, InstanceAwareLeastLoad)}


def make_policy(name: str) -> Policy:
    if name not in POLICIES:
        raise UserError("unknown load-balancing policy", field="service.load_balancing_policy", value=name,
                        fix=did_you_mean(name, POLICIES) or f"use one of {', '.join(POLICIES)}")
    return POLICIES[name]()
