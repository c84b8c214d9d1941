"""Where the local provider keeps what it knows: one directory per replica, shared between processes.

`$SKYCTL_HOME/replicas/<service>/<replica>/` holds, per instance, `<id>.json` (the record, replaced
atomically), `<id>.log`, and the files the replica's wrapper writes itself: `<id>.pid` (pid and start
time), `<id>.running` (setup done, `run` started) and `<id>.exit` (`setup N` or `run N`). A `.lock` file
serialises changes to one replica across processes; the kernel drops it if its holder is killed.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Replica directories whose lock the current thread holds, so nested use does not deadlock on flock.
_held = threading.local()


@dataclass
class InstanceRecord:
    """What is persisted per instance; `stop_reason` is written before the signal it announces."""

    id: str
    service: str
    replica_id: str
    idempotency_key: str
    spot: bool
    zone: str
    instance_type: str
    port: int
    price_per_hour: float
    launched_at: float
    tags: dict[str, str] = field(default_factory=dict)
    pid: int | None = None
    start_time: int | None = None
    stop_reason: str | None = None  # "terminated" or the preemption reason
    state: str = "pending"  # last observed `State` value
    reason: str | None = None
    ended_at: float | None = None
    warning: str | None = None  # a preemption notice given by `announce_preemption`


@dataclass(frozen=True)
class ReplicaDir:
    """One replica's directory: its instance records, their side files and its lock."""

    path: Path

    def file(self, instance_id: str, suffix: str) -> Path:
        return self.path / f"{instance_id}.{suffix}"

    def read(self, instance_id: str, suffix: str) -> str | None:
        try:
            return self.file(instance_id, suffix).read_text().strip()
        except FileNotFoundError:
            return None

    def records(self) -> list[InstanceRecord]:
        return [InstanceRecord(**json.loads(p.read_text())) for p in sorted(self.path.glob("local-*.json"))]

    def reload(self, rec: InstanceRecord) -> InstanceRecord:
        return InstanceRecord(**json.loads(self.file(rec.id, "json").read_text()))

    def write(self, rec: InstanceRecord) -> None:
        atomic_write_json(self.file(rec.id, "json"), asdict(rec))

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive across processes and re-entrant within this thread."""
        held: set[Path] = _held.__dict__.setdefault("dirs", set())
        if self.path in held:
            yield
            return
        with open(self.path / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            held.add(self.path)
            try:
                yield
            finally:
                held.discard(self.path)
                fcntl.flock(fh, fcntl.LOCK_UN)

    def locked_elsewhere(self) -> bool:
        """Another thread or process holds the lock (e.g. is between writing a record and spawning)."""
        if self.path in _held.__dict__.get("dirs", set()):
            return False
        with open(self.path / ".lock", "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False


def atomic_write_json(path: Path, data: Any) -> None:
    """Readers in other processes see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)
