"""`gcp`: replicas as Compute Engine VMs through google-cloud-compute (REST transport), imported lazily.

Spot VMs use `scheduling.provisioningModel=SPOT` with `instanceTerminationAction` (DELETE by default, so a
preempted VM leaves no billed disk; STOP keeps it TERMINATED). Launches are idempotent twice over: the VM
name derives from the idempotency key and the insert carries a `requestId` derived from key and zone.
Our own deletes first set the label `skyctl-stop=terminated` (and the ledger's stop reason), so a spot VM
that stops or vanishes without it is PREEMPTED, with `compute.instances.preempted` as the reason when the
zone's operations log confirms it.

Configuration: project from `project=`, `SKYCTL_GCP_PROJECT`, `GOOGLE_CLOUD_PROJECT` or
`CLOUDSDK_CORE_PROJECT`; `SKYCTL_GCP_ENDPOINT` (e.g. http://127.0.0.1:8481, `providers.fakes.gce`)
redirects every call and uses anonymous credentials. Operations are polled through our own
ZoneOperationsClient because `ExtendedOperation.result()` ignores the endpoint override.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from typing import Any

from providers import credentials
from providers.aws.startup import startup_script
from providers.base import (
    TAG_REPLICA,
    TAG_SERVICE,
    CapacityError,
    LaunchSpec,
    Location,
    ProviderAuthError,
    ProviderError,
    ProviderUserError,
    QuotaError,
    State,
    TransientError,
)
from providers.vm_base import CloudVMProvider, Seen
from providers.vm_ledger import VMRecord
from skyctl.catalog import Offering

ENDPOINT_ENV = "SKYCTL_GCP_ENDPOINT"
PROJECT_ENVS = ("SKYCTL_GCP_PROJECT", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")
# Deep Learning VM image family: CUDA, drivers and Python preinstalled; `image_id` overrides it.
DEFAULT_IMAGE = "projects/deeplearning-platform-release/global/images/family/common-cu124-debian-11-py310"
STOP_LABEL = "skyctl-stop"
PREEMPTED_OP = "compute.instances.preempted"
CAPACITY_CODES = {"ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
                  "RESOURCE_POOL_EXHAUSTED", "STOCKOUT"}
QUOTA_CODES = {"QUOTA_EXCEEDED", "quotaExceeded", "rateLimitExceeded:quota"}
# N1 machines take GPUs as guestAccelerators; a2/a3/g2 machine types come with theirs.
ACCELERATORS = {"T4": "nvidia-tesla-t4", "V100": "nvidia-tesla-v100", "P100": "nvidia-tesla-p100",
                "P4": "nvidia-tesla-p4"}
_LIVE = {"PROVISIONING": State.PENDING, "STAGING": State.PENDING, "REPAIRING": State.PENDING,
         "RUNNING": State.RUNNING}
_AUTH_FIX = ("run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS to a "
             "service-account key with the Compute Instance Admin role) and check the project")


class OperationError(Exception):
    """A zone operation finished with errors (capacity, quota...); the first code decides the mapping."""

    def __init__(self, zone: str, errors: list[tuple[str, str]]) -> None:
        self.zone, self.errors = zone, errors
        super().__init__("; ".join(f"{c}: {m}" for c, m in errors))


class GCPProvider(CloudVMProvider):
    name = "gcp"

    def __init__(self, root: Any = None, *, project: str | None = None, endpoint: str | None = None,
                 spot_termination_action: str = "DELETE", timeout: float = 30.0, **options: Any) -> None:
        super().__init__(root, **options)
        self.endpoint = endpoint or os.environ.get(ENDPOINT_ENV) or None
        self.project = project or next((os.environ[e] for e in PROJECT_ENVS if os.environ.get(e)), None)
        self.spot_termination_action = spot_termination_action
        self.timeout = timeout
        self._rpc = {"timeout": timeout, "retry": None}  # our own bounded retry (providers.retry) decides
        self._sdk: tuple[Any, Any, Any] | None = None

    def check(self) -> tuple[bool, str | None]:
        """Local look only: an endpoint override needs no credentials; otherwise ADC and a project."""
        if self.endpoint:
            return (True, None) if self.project else (False, f"no GCP project: set {PROJECT_ENVS[1]}")
        info = credentials.detect("gcp")
        if not info.found:
            return False, info.reason
        self.project = self.project or info.account
        return True, None

    # -- hooks of CloudVMProvider ----------------------------------------------------------------------------
    def _all_places(self) -> list[tuple[str, str, list[Offering]]]:
        places: dict[tuple[str, str], list[Offering]] = {}
        for o in self._offerings():
            if o.zone:
                places.setdefault((o.region, o.zone), []).append(o)
        return [(r, z, offers) for (r, z), offers in sorted(places.items())]

    def _create(self, rec: VMRecord, spec: LaunchSpec) -> None:
        c, instances, _ = self._clients()
        body = self._instance(c, rec, spec)
        request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"skyctl:{spec.idempotency_key}:{rec.zone}"))
        try:
            op = instances.insert(request=c.InsertInstanceRequest(
                project=self.project, zone=rec.zone, instance_resource=body, request_id=request_id),
                **self._rpc)
        except _conflict() as exc:  # the deterministic name exists already: an earlier try created it
            if "alreadyExists" not in str(exc) and "already exists" not in str(exc):
                raise
            return
        self._wait(rec.zone, op.name)

    def _seen(self, service: str | None) -> dict[str, Seen]:
        c, instances, _ = self._clients()
        flt = f'labels.{TAG_SERVICE} = "{label_value(service)}"' if service else None
        request = c.AggregatedListInstancesRequest(project=self.project, filter=flt)
        out = {}
        for scope, scoped in instances.aggregated_list(request=request, **self._rpc):
            for inst in scoped.instances:
                labels = dict(inst.labels)
                if TAG_SERVICE not in labels:
                    continue
                zone = scope.rsplit("/", 1)[-1]
                spot = inst.scheduling.provisioning_model == "SPOT"
                nat = [ac.nat_i_p for nic in inst.network_interfaces for ac in nic.access_configs
                       if ac.nat_i_p]
                state = _LIVE.get(inst.status, State.STOPPED)
                out[inst.name] = Seen(
                    id=inst.name, service=labels[TAG_SERVICE], replica_id=labels.get(TAG_REPLICA, ""),
                    state=state, spot=spot, region=zone.rsplit("-", 1)[0], zone=zone,
                    instance_type=inst.machine_type.rsplit("/", 1)[-1], tags=labels,
                    host=nat[0] if nat else None, ours_stopped=labels.get(STOP_LABEL) == "terminated",
                    reason=None if spot or state != State.STOPPED else inst.status)
        return out

    def _delete(self, rec: VMRecord) -> None:
        c, instances, _ = self._clients()
        try:
            inst = instances.get(project=self.project, zone=rec.zone, instance=rec.id, **self._rpc)
            labels = {**dict(inst.labels), STOP_LABEL: "terminated"}
            op = instances.set_labels(project=self.project, zone=rec.zone, instance=rec.id,
                                      instances_set_labels_request_resource=c.InstancesSetLabelsRequest(
                                          labels=labels, label_fingerprint=inst.label_fingerprint),
                                      **self._rpc)
            self._wait(rec.zone, op.name)
            op = instances.delete(project=self.project, zone=rec.zone, instance=rec.id, **self._rpc)
            self._wait(rec.zone, op.name)
        except _not_found():
            return

    def _vanished_reason(self, rec: VMRecord) -> str:
        c, _, ops = self._clients()
        request = c.ListZoneOperationsRequest(project=self.project, zone=rec.zone,
                                              filter=f'operationType = "{PREEMPTED_OP}"')
        try:
            hits = [o for o in ops.list(request=request, **self._rpc)
                    if o.target_link.rsplit("/", 1)[-1] == rec.id]
        except Exception as exc:  # the reason is detail; a failed lookup must not hide the preemption
            return f"spot VM stopped or gone without a delete from skyctl (operations lookup failed: {exc})"
        return PREEMPTED_OP if hits else "spot VM stopped or gone without a delete from skyctl"

    def _translate(self, exc: Exception) -> ProviderError | None:
        from google.api_core import exceptions as gex

        if isinstance(exc, OperationError):
            code, message = exc.errors[0]
            where = Location(self.name, exc.zone.rsplit("-", 1)[0], exc.zone)
            if code in CAPACITY_CODES:
                return CapacityError(message, provider=self.name, location=where, code=code)
            if code in QUOTA_CODES or "Quota" in message:
                found = re.search(r"Quota '([A-Z0-9_]+)'", message)
                return QuotaError(message, provider=self.name, quota=found.group(1) if found else code,
                                  location=where, code=code)
            return ProviderError(message, provider=self.name, location=where, code=code)
        if isinstance(exc, gex.GoogleAPICallError):
            code = exc.code if isinstance(exc.code, int) else 0
            reasons = {e.get("reason") for e in (exc.errors or []) if isinstance(e, dict)}
            if code == 429 or code >= 500:
                return TransientError(exc.message, provider=self.name, code=str(code),
                                      retry_after=_retry_after(exc))
            if reasons & {"quotaExceeded", "QUOTA_EXCEEDED"}:
                return QuotaError(exc.message, provider=self.name, quota=next(iter(reasons)), code=str(code))
            if code in (401, 403):
                return ProviderAuthError(exc.message, provider=self.name, code=str(code), fix=_AUTH_FIX)
            if code == 400:
                return ProviderUserError(exc.message, provider=self.name, field="instance", value=None,
                                         fix="check image_id, instance_type and labels", code="400")
        import requests

        if isinstance(exc, requests.RequestException):
            return TransientError(f"cannot reach {self.endpoint or 'compute.googleapis.com'}: {exc}",
                                  provider=self.name, code="connection")
        return None

    # -- GCP specifics ---------------------------------------------------------------------------------------
    def _clients(self) -> tuple[Any, Any, Any]:
        if self._sdk is None:
            if not self.project:
                raise ProviderAuthError("no GCP project configured", provider=self.name,
                                        fix=f"set {PROJECT_ENVS[1]} or {PROJECT_ENVS[0]}")
            from google.api_core.client_options import ClientOptions
            from google.cloud import compute_v1 as c

            if self.endpoint:
                from google.auth.credentials import AnonymousCredentials

                creds, opts = AnonymousCredentials(), ClientOptions(api_endpoint=self.endpoint)
            else:
                import google.auth

                try:
                    creds, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
                except google.auth.exceptions.DefaultCredentialsError as exc:
                    raise ProviderAuthError(str(exc), provider=self.name, fix=_AUTH_FIX) from exc
                opts = None
            kw = {"credentials": creds, "client_options": opts, "transport": "rest"}
            self._sdk = (c, c.InstancesClient(**kw), c.ZoneOperationsClient(**kw))
        return self._sdk

    def _wait(self, zone: str, op_name: str, deadline_s: float = 900.0) -> None:
        """Poll the zone operation ourselves (`wait` blocks server-side up to ~2 min per call)."""
        c, _, ops = self._clients()
        start = time.monotonic()
        while time.monotonic() - start < deadline_s:
            op = ops.wait(project=self.project, zone=zone, operation=op_name, retry=None,
                          timeout=self.timeout + 120)
            if op.status == c.Operation.Status.DONE:
                if op.error and op.error.errors:
                    raise OperationError(zone, [(e.code, e.message) for e in op.error.errors])
                return
        raise TransientError(f"operation {op_name} not done after {deadline_s:.0f}s", provider=self.name,
                             location=Location(self.name, zone.rsplit("-", 1)[0], zone), code="timeout")

    def _instance(self, c: Any, rec: VMRecord, spec: LaunchSpec) -> Any:
        offer = next(o for o in self._offerings() if o.instance_type == rec.instance_type)
        gpus = []
        if rec.instance_type.startswith("n1-") and offer.gpu in ACCELERATORS:
            kind = f"zones/{rec.zone}/acceleratorTypes/{ACCELERATORS[offer.gpu]}"
            gpus = [c.AcceleratorConfig(accelerator_type=kind, accelerator_count=offer.gpu_count)]
        if rec.spot:
            sched = c.Scheduling(provisioning_model="SPOT", automatic_restart=False,
                                 instance_termination_action=self.spot_termination_action,
                                 on_host_maintenance="TERMINATE")
        else:
            sched = c.Scheduling(provisioning_model="STANDARD", automatic_restart=True,
                                 on_host_maintenance="TERMINATE")
        disk = c.AttachedDisk(boot=True, auto_delete=True, initialize_params=c.AttachedDiskInitializeParams(
            source_image=spec.image_id or DEFAULT_IMAGE, disk_size_gb=spec.disk_size_gb or 100))
        nic = c.NetworkInterface(network="global/networks/default",
                                 access_configs=[c.AccessConfig(name="External NAT", type_="ONE_TO_ONE_NAT")])
        script = startup_script(spec, rec.port)
        return c.Instance(
            name=rec.id, machine_type=f"zones/{rec.zone}/machineTypes/{rec.instance_type}",
            labels={label_key(k): label_value(v) for k, v in rec.tags.items()},
            scheduling=sched, guest_accelerators=gpus, disks=[disk], network_interfaces=[nic],
            metadata=c.Metadata(items=[c.Items(key="startup-script", value=script)]))


def label_key(key: str) -> str:
    """GCP label keys: lowercase letters, digits, '_' and '-', starting with a letter, up to 63."""
    cleaned = label_value(key)
    return cleaned if cleaned[:1].isalpha() else f"k{cleaned}"[:63]


def label_value(value: str | None) -> str:
    """GCP label values: lowercase letters, digits, '_' and '-', up to 63; anything else becomes '_'."""
    return re.sub(r"[^a-z0-9_-]", "_", (value or "").lower())[:63]


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _not_found() -> type[Exception]:
    from google.api_core.exceptions import NotFound

    return NotFound


def _conflict() -> type[Exception]:
    from google.api_core.exceptions import Conflict

    return Conflict
