"""`local`, the embedded default provider: each replica is a process group on 127.0.0.1.

A replica runs `setup` then `run` under a small bash wrapper, in its own session, with `SKYCTL_PORT` (a
free loopback port), `SKYCTL_REPLICA_ID` and `SKYPILOT_SERVE_REPLICA_ID` in its environment. Everything
about it lives in `$SKYCTL_HOME/replicas/<service>/<replica>/`: the JSON record (written atomically before
the process starts, write-ahead), the log, and the files the wrapper itself writes (its pid, "run started",
the exit status), so a restarted controller or the CLI, in another process, can list, poll, preempt and
terminate what an earlier process started, even one killed mid-launch.

Three labelled zones (`local-a`, `local-b`, `local-c` in region `local`) let placement logic run for real;
spot capacity per zone can be limited (`set_spot_capacity`) to rehearse capacity errors, `preempt`
takes a spot replica back exactly as a cloud would (the record says PREEMPTED, not TERMINATED), and
`announce_preemption` gives it the early warning first, as AWS does two minutes before.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from providers import local_process as proc
from providers.base import CapacityError, Instance, LaunchSpec, Location, Provider, ProviderUserError, State
from providers.local_records import InstanceRecord, ReplicaDir, atomic_write_json
from skyctl.home import skyctl_home

CLOUD = REGION = "local"
ZONES = ("local-a", "local-b", "local-c")
INSTANCE_TYPE = "local-process"
# $/h per replica: nothing is billed locally, but a ~3x on-demand/spot ratio and zone-to-zone spread make
# cost reports and "cheapest zone" placement behave as they would on a cloud.
ON_DEMAND_PRICE = 1.0
SPOT_PRICES = {"local-a": 0.30, "local-b": 0.32, "local-c": 0.35}
PREEMPTION_REASON = "local-spot-preemption"
PREEMPTION_NOTICE = "local-spot-preemption-notice"
_ACTIVE = (State.PENDING.value, State.RUNNING.value)  # record states that the process may still change
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")

# The wrapper records its own pid and start time first, so a launcher killed right after fork still leaves
# a findable process; then `setup`, a marker that `run` started, `run`, and the exit status.
_WRAPPER = r"""
read -r -a f < /proc/$$/stat
echo "$$ ${f[21]}" > "$1.tmp" && mv "$1.tmp" "$1"
setup=$_SKYCTL_SETUP run=$_SKYCTL_RUN
unset _SKYCTL_SETUP _SKYCTL_RUN
if [ -n "$setup" ]; then
  bash -c "$setup"; rc=$?
  if [ "$rc" -ne 0 ]; then echo "setup $rc" > "$3"; exit "$rc"; fi
