"""The one interface every cloud sits behind: states, launch input, instances, errors, `Provider`.

The controller sees only these types. Each provider maps its cloud's states onto `State` and its cloud's
failures onto the error taxonomy below, so placement and recovery logic is written once:
`CapacityError` moves the launch to the next location (and marks that location), `QuotaError`,
`ProviderAuthError` and `ProviderUserError` stop and tell the user (they say nothing about the location),
`TransientError` is retried with backoff by the caller.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from skyctl.errors import EXIT_USAGE, Failure

# Tag keys are lowercase `[a-z0-9-]` so that the same keys are legal AWS tags, GCP labels and Azure tags.
TAG_SERVICE = "skyctl-service"
TAG_REPLICA = "skyctl-replica"
TAG_SPOT = "skyctl-spot"


class State(enum.StrEnum):
    """Provider-level instance state; the controller derives its richer replica states from it."""

    PENDING = "pending"  # accepted, booting or running `setup`
    RUNNING = "running"  # `run` has started
    STOPPED = "stopped"  # exists but not running, not by preemption (on-demand stop)
    PREEMPTED = "preempted"  # a spot instance the cloud took back ("not ours": we did not ask)
    TERMINATED = "terminated"  # deleted at our request
    FAILED = "failed"  # the instance or its program ended on its own; `reason` says how

    @property
    def live(self) -> bool:
        """Still holds (and may bill for) resources."""
        return self in (State.PENDING, State.RUNNING, State.STOPPED)


@dataclass(frozen=True)
class Location:
    """A place a replica can run; zone-level so placers can spread over failure domains."""

    cloud: str
    region: str
    zone: str | None = None

    def __str__(self) -> str:
        return "/".join(p for p in (self.cloud, self.region, self.zone) if p)


@dataclass
class LaunchSpec:
    """Everything a provider needs to start one replica, as plain data (the controller converts specs).

    `idempotency_key` is chosen by the controller and written to its database before `launch` is
    called; launching again with the same key returns the instance already started for it.
    """

    service: str
    replica_id: str
    idempotency_key: str
    spot: bool = False
    region: str | None = None
    zone: str | None = None
    instance_type: str | None = None
    accelerators: dict[str, int] = field(default_factory=dict)
    setup: str | None = None
    run: str | None = None
    envs: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None
    image_id: str | None = None
    disk_size_gb: int | None = None
    ports: list[int] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def num_gpus(self) -> int:
        return sum(self.accelerators.values())

    def all_tags(self) -> dict[str, str]:
        """The user's tags plus ours; ours win so `list` by service can always find the instance."""
        return {**self.tags, TAG_SERVICE: self.service, TAG_REPLICA: self.replica_id,
                TAG_SPOT: str(self.spot).lower()}


@dataclass
class Instance:
    """One launched instance as the provider sees it now."""

    id: str
    service: str
    replica_id: str
    state: State
    spot: bool
    cloud: str
    region: str
    zone: str | None
    instance_type: str | None = None
    endpoint: str | None = None
    price_per_hour: float | None = None  # at launch time, for the cost report
    launched_at: float | None = None
    ended_at: float | None = None
    reason: str | None = None  # e.g. "exit 3", "local-spot-preemption", "Server.SpotInstanceTermination"
    idempotency_key: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # The cloud announced it will take this (still live) spot instance back, and how it said so, e.g.
    # "marked-for-termination: ..." from AWS's spot request status. None: no notice (or the cloud's API
    # gives none; GCP and Azure announce inside the VM only). The controller stops routing to it at once.
    warning: str | None = None

    @property
    def location(self) -> Location:
        return Location(self.cloud, self.region, self.zone)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        return data


class ProviderError(Failure):
    """A cloud refused or failed an operation. Subclasses say what the controller should do next."""

    marks_location = False  # True: the placer should avoid this location for a while
    retryable = False  # True: the same call may succeed if repeated after a backoff

    def __init__(self, message: str, *, provider: str, location: Location | None = None,
                 code: str | None = None, fix: str | None = None) -> None:
        self.provider, self.location, self.code, self.fix = provider, location, code, fix
        where = f"{provider} {location}" if location else provider
        detail = f" [{code}]" if code else ""
        super().__init__(f"{where}: {message}{detail}" + (f"; {fix}" if fix else ""))


class CapacityError(ProviderError):
    """No capacity for this shape here (InsufficientInstanceCapacity, ZONE_RESOURCE_POOL_EXHAUSTED,
    SkuNotAvailable): try the next location."""

    marks_location = True


