"""`azure`: replicas as Azure VMs through azure-mgmt-compute and azure-identity, imported lazily.

Spot VMs use `priority=Spot`, `evictionPolicy` (Delete by default, or Deallocate) and `maxPrice=-1` (pay up
to on-demand, evicted only for capacity). The VM name derives from the idempotency key, so a repeated PUT
finds the first VM (ARM PUTs are idempotent). Our deletes first tag the VM `skyctl-stop=terminated` (and
write the ledger's stop reason), so a spot VM deallocated or gone without it is PREEMPTED ("eviction").
A create that fails asynchronously (AllocationFailed) leaves a Failed VM in Azure; it is deleted before
the CapacityError is raised, so a refused launch leaves nothing behind.

Zones: each catalog region gets availability zones `<region>-1..3` (VM `zones=["1"]` ...). Configuration:
`AZURE_SUBSCRIPTION_ID` (or the az CLI default), `SKYCTL_AZURE_RESOURCE_GROUP` (default `skyctl`, must
exist with a VNet whose subnet is `SKYCTL_AZURE_SUBNET_ID`, default `<rg>/skyctl-vnet/default`), an SSH key
(`SKYCTL_AZURE_SSH_PUBLIC_KEY`, else ~/.ssh/id_ed25519.pub or id_rsa.pub). `SKYCTL_AZURE_ENDPOINT`
(e.g. http://127.0.0.1:8482, `providers.fakes.arm`) redirects every call with a static bearer token.
"""

from __future__ import annotations

import base64
import os
import re
import time
from pathlib import Path
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

ENDPOINT_ENV = "SKYCTL_AZURE_ENDPOINT"
ZONES_PER_REGION = 3
# Microsoft's Data Science VM (Ubuntu 22.04 HPC): NVIDIA drivers and CUDA preinstalled.
DEFAULT_IMAGE = "microsoft-dsvm:ubuntu-hpc:2204:latest"
STOP_TAG = "skyctl-stop"
CAPACITY_CODES = {"SkuNotAvailable", "AllocationFailed", "ZonalAllocationFailed",
                  "OverconstrainedAllocationRequest", "OverconstrainedZonalAllocationRequest"}
_AUTH_FIX = "run `az login` (or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET)"