fi
: > "$2"
bash -c "$run"; rc=$?
echo "run $rc" > "$3"
exit "$rc"
"""


class LocalProvider(Provider):
    """Replicas as local process groups; state shared through files under `root`."""

    name = "local"

    def __init__(self, root: Path | None = None, *, clock: Callable[[], float] = time.time,
                 grace_seconds: float = 5.0) -> None:
        self.root = Path(root) if root else skyctl_home() / "replicas"
        self.clock = clock
        self.grace_seconds = grace_seconds
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # -- the Provider interface ------------------------------------------------------------------------
    def check(self) -> tuple[bool, str | None]:
        return True, None

    def locations(self, *, spot: bool) -> list[Location]:
        return [Location(CLOUD, REGION, z) for z in ZONES]

    def price(self, instance_type: str | None, *, spot: bool, region: str | None = None,
              zone: str | None = None) -> float | None:
        if not spot:
            return ON_DEMAND_PRICE
        return SPOT_PRICES[zone] if zone in SPOT_PRICES else min(SPOT_PRICES.values())

    def launch(self, spec: LaunchSpec) -> Instance:
        zone = self._validate(spec)
        rdir = self._replica_dir(spec.service, spec.replica_id)
        with rdir.lock():
            key = spec.idempotency_key
            existing = next((r for r in rdir.records() if r.idempotency_key == key), None)
            if existing and (self._pid(rdir, existing)[0] or existing.stop_reason):
                return self._observe(rdir, existing)
            if spec.spot:
                self._check_spot_capacity(zone)
            if existing:  # the launcher crashed before the process started: start it now, same record
                existing.state, existing.reason, existing.ended_at = State.PENDING.value, None, None
            rec = existing or InstanceRecord(
                id=f"local-{os.urandom(5).hex()}", service=spec.service, replica_id=spec.replica_id,
                idempotency_key=spec.idempotency_key, spot=spec.spot, zone=zone,
                instance_type=spec.instance_type or INSTANCE_TYPE, port=_free_port(),
                price_per_hour=self.price(spec.instance_type, spot=spec.spot, zone=zone),
                launched_at=self.clock(), tags=spec.all_tags())
            rdir.write(rec)  # write-ahead: a crash from here on leaves a record `list` finds
            rec.pid, rec.start_time = self._spawn(spec, rdir, rec)
            rdir.write(rec)
            return self._observe(rdir, rec)

    def list(self, service: str | None = None) -> list[Instance]:
        pattern = f"{service}/*" if service else "*/*"
        out = []
        for path in sorted(self.root.glob(pattern)):
            rdir = ReplicaDir(path)
            out.extend(self._observe(rdir, rec) for rec in rdir.records())
        return out

    def terminate(self, ids: Iterable[str]) -> None:
        for rdir, rec in self._find(set(ids)):
            self._stop(rdir, rec, "terminated")

    def preempt(self, instance_id: str) -> Instance:
        rdir, rec = self._spot_record(instance_id)
        return self._stop(rdir, rec, PREEMPTION_REASON)

    def announce_preemption(self, instance_id: str) -> Instance:
        """Record the notice; the replica keeps running until `preempt` (or our terminate) ends it."""
        rdir, rec = self._spot_record(instance_id)
        with rdir.lock():
            rec = rdir.reload(rec)
            if rec.state in _ACTIVE and rec.warning is None:
                rec.warning = PREEMPTION_NOTICE
                rdir.write(rec)
            return self._observe(rdir, rec)

    # -- local extras ----------------------------------------------------------------------------------
    def set_spot_capacity(self, zone: str, capacity: int | None) -> None:
        """Limit live spot replicas in `zone` (None lifts the limit); shared with other processes."""
        self._zone(zone)
        caps = self._capacities()
        if capacity is None:
            caps.pop(zone, None)
        else:
            caps[zone] = capacity
        atomic_write_json(self.root / "spot_capacity.json", caps)

    def log_path(self, instance_id: str) -> Path | None:
        found = self._find({instance_id})
        return found[0][0].file(instance_id, "log") if found else None

    # -- internals ---------------------------------------------------------------------------------------
    def _spot_record(self, instance_id: str) -> tuple[ReplicaDir, InstanceRecord]:
        found = self._find({instance_id})
        if not found:
            raise ProviderUserError("no local instance with this id", provider=self.name,
                                    field="instance_id", value=instance_id,
                                    fix="pick an id from `skyctl serve status`")
        if not found[0][1].spot:
            raise ProviderUserError("only spot instances can be preempted", provider=self.name,
                                    field="instance_id", value=instance_id, fix="pick a spot replica")
        return found[0]

    def _validate(self, spec: LaunchSpec) -> str:
        for name in ("service", "replica_id"):
            value = getattr(spec, name)
            if not _NAME.fullmatch(value):
                raise ProviderUserError("must be 1-63 letters, digits, '.', '_' or '-'", provider=self.name,
                                        field=name, value=value, fix="rename it")
        if not spec.run:
            raise ProviderUserError("a replica needs a command to run", provider=self.name, field="run",
                                    value=spec.run, fix="set `run:` to a command serving on $SKYCTL_PORT")
        if spec.region not in (None, REGION):
            raise ProviderUserError("unknown local region", provider=self.name, field="region",
                                    value=spec.region, fix=f"use region {REGION!r} or leave it out")
        if spec.workdir and not Path(spec.workdir).is_dir():
            raise ProviderUserError("workdir is not a directory", provider=self.name, field="workdir",
                                    value=spec.workdir, fix="create it or fix the path")
        return self._zone(spec.zone) if spec.zone else ZONES[0]

    def _zone(self, zone: str) -> str:
        if zone not in ZONES:
            raise ProviderUserError("unknown local zone", provider=self.name, field="zone", value=zone,
                                    fix=f"use one of {', '.join(ZONES)}")
        return zone

    def _capacities(self) -> dict[str, int]:
        try:
            return json.loads((self.root / "spot_capacity.json").read_text())
        except FileNotFoundError:
            return {}

    def _check_spot_capacity(self, zone: str) -> None:
        cap = self._capacities().get(zone)
        if cap is None:
            return
        used = sum(1 for i in self.list() if i.spot and i.zone == zone and i.state.live)
        if used >= cap:
            raise CapacityError(f"no spot capacity left ({used}/{cap} in use)", provider=self.name,
                                location=Location(CLOUD, REGION, zone), code="local-spot-capacity")

    def _spawn(self, spec: LaunchSpec, rdir: ReplicaDir, rec: InstanceRecord) -> tuple[int, int | None]:
        env = {**os.environ, **spec.envs, "SKYCTL_PORT": str(rec.port), "SKYCTL_REPLICA_ID": spec.replica_id,
               "SKYPILOT_SERVE_REPLICA_ID": spec.replica_id, "SKYPILOT_NUM_GPUS_PER_NODE": str(spec.num_gpus),
               "SKYCTL_SERVICE": spec.service, "SKYCTL_ZONE": rec.zone,
               "_SKYCTL_SETUP": spec.setup or "", "_SKYCTL_RUN": spec.run or ""}
        side_files = [str(rdir.file(rec.id, suffix)) for suffix in ("pid", "running", "exit")]
        with open(rdir.file(rec.id, "log"), "ab") as log:
            child = subprocess.Popen(
                ["bash", "-c", _WRAPPER, "skyctl-replica", *side_files],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                cwd=spec.workdir or rdir.path, start_new_session=True)
        self._children[child.pid] = child
        return child.pid, proc.start_time(child.pid)

    def _stop(self, rdir: ReplicaDir, rec: InstanceRecord, why: str) -> Instance:
        with rdir.lock():
            rec = rdir.reload(rec)
            current = self._observe(rdir, rec)
            if not current.state.live:
                return current
            rec.stop_reason = why
            rdir.write(rec)  # write-ahead: the stop is ours even if we crash mid-signal
            pid, started = self._pid(rdir, rec)
            if pid:
                proc.stop_group(pid, started, self.grace_seconds, self._reap)
            return self._observe(rdir, rec)

    def _observe(self, rdir: ReplicaDir, rec: InstanceRecord) -> Instance:
        """Derive the state from the process and the wrapper's files; persist transitions under the lock."""
        if rec.state in _ACTIVE and self._derive(rdir, rec)[0].value != rec.state:
            with rdir.lock():
                rec = rdir.reload(rec)
                if rec.state in _ACTIVE:
                    state, rec.reason = self._derive(rdir, rec)
                    rec.state = state.value
                    if not state.live:
                        rec.ended_at = self.clock()
                    rdir.write(rec)
        return Instance(
            id=rec.id, service=rec.service, replica_id=rec.replica_id, state=State(rec.state), spot=rec.spot,
            cloud=CLOUD, region=REGION, zone=rec.zone, instance_type=rec.instance_type,
            endpoint=f"http://127.0.0.1:{rec.port}", price_per_hour=rec.price_per_hour,
            launched_at=rec.launched_at, ended_at=rec.ended_at, reason=rec.reason,
            idempotency_key=rec.idempotency_key, tags=dict(rec.tags),
            warning=rec.warning if State(rec.state).live and not rec.stop_reason else None)

    def _derive(self, rdir: ReplicaDir, rec: InstanceRecord) -> tuple[State, str | None]:
        self._reap()
        pid, started = self._pid(rdir, rec)
        if pid is None:
            if rdir.locked_elsewhere():
                return State.PENDING, None
            return State.FAILED, "launch interrupted before the process started"
        if proc.owns_group(pid, started):
            return (State.RUNNING if rdir.file(rec.id, "running").exists() else State.PENDING), None
        if rec.stop_reason == PREEMPTION_REASON:
            return State.PREEMPTED, PREEMPTION_REASON
        if rec.stop_reason:
            return State.TERMINATED, None
        phase, _, code = (rdir.read(rec.id, "exit") or "").partition(" ")
        if phase == "setup":
            return State.FAILED, f"setup failed: exit {code}"
        if phase == "run":
            return State.FAILED, f"exit {code}"
        return State.FAILED, "process vanished without an exit status"

    def _pid(self, rdir: ReplicaDir, rec: InstanceRecord) -> tuple[int | None, int | None]:
        if rec.pid:
            return rec.pid, rec.start_time
        written = rdir.read(rec.id, "pid")  # the wrapper's own note, if the launcher crashed
        if not written:
            return None, None
        pid, started = written.split()
        return int(pid), int(started)

    def _reap(self) -> None:
        for pid, child in list(self._children.items()):
            if child.poll() is not None:
                del self._children[pid]

    def _find(self, ids: set[str]) -> list[tuple[ReplicaDir, InstanceRecord]]:
        dirs = [ReplicaDir(path) for path in sorted(self.root.glob("*/*"))]
        return [(rdir, rec) for rdir in dirs for rec in rdir.records() if rec.id in ids]

    def _replica_dir(self, service: str, replica_id: str) -> ReplicaDir:
        path = self.root / service / replica_id
        path.mkdir(parents=True, exist_ok=True)
        return ReplicaDir(path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
