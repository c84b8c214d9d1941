"""Provider failures as the error taxonomy defines them: transient launch errors are retried with
backoff, quota errors stop with FAILED_PROVISION and the message, a failing terminate leaves
FAILED_CLEANUP that is retried until it works, and a failed listing judges nobody."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from serve_helpers import Rig, service, spec_dict

from providers.base import Instance, LaunchSpec, QuotaError, TransientError
from providers.local import LocalProvider
from skyctl.serve.config import ControllerConfig


class FlakyLocal(LocalProvider):
    """The real local provider, with scripted failures in front of its calls (a cloud having a bad day)."""

    def __init__(self, root: Path, **failures: int) -> None:
        super().__init__(root, grace_seconds=2.0)
        self.failures = dict(failures)  # call name -> how many more times it fails
        self.calls: dict[str, int] = {}

    def _maybe_fail(self, call: str) -> None:
        self.calls[call] = self.calls.get(call, 0) + 1
        if self.failures.get(call, 0) > 0:
            self.failures[call] -= 1
            if call == "quota":
                raise QuotaError("vCPU limit reached", provider=self.name, quota="local-vcpus")
            raise TransientError(f"{call}: throttled", provider=self.name)

    def launch(self, spec: LaunchSpec) -> Instance:
        self._maybe_fail("launch")
        self._maybe_fail("quota")
        return super().launch(spec)

    def terminate(self, ids: Iterable[str]) -> None:
        self._maybe_fail("terminate")
        super().terminate(ids)

    def list(self, service: str | None = None) -> list[Instance]:
        self._maybe_fail("list")
        return super().list(service)


pytestmark = pytest.mark.usefixtures("serve_home")


@pytest.fixture
def rigs() -> Iterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:
        rig.provider.failures.clear()
        rig.close()


def make(rigs: list[Rig], tmp_path: Path, name: str, config: ControllerConfig | None = None,
         **failures: int) -> Rig:
    root = tmp_path / "home" / "replicas"
    rig = Rig(name, spec_dict(replicas=1), root, provider=FlakyLocal(root, **failures),
              config=config or ControllerConfig(decision_interval_seconds=1.0, launch_backoff_seconds=10,
                                                launch_retries=3, cleanup_retry_seconds=5))
    rigs.append(rig)
    return rig


def test_transient_launch_errors_back_off_then_succeed(rigs: list[Rig], tmp_path: Path) -> None:
    rig = make(rigs, tmp_path, "throttled", launch=2)
    rig.tick()
    row = rig.rows()[0]
    assert row.status == "PROVISIONING" and row.instance_id is None
    assert "launch retry 1/3 in 10s" in row.failure
    rig.tick(9)
    assert rig.provider.calls["launch"] == 1  # nothing before the backoff ends
    rig.tick(2)
    assert rig.provider.calls["launch"] == 2 and "launch retry 2/3 in 20s" in rig.rows()[0].failure
    rig.tick(21)
    assert rig.provider.calls["launch"] == 3
    row = rig.rows()[0]
    assert row.instance_id is not None and row.failure is None and row.launch_attempts == 3
    assert len(rig.live_instances()) == 1  # one instance: every retry used the same idempotency key


def test_transient_errors_beyond_the_retries_fail_the_launch(rigs: list[Rig], tmp_path: Path) -> None:
    rig = make(rigs, tmp_path, "down", launch=100)
    rig.tick(80)
    rows = rig.rows()
    assert rows[0].status == "FAILED_PROVISION" and "throttled" in rows[0].failure
    assert rig.provider.calls["launch"] >= 4 and rig.live_instances() == []


def test_quota_error_stops_with_failed_provision(rigs: list[Rig], tmp_path: Path) -> None:
    rig = make(rigs, tmp_path, "quota", quota=1)
    rig.tick()
    row = rig.rows()[0]
    assert row.status == "FAILED_PROVISION" and row.ended_at is not None
    assert "vCPU limit reached (quota local-vcpus)" in row.failure
    assert "raise the local-vcpus quota" in row.failure
    assert rig.provider.calls["quota"] == 1  # no other zone tried: a quota is account-wide
    assert service(rig.service_id).status == "FAILED"
    rig.tick_until(lambda: "READY" in rig.status_of().values(), "a later replica READY")


def test_failed_terminate_is_failed_cleanup_and_retried(rigs: list[Rig], tmp_path: Path) -> None:
    cfg = ControllerConfig(decision_interval_seconds=1.0, probe_interval_seconds=5,
                           probe_failure_timeout_seconds=20, cleanup_retry_seconds=5)
    rig = make(rigs, tmp_path, "sticky", cfg, terminate=2)
    rig.tick_until(lambda: rig.status_of() == {1: "READY"}, "READY")
    instance = rig.rows()[0].instance_id
    rig.prober.rule = lambda t: False  # probes fail for good: FAILED_PROBING, then a terminate that fails
    rig.tick_until(lambda: rig.status_of()[1] == "FAILED_CLEANUP", "FAILED_CLEANUP", max_ticks=60,
                   real_pause=0)
    row = rig.rows()[0]
    assert "readiness probe failing" in row.failure and "terminate failed" in row.failure
    assert row.ended_at is None
    rig.tick(3)
    assert rig.status_of()[1] == "FAILED_CLEANUP"  # retried every cleanup_retry_seconds, not every tick
    assert instance in [i.id for i in rig.live_instances()]  # it may still bill: never forgotten
    rig.tick_until(lambda: rig.rows()[0].ended_at is not None, "cleaned up", max_ticks=15, real_pause=0)
    assert rig.status_of()[1] == "TERMINATED"
    assert instance not in [i.id for i in rig.live_instances()]
    assert rig.provider.calls["terminate"] == 3


def test_failed_listing_judges_nobody(rigs: list[Rig], tmp_path: Path) -> None:
    rig = make(rigs, tmp_path, "blind")
    rig.tick_until(lambda: rig.status_of() == {1: "READY"}, "READY")
    rig.provider.failures["list"] = 3
    rig.tick(3)
    assert rig.status_of() == {1: "READY"}  # not PREEMPTED/TERMINATED just because the API hiccuped
    assert len(rig.live_instances()) == 1 and len(rig.rows()) == 1
