"""How `provider.launch` calls are run: inside the tick (default; deterministic on a virtual clock) or on
a bounded thread pool for slow real clouds, whose outcomes the controller applies on later ticks.

Either way a launch is one call for one candidate location; the controller decides what happens next
(record the instance, try the next candidate, back off, fail) when it collects the outcome.
"""

from __future__ import annotations

import concurrent.futures as cf
from dataclasses import dataclass
from typing import Protocol

from providers.base import Instance, LaunchSpec, Provider
from skyctl.serve.types import Candidate


@dataclass(frozen=True)
class LaunchJob:
    replica_id: int
    provider: Provider
    spec: LaunchSpec
    candidate: Candidate


@dataclass(frozen=True)
class LaunchOutcome:
    job: LaunchJob
    instance: Instance | None = None
    error: Exception | None = None


class Launcher(Protocol):
    def submit(self, job: LaunchJob) -> None: ...

    def collect(self) -> list[LaunchOutcome]:
        """Outcomes finished since the last call."""

    def in_flight(self) -> set[int]:
        """Replica ids whose launch was submitted and not collected yet."""

    def close(self) -> None: ...


def _run(job: LaunchJob) -> LaunchOutcome:
    try:
        return LaunchOutcome(job, instance=job.provider.launch(job.spec))
    except Exception as exc:  # every failure is an outcome the controller classifies
        return LaunchOutcome(job, error=exc)


class InlineLauncher:
    """Runs each launch at once, inside the tick."""

    def __init__(self) -> None:
        self._done: list[LaunchOutcome] = []

    def submit(self, job: LaunchJob) -> None:
        self._done.append(_run(job))

    def collect(self) -> list[LaunchOutcome]:
        done, self._done = self._done, []
        return done

    def in_flight(self) -> set[int]:
        return set()

    def close(self) -> None:
        pass


class ThreadLauncher:
    """Runs launches on `workers` threads; a replica has at most one launch in flight."""

    def __init__(self, workers: int) -> None:
        self._pool = cf.ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="launch")
        self._futures: dict[int, cf.Future[LaunchOutcome]] = {}

    def submit(self, job: LaunchJob) -> None:
        self._futures[job.replica_id] = self._pool.submit(_run, job)

    def collect(self) -> list[LaunchOutcome]:
        done = [rid for rid, fut in self._futures.items() if fut.done()]
        return [self._futures.pop(rid).result() for rid in done]

    def in_flight(self) -> set[int]:
        return set(self._futures)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def make_launcher(threads: int) -> Launcher:
    return ThreadLauncher(threads) if threads > 0 else InlineLauncher()