class QuotaError(ProviderError):
    """An account limit was hit; another zone of the same account will not help, the user must act."""

    def __init__(self, message: str, *, provider: str, quota: str, location: Location | None = None,
                 code: str | None = None, fix: str | None = None) -> None:
        self.quota = quota
        super().__init__(f"{message} (quota {quota})", provider=provider, location=location, code=code,
                         fix=fix or f"raise the {quota} quota or use another account")


class ProviderAuthError(ProviderError):
    """Credentials are missing, expired or lack a permission."""


class ProviderUserError(ProviderError):
    """The launch request is wrong (unknown zone, bad image, missing workdir); exit 2 like UserError."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, provider: str, field: str, value: Any, fix: str,
                 location: Location | None = None, code: str | None = None) -> None:
        self.field, self.value = field, value
        super().__init__(f"{field}: {message} (got {value!r})", provider=provider, location=location,
                         code=code, fix=fix)


class TransientError(ProviderError):
    """Throttling, 5xx, a dropped connection: retry the same call later (`retry_after` seconds if known)."""

    retryable = True

    def __init__(self, message: str, *, provider: str, retry_after: float | None = None,
                 location: Location | None = None, code: str | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, provider=provider, location=location, code=code)


class Provider(abc.ABC):
    """A cloud (or the local machine) that can run replicas.

    Contract every implementation keeps (checked by `tests/providers/test_provider_contract.py`):
    - `launch` tags the instance with the service and replica id and is idempotent per `idempotency_key`;
    - `list(service)` finds every instance ever launched for that service, also from a new process;
    - `terminate` is idempotent and ignores unknown ids; after it, `status` says TERMINATED;
    - a spot instance that goes away without our asking is PREEMPTED, never TERMINATED.
    """

    name: str

    @abc.abstractmethod
    def check(self) -> tuple[bool, str | None]:
        """Whether this provider can be used now, and if not, why (no network unless the cloud needs it)."""

    @abc.abstractmethod
    def locations(self, *, spot: bool) -> list[Location]:
        """Zones that can host a replica; placers choose among them."""

    @abc.abstractmethod
    def price(self, instance_type: str | None, *, spot: bool, region: str | None = None,
              zone: str | None = None) -> float | None:
        """$/hour of one instance there, or None when the provider has no price for it."""

    @abc.abstractmethod
    def launch(self, spec: LaunchSpec) -> Instance:
        """Start one replica (or return the one already started under `spec.idempotency_key`)."""

    @abc.abstractmethod
    def list(self, service: str | None = None) -> list[Instance]:
        """Instances carrying our service tag (all services when None), terminal ones included."""

    @abc.abstractmethod
    def terminate(self, ids: Iterable[str]) -> None:
        """Delete these instances; unknown or already terminated ids are not an error."""

    def probe(self, timeout: float = 5.0) -> str:
        """One identity call to the cloud (`skyctl check --probe`), within `timeout` seconds: who the
        credentials are (an ARN, account or e-mail). Raises ProviderAuthError when they are refused,
        TransientError when the cloud cannot be reached. Providers without a cloud answer locally."""
        ok, reason = self.check()
        if not ok:
            raise ProviderAuthError(reason or "not usable", provider=self.name)
        return self.name

    def status(self, ids: Iterable[str]) -> dict[str, Instance]:
        """The current view of these ids; ids the provider does not know are absent."""
        want = set(ids)
        return {inst.id: inst for inst in self.list() if inst.id in want}

    def log_path(self, instance_id: str) -> Path | None:
        """Where this instance's output is readable from here; None where it stays on the machine."""
        return None

    def preempt(self, instance_id: str) -> Instance:
        """Take a spot instance back as the cloud would; only test and local providers can."""
        raise ProviderUserError("preempting on request is not supported by this provider",
                                provider=self.name, field="provider", value=self.name,
                                fix="use the local or sim provider to rehearse a preemption")

    def announce_preemption(self, instance_id: str) -> Instance:
        """Give a live spot instance the cloud's early warning (`Instance.warning`) without taking it
        yet, as a cloud does minutes before a preemption; only test and local providers can."""
        raise ProviderUserError("announcing a preemption on request is not supported by this provider",
                                provider=self.name, field="provider", value=self.name,
                                fix="use the local provider to rehearse a preemption notice")
