"""The immutable, validated spec objects the controller works from.

`ServiceSpec.to_dict()` is a normalised service YAML (every default filled in, resources expanded to
their launch candidates) that parses back to an equal spec, so it is what `serve validate --json`
prints and what the state database stores; `version` hashes it to detect updates.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

# SkyPilot's defaults (sky/serve/constants.py, sky/resources.py).
DEFAULT_READINESS_PATH = "/"
DEFAULT_INITIAL_DELAY_SECONDS = 1200
DEFAULT_PROBE_TIMEOUT_SECONDS = 15
DEFAULT_MIN_REPLICAS = 1
DEFAULT_UPSCALE_DELAY_SECONDS = 300
DEFAULT_DOWNSCALE_DELAY_SECONDS = 1200
DEFAULT_LB_POLICY = "least_load"
DEFAULT_DISK_SIZE_GB = 256
LB_POLICIES = ("least_load", "round_robin", "instance_aware_least_load")
# `dynamic_fallback` is SkyPilot's SpotHedge placer; `skyctl` is our availability-aware one.
SPOT_PLACERS = ("dynamic_fallback", "skyctl")
# Set on every replica by the controller/provider, so a task may not define them.
INJECTED_ENVS = ("SKYCTL_PORT", "SKYPILOT_SERVE_REPLICA_ID", "SKYPILOT_NUM_GPUS_PER_NODE")


class FrozenMap(dict):
    """A dict that refuses changes, so the maps inside a spec are as immutable as the spec itself
    (a controller adding `SKYCTL_PORT` to `task.envs` would otherwise change every later replica)."""

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("spec objects are immutable; build a changed copy with dataclasses.replace")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda kv: kv[0])))

    def __reduce__(self) -> tuple[Any, ...]:  # pickle and deepcopy rebuild it from a plain dict
        return (FrozenMap, (dict(self),))


def _freeze(obj: object, *names: str) -> None:
    """Swap the named mapping fields of a frozen dataclass for FrozenMaps (from __post_init__)."""
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, Mapping) and not isinstance(value, FrozenMap):
            object.__setattr__(obj, name, FrozenMap(value))


def _num(value: float) -> int | float:
    """2.0 -> 2 so normalised output reads like the YAML a person writes."""
    return int(value) if float(value).is_integer() else value


@dataclass(frozen=True)
class Amount:
    """A resource size: `value` exactly, or at least `value` when written `N+` (cpus, memory GB)."""

    value: float
    at_least: bool = False

    def __str__(self) -> str:
        return f"{_num(self.value)}{'+' if self.at_least else ''}"

    def allows(self, offered: float) -> bool:
        """Whether an instance offering `offered` satisfies the request."""
        return offered >= self.value if self.at_least else offered == self.value


@dataclass(frozen=True)
class Resources:
    """One launch candidate: a location (any part may be open) and the machine it needs."""

    cloud: str | None = None
    region: str | None = None
    zone: str | None = None
    accelerator: str | None = None
    accelerator_count: float = 0
    use_spot: bool = False
    cpus: Amount | None = None
    memory: Amount | None = None
    disk_size: int = DEFAULT_DISK_SIZE_GB
    disk_tier: str | None = None
    instance_type: str | None = None
    image_id: str | Mapping[str, str] | None = None
    ports: tuple[int, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _freeze(self, "labels", "image_id")

    @property
    def accelerators(self) -> dict[str, int | float]:
        """SkyPilot's `{name: count}` view; empty for CPU-only candidates."""
        return {self.accelerator: _num(self.accelerator_count)} if self.accelerator else {}

    @property
    def location(self) -> tuple[str | None, str | None, str | None]:
        return (self.cloud, self.region, self.zone)

    def without_location(self) -> Resources:
        """The machine part only: spot placers require it to be the same for every candidate."""
        return replace(self, cloud=None, region=None, zone=None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cloud": self.cloud, "region": self.region, "zone": self.zone,
            "accelerators": self.accelerators or None, "use_spot": self.use_spot,
            "cpus": str(self.cpus) if self.cpus else None,
            "memory": str(self.memory) if self.memory else None,
            "disk_size": self.disk_size, "disk_tier": self.disk_tier,
            "instance_type": self.instance_type,
            "image_id": dict(self.image_id) if isinstance(self.image_id, Mapping) else self.image_id,
            "ports": list(self.ports) or None, "labels": dict(self.labels) or None,
        }
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class ReadinessProbe:
    path: str = DEFAULT_READINESS_PATH
    initial_delay_seconds: float = DEFAULT_INITIAL_DELAY_SECONDS
    timeout_seconds: float = DEFAULT_PROBE_TIMEOUT_SECONDS
    post_data: Any = None  # parsed JSON body; when set the probe is a POST
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _freeze(self, "headers")

    def __hash__(self) -> int:  # explicit: `post_data` is a JSON body, possibly nested dicts
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    @property
    def method(self) -> str:
        return "GET" if self.post_data is None else "POST"

    def describe(self) -> str:
        """`GET /health` / `POST /v1/completions {...} with custom headers` like `sky serve up`."""
        body = "" if self.post_data is None else " " + json.dumps(self.post_data)
        return f"{self.method} {self.path}{body}{' with custom headers' if self.headers else ''}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "initial_delay_seconds": self.initial_delay_seconds,
                               "timeout_seconds": self.timeout_seconds}
        if self.post_data is not None:
            out["post_data"] = self.post_data
        if self.headers:
            out["headers"] = dict(self.headers)
        return out


