"""What a cloud provider remembers about the VMs it launched, on local disk, shared between processes.

Clouds forget: a deleted GCE instance or an evicted Azure VM simply disappears from `list`. The contract
needs more (`list(service)` includes terminal instances; a spot VM gone without our asking is PREEMPTED,
one we deleted is TERMINATED), so each launch writes a record here *before* calling the cloud, and each
terminate writes `stop_reason` *before* deleting (write-ahead). Files: `<root>/<service>/<id>.json`,
replaced atomically; a per-service flock serialises launches of one service across processes.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from providers.local_records import atomic_write_json


@dataclass
class VMRecord:
    """One launched VM. `created` turns true once the cloud accepted the create call."""

    id: str
    service: str
    replica_id: str
    idempotency_key: str
    spot: bool
    region: str
    zone: str
    instance_type: str
    price_per_hour: float | None
    launched_at: float
    port: int
    tags: dict[str, str] = field(default_factory=dict)
    created: bool = False
    stop_reason: str | None = None  # "terminated" once we asked for the delete
    state: str = "pending"  # last observed `State` value; terminal ones are never rewritten
    reason: str | None = None
    ended_at: float | None = None


class Ledger:
    """Records under `root`, one directory per service."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def records(self, service: str | None = None) -> list[VMRecord]:
        pattern = f"{service}/*.json" if service else "*/*.json"
        out = []
        for path in sorted(self.root.glob(pattern)):
            try:
                out.append(VMRecord(**json.loads(path.read_text())))
            except FileNotFoundError:  # removed by a concurrent refused launch
                continue
        return out

    def find(self, instance_id: str) -> VMRecord | None:
        return next((r for r in self.records() if r.id == instance_id), None)

    def by_key(self, service: str, key: str) -> VMRecord | None:
        return next((r for r in self.records(service) if r.idempotency_key == key), None)

    def write(self, rec: VMRecord) -> None:
        atomic_write_json(self._path(rec), asdict(rec))

    def remove(self, rec: VMRecord) -> None:
        """Forget a launch the cloud refused: no instance exists, so `list` must not show one."""
        self._path(rec).unlink(missing_ok=True)

    @contextmanager
    def lock(self, service: str) -> Iterator[None]:
        """Exclusive across processes for one service; the kernel drops it if the holder dies."""
        folder = self.root / service
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def busy(self, service: str) -> bool:
        """Someone (a launch in this or another process) holds the service's lock right now."""
        folder = self.root / service
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False

    def _path(self, rec: VMRecord) -> Path:
        return self.root / rec.service / f"{rec.id}.json"
