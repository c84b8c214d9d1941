"""A service with an instance-aware spec and READY replicas in a real SQLite state database."""

from __future__ import annotations

import textwrap
from pathlib import Path

from skyctl.spec import load_service_spec
from skyctl.state import serve_repo, write_session
from skyctl.state.serve_tables import ServiceRecord, ServiceVersion

SPEC = """\
service:
  readiness_probe: /health
  replica_policy:
    min_replicas: 1
    max_replicas: 4
    target_qps_per_replica: {"H100": 10, "L4": 2}
  load_balancing_policy: instance_aware_least_load
resources:
  cloud: local
  accelerators: {H100: 1, L4: 1}
run: sleep 1
"""


def make_service(tmp: Path, *, lb_port: int | None = None, api_key_sha256: str | None = None,
                 policy: str = "instance_aware_least_load") -> int:
    path = tmp / "svc.yaml"
    path.write_text(textwrap.dedent(SPEC))
    spec = load_service_spec(path)
    with write_session() as s:
        svc = ServiceRecord(name="lbtest", status="READY", created_at=1.0, lb_port=lb_port,
                            load_balancing_policy=policy, api_key_sha256=api_key_sha256)
        s.add(svc)
        s.flush()
        serve_repo.add_version(s, ServiceVersion(service_id=svc.id, version=1, spec=spec.to_dict(),
                                                 spec_hash=spec.version, replica_digest=spec.replica_digest,
                                                 created_at=1.0))
        return svc.id


def add_replica(service_id: int, endpoint: str, accelerator: str = "H100", status: str = "READY") -> int:
    with write_session() as s:
        svc = serve_repo.service_by_id(s, service_id)
        row = serve_repo.new_replica(s, svc, version=1, status=status, idempotency_key=endpoint,
                                     endpoint=endpoint, accelerator=accelerator, accelerator_count=1,
                                     created_at=1.0)
        return row.replica_id


def set_status(service_id: int, replica_id: int, status: str) -> None:
    with write_session() as s:
        serve_repo.replica(s, service_id, replica_id).status = status