@dataclass(frozen=True)
class ReplicaPolicy:
    min_replicas: int = DEFAULT_MIN_REPLICAS
    max_replicas: int | None = None
    # A number, or per-accelerator targets keyed `NAME` (any count) or `NAME:COUNT`.
    target_qps_per_replica: float | Mapping[str, float] | None = None
    upscale_delay_seconds: float = DEFAULT_UPSCALE_DELAY_SECONDS
    downscale_delay_seconds: float = DEFAULT_DOWNSCALE_DELAY_SECONDS
    num_overprovision: int = 0
    base_ondemand_fallback_replicas: int = 0
    dynamic_ondemand_fallback: bool = False
    spot_placer: str | None = None

    def __post_init__(self) -> None:
        _freeze(self, "target_qps_per_replica")

    @property
    def autoscaling(self) -> bool:
        return self.target_qps_per_replica is not None

    @property
    def effective_max_replicas(self) -> int:
        return self.min_replicas if self.max_replicas is None else self.max_replicas

    @property
    def instance_aware(self) -> bool:
        return isinstance(self.target_qps_per_replica, Mapping)

    @property
    def use_ondemand_fallback(self) -> bool:
        """SkyPilot's switch to the fallback autoscaler."""
        return self.dynamic_ondemand_fallback or self.base_ondemand_fallback_replicas > 0

    def target_qps_for(self, accelerator: str | None, count: float) -> float | None:
        """The per-replica QPS target of a replica with this accelerator (exact `NAME:COUNT` first)."""
        target = self.target_qps_per_replica
        if not isinstance(target, Mapping):
            return target
        if accelerator is None:
            return None
        return target.get(f"{accelerator}:{_num(count)}", target.get(accelerator))

    def describe(self) -> str:
        """The one-line summary `sky serve up` prints."""
        if not self.autoscaling or self.effective_max_replicas == self.min_replicas:
            return f"Fixed {self.min_replicas} replica{'' if self.min_replicas == 1 else 's'}"
        extra = f" with {self.num_overprovision} overprovisioned" if self.num_overprovision else ""
        return (f"Autoscaling from {self.min_replicas} to {self.max_replicas} replicas{extra} "
                f"(target QPS per replica: {self.target_qps_per_replica})")

    def spot_policy(self) -> str:
        """'SpotHedge', 'Dynamic on-demand fallback', ... as `sky serve up` names it."""
        if self.dynamic_ondemand_fallback and self.spot_placer:
            suffix = "" if self.spot_placer == "dynamic_fallback" else f" ({self.spot_placer} placer)"
            return f"SpotHedge{suffix}"
        parts = []
        if self.dynamic_ondemand_fallback:
            parts.append("Dynamic on-demand fallback")
        if self.base_ondemand_fallback_replicas:
            parts.append(f"{self.base_ondemand_fallback_replicas} base on-demand")
        if self.spot_placer:
            parts.append(f"{self.spot_placer} spot placer")
        return ", ".join(parts) or "No spot policy"

    def to_dict(self) -> dict[str, Any]:
        target = self.target_qps_per_replica
        out: dict[str, Any] = {
            "min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
            "target_qps_per_replica": dict(target) if isinstance(target, Mapping) else target,
            "upscale_delay_seconds": self.upscale_delay_seconds,
            "downscale_delay_seconds": self.downscale_delay_seconds,
            "num_overprovision": self.num_overprovision,
            "base_ondemand_fallback_replicas": self.base_ondemand_fallback_replicas,
            "dynamic_ondemand_fallback": self.dynamic_ondemand_fallback,
            "spot_placer": self.spot_placer,
        }
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class TLS:
    keyfile: str
    certfile: str