class AzureProvider(CloudVMProvider):
    name = "azure"

    def __init__(self, root: Any = None, *, subscription: str | None = None,
                 resource_group: str | None = None, endpoint: str | None = None,
                 eviction_policy: str = "Delete", ssh_public_key: str | None = None, timeout: float = 30.0,
                 **options: Any) -> None:
        super().__init__(root, **options)
        self.endpoint = endpoint or os.environ.get(ENDPOINT_ENV) or None
        self.subscription = subscription or os.environ.get("AZURE_SUBSCRIPTION_ID")
        self.resource_group = resource_group or os.environ.get("SKYCTL_AZURE_RESOURCE_GROUP", "skyctl")
        self.eviction_policy, self.timeout = eviction_policy, timeout
        self.ssh_public_key = ssh_public_key or os.environ.get("SKYCTL_AZURE_SSH_PUBLIC_KEY")
        self._sdk: tuple[Any, Any] | None = None

    def check(self) -> tuple[bool, str | None]:
        """Local look only: an endpoint override needs no credentials; otherwise azure-identity's sources."""
        if self.endpoint:
            if not self.subscription:
                return False, "no Azure subscription: set AZURE_SUBSCRIPTION_ID"
            return True, None
        info = credentials.detect("azure")
        if not info.found:
            return False, info.reason
        self.subscription = self.subscription or info.account
        return True, None

    # -- hooks of CloudVMProvider ----------------------------------------------------------------------------
    def _all_places(self) -> list[tuple[str, str, list[Offering]]]:
        by_region: dict[str, list[Offering]] = {}
        for o in self._offerings():
            by_region.setdefault(o.region, []).append(o)
        return [(r, f"{r}-{n}", offers) for r, offers in sorted(by_region.items())
                for n in range(1, ZONES_PER_REGION + 1)]

    def _create(self, rec: VMRecord, spec: LaunchSpec) -> None:
        m, compute = self._clients()
        vms = compute.virtual_machines
        try:
            vms.begin_create_or_update(self.resource_group, rec.id, self._vm(m, rec, spec)).result()
        except Exception as exc:
            err = self._translate(exc, Location(self.name, rec.region, rec.zone))
            if isinstance(err, CapacityError | QuotaError):  # an async failure leaves a Failed VM: remove it
                vms.begin_delete(self.resource_group, rec.id).result()
            if err is None:
                raise
            raise err from exc

    def _seen(self, service: str | None) -> dict[str, Seen]:
        _, compute = self._clients()
        out = {}
        for vm in compute.virtual_machines.list(self.resource_group, expand="instanceView"):
            tags = dict(vm.tags or {})
            if TAG_SERVICE not in tags or (service is not None and tags[TAG_SERVICE] != service):
                continue
            codes = [s.code or "" for s in (vm.instance_view.statuses if vm.instance_view else None) or []]
            power = next((c.split("/", 1)[1] for c in codes if c.startswith("PowerState/")), None)
            provisioning = (vm.provisioning_state or "").lower()
            if provisioning == "failed":
                state, reason = State.FAILED, "ProvisioningState/failed"
            elif provisioning in ("creating", "updating") or power in (None, "starting"):
                state, reason = State.PENDING, None
            elif power == "running":
                state, reason = State.RUNNING, None
            else:
                state, reason = State.STOPPED, f"PowerState/{power}"
                if _is_spot(vm):
                    reason = f"eviction ({reason})"
            zone_n = (vm.zones or ["1"])[0]
            out[vm.name] = Seen(
                id=vm.name, service=tags[TAG_SERVICE], replica_id=tags.get(TAG_REPLICA, ""), state=state,
                spot=_is_spot(vm), region=vm.location, zone=f"{vm.location}-{zone_n}",
                instance_type=vm.hardware_profile.vm_size if vm.hardware_profile else None, tags=tags,
                reason=reason, ours_stopped=tags.get(STOP_TAG) == "terminated")
        return out

    def _delete(self, rec: VMRecord) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        m, compute = self._clients()
        try:
            vm = compute.virtual_machines.get(self.resource_group, rec.id)
            tags = {**(vm.tags or {}), STOP_TAG: "terminated"}
            compute.virtual_machines.begin_update(self.resource_group, rec.id,
                                                  m.VirtualMachineUpdate(tags=tags)).result()
        except ResourceNotFoundError:
            return
        compute.virtual_machines.begin_delete(self.resource_group, rec.id).result()

    def _vanished_reason(self, rec: VMRecord) -> str:
        return "eviction (VM deleted by Azure: spot eviction policy Delete)"

    def _translate(self, exc: Exception, where: Location | None = None) -> ProviderError | None:
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

        if isinstance(exc, ClientAuthenticationError):
            return ProviderAuthError(str(exc).splitlines()[0], provider=self.name, fix=_AUTH_FIX)
        if isinstance(exc, ServiceRequestError):
            return TransientError(f"cannot reach {self.endpoint or 'management.azure.com'}: {exc}",
                                  provider=self.name, code="connection")
        if not isinstance(exc, HttpResponseError):
            return None
        status = exc.status_code or 0
        code = (exc.error.code if exc.error else None) or str(status)
        message = (exc.error.message if exc.error else None) or str(exc).splitlines()[0]
        if code in CAPACITY_CODES:
            return CapacityError(message, provider=self.name, location=where, code=code)
        if code == "QuotaExceeded" or (code == "OperationNotAllowed" and "quota" in message.lower()):
            found = re.search(r"approved (\S+) Cores quota", message)
            return QuotaError(message, provider=self.name, quota=found.group(1) if found else code,
                              location=where, code=code)
        if status == 429 or status >= 500:
            after = exc.response.headers.get("Retry-After") if exc.response is not None else None
            return TransientError(message, provider=self.name, code=code,
                                  retry_after=float(after) if after and after.isdigit() else None)
        if status in (401, 403):
            return ProviderAuthError(message, provider=self.name, code=code, fix=_AUTH_FIX)
        if status == 400:
            return ProviderUserError(message, provider=self.name, field="instance", value=None, code=code,
                                     fix="check image_id, instance_type and the resource group's network")
        return None

    # -- Azure specifics -------------------------------------------------------------------------------------
    def _clients(self) -> tuple[Any, Any]:
        if self._sdk is None:
            if not self.subscription:
                raise ProviderAuthError("no Azure subscription configured", provider=self.name,
                                        fix="set AZURE_SUBSCRIPTION_ID or run `az account set -s ID`")
            from azure.mgmt.compute import ComputeManagementClient
            from azure.mgmt.compute import models as m

            kw: dict[str, Any] = {"connection_timeout": 5, "read_timeout": self.timeout, "retry_total": 0}
            if self.endpoint:
                from azure.core.credentials import AccessToken
                from azure.core.pipeline.policies import SansIOHTTPPolicy

                class _Static:  # a TokenCredential for the fake: it checks only that a bearer is sent
                    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
                        return AccessToken("fake", int(time.time()) + 3600)

                class _Bearer(SansIOHTTPPolicy):  # the default policy refuses plain-http endpoints
                    def on_request(self, request: Any) -> None:
                        request.http_request.headers["Authorization"] = "Bearer fake"

                compute = ComputeManagementClient(_Static(), self.subscription, base_url=self.endpoint,
                                                  authentication_policy=_Bearer(), polling_interval=0, **kw)
            else:
                from azure.identity import DefaultAzureCredential

                compute = ComputeManagementClient(DefaultAzureCredential(), self.subscription, **kw)
            self._sdk = (m, compute)
        return self._sdk

    def _vm(self, m: Any, rec: VMRecord, spec: LaunchSpec) -> Any:
        key = self._ssh_key()
        image = spec.image_id or DEFAULT_IMAGE
        if image.startswith("/"):
            ref = m.ImageReference(id=image)
        else:
            parts = image.split(":")
            if len(parts) not in (3, 4) or not all(parts):
                raise ProviderUserError("not an Azure image", provider=self.name, field="image_id",
                                        value=image, fix="use publisher:offer:sku[:version] or an image id")
            publisher, offer, sku, version = [*parts, "latest"][:4]
            ref = m.ImageReference(publisher=publisher, offer=offer, sku=sku, version=version)
        subnet = os.environ.get("SKYCTL_AZURE_SUBNET_ID") or (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/"
            "Microsoft.Network/virtualNetworks/skyctl-vnet/subnets/default")
        vm = m.VirtualMachine(location=rec.region, zones=[rec.zone.rsplit("-", 1)[1]], tags=dict(rec.tags))
        vm.hardware_profile = m.HardwareProfile(vm_size=rec.instance_type)
        vm.storage_profile = m.StorageProfile(image_reference=ref, os_disk=m.OSDisk(
            create_option="FromImage", disk_size_gb=spec.disk_size_gb or 100, delete_option="Delete"))
        custom = base64.b64encode(startup_script(spec, rec.port).encode()).decode()
        vm.os_profile = m.OSProfile(
            computer_name=rec.id[:63], admin_username="skyctl", custom_data=custom,
            linux_configuration=m.LinuxConfiguration(
                disable_password_authentication=True, ssh=m.SshConfiguration(public_keys=[
                    m.SshPublicKey(path="/home/skyctl/.ssh/authorized_keys", key_data=key)])))
        ip = m.VirtualMachineNetworkInterfaceIPConfiguration(
            name="ipconfig", subnet=m.SubResource(id=subnet),
            public_ip_address_configuration=m.VirtualMachinePublicIPAddressConfiguration(
                name=f"{rec.id}-ip", delete_option="Delete"))
        nic = m.VirtualMachineNetworkInterfaceConfiguration(name=f"{rec.id}-nic", primary=True,
                                                            delete_option="Delete", ip_configurations=[ip])
        vm.network_profile = m.NetworkProfile(network_api_version="2020-11-01",
                                              network_interface_configurations=[nic])
        if rec.spot:
            vm.priority, vm.eviction_policy = "Spot", self.eviction_policy
            vm.billing_profile = m.BillingProfile(max_price=-1)
        return vm

    def _ssh_key(self) -> str:
        if self.ssh_public_key:
            return self.ssh_public_key
        for name in ("id_ed25519.pub", "id_rsa.pub"):
            path = Path.home() / ".ssh" / name
            if path.is_file():
                return path.read_text().strip()
        raise ProviderUserError("Azure Linux VMs need an SSH public key", provider=self.name,
                                field="SKYCTL_AZURE_SSH_PUBLIC_KEY", value=None,
                                fix="set SKYCTL_AZURE_SSH_PUBLIC_KEY or run ssh-keygen")


def _is_spot(vm: Any) -> bool:
    return str(vm.priority or "").lower().endswith("spot")