@dataclass(frozen=True)
class ServicePolicy:
    """The `service:` section. `ports` is the resolved port every replica serves on; None only when
    every candidate is `cloud: local`, whose provider gives each replica a free port in `$SKYCTL_PORT`."""

    readiness_probe: ReadinessProbe
    replica_policy: ReplicaPolicy
    ports: int | None = None
    load_balancing_policy: str = DEFAULT_LB_POLICY
    tls: TLS | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"readiness_probe": self.readiness_probe.to_dict(),
                               "replica_policy": self.replica_policy.to_dict(),
                               "load_balancing_policy": self.load_balancing_policy}
        if self.ports is not None:
            out["ports"] = self.ports
        if self.tls:
            out["tls"] = {"keyfile": self.tls.keyfile, "certfile": self.tls.certfile}
        return out


@dataclass(frozen=True)
class TaskSpec:
    """What runs on each replica. `resources` are the expanded launch candidates, best first when
    `ordered` (from `ordered:` or an accelerator list), otherwise equally acceptable."""

    resources: tuple[Resources, ...]
    run: str
    ordered: bool = False
    envs: Mapping[str, str | None] = field(default_factory=dict)
    setup: str | None = None
    workdir: str | None = None

    def __post_init__(self) -> None:
        _freeze(self, "envs")

    @property
    def missing_envs(self) -> list[str]:
        """Envs declared without a value (`HF_TOKEN:`): `serve up` must be given them."""
        return [k for k, v in self.envs.items() if v is None]

    def to_dict(self) -> dict[str, Any]:
        """The task fields of the normalised YAML (resources as one dict or an any_of/ordered list)."""
        cands = [r.to_dict() for r in self.resources]
        resources = cands[0] if len(cands) == 1 else {"ordered" if self.ordered else "any_of": cands}
        out: dict[str, Any] = {"resources": resources, "envs": dict(self.envs) or None,
                               "setup": self.setup, "run": self.run, "workdir": self.workdir}
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class ServiceSpec:
    service: ServicePolicy
    task: TaskSpec
    name: str | None = None
    source: str | None = field(default=None, compare=False)  # the file it came from, for messages

    def to_dict(self) -> dict[str, Any]:
        """Normalised service YAML; `parse_service_spec(spec.to_dict())` gives an equal spec."""
        head = {"name": self.name} if self.name else {}
        return {**head, "service": self.service.to_dict(), **self.task.to_dict()}

    @property
    def version(self) -> str:
        """Content hash (name excluded): a changed value means `serve update` has work to do."""
        body = self.to_dict()
        body.pop("name", None)
        return _digest(body)

    @property
    def replica_digest(self) -> str:
        """Hash of what a replica runs (task and serving port, not probe or scaling policy): replicas of
        an old version with the same digest can be kept across `serve update`, as SkyPilot does."""
        return _digest({**self.task.to_dict(), "port": self.service.ports})


def _digest(data: Mapping[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
