"""A fake Azure Resource Manager for virtual machines: the wire calls `azure-mgmt-compute` makes, including
the long-running-operation protocol (201/202 + `Azure-AsyncOperation`, polled until Succeeded/Failed).

Routes: PUT/GET/PATCH/DELETE {rg}/providers/Microsoft.Compute/virtualMachines/{name}, GET the RG list
(`$expand=instanceView` adds power states), GET the subscription list, GET {name}/instanceView,
POST {name}/simulateEviction, GET the async operations. Hooks: POST /_fake/evict {"name"};
POST /_fake/capacity {"location", "zone", "spot": true|false|null, "code": "ZonalAllocationFailed" (async
failure, the VM is left in provisioningState Failed as Azure does) | "SkuNotAvailable" (synchronous 409) |
"QuotaExceeded" (synchronous 409), "clear": false}; plus /_fake/throttle.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

from providers.fakes.server import FakeApp, Reply, Request, main

S = "/subscriptions/(?P<sub>[^/]+)"
OPS = "/providers/Microsoft.Compute/locations/{loc}/operations"
VM = S + "/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft.Compute/virtualMachines"
_SYNC = {"SkuNotAvailable": "The requested VM size {size} is currently not available in location '{loc}'.",
         "QuotaExceeded": "Operation could not be completed as it results in exceeding approved "
                          "standardNCASv3_T4Family Cores quota. Location: {loc}, Current Limit: 0."}


class FakeARM(FakeApp):
    def __init__(self) -> None:
        super().__init__()
        self.reset()
        self.route("PUT", VM + "/(?P<name>[^/]+)", self.put)
        self.route("GET", VM + "/(?P<name>[^/]+)", self.get)
        self.route("PATCH", VM + "/(?P<name>[^/]+)", self.patch)
        self.route("DELETE", VM + "/(?P<name>[^/]+)", self.delete)
        self.route("GET", VM, self.list_rg)
        self.route("GET", S + "/providers/Microsoft.Compute/virtualMachines", self.list_all)
        self.route("GET", VM + "/(?P<name>[^/]+)/instanceView", self.instance_view)
        self.route("POST", VM + "/(?P<name>[^/]+)/simulateEviction", self.simulate_eviction)
        self.route("GET", S + OPS.format(loc="(?P<loc>[^/]+)") + "/(?P<op>[^/]+)", self.get_op)
        self.route("POST", "/_fake/evict", self.evict)
        self.route("POST", "/_fake/capacity", self.capacity)

    def reset(self) -> None:
        self.vms: dict[tuple[str, str, str], dict[str, Any]] = {}  # (sub, rg, name) -> VM as ARM returns it
        self.power: dict[tuple[str, str, str], str] = {}  # -> running | deallocated | stopped
        self.ops: dict[str, dict[str, Any]] = {}  # id -> {"polls", "result", "error", "vm"}
        self.exhausted: dict[tuple[str, str | None, str], str] = {}  # (location, zone, Spot|Regular) -> code
        self.ids = itertools.count(1)

    def error(self, status: int, code: str, message: str) -> Reply:
        return Reply(status, {"error": {"code": code, "message": message}})

    # -- virtual machines ---------------------------------------------------------------------------------
    def put(self, req: Request, sub: str, rg: str, name: str) -> Reply:
        key, body = (sub, rg, name), req.body or {}
        props = body.get("properties") or {}
        problem = _invalid(body, props)
        if problem:
            return self.error(400, "InvalidParameter", problem)
        if key in self.vms and self.vms[key]["properties"]["provisioningState"] != "Failed":
            return Reply(200, self._view(key))  # same name, same VM: a PUT is idempotent
        loc, zone = body["location"], (body.get("zones") or [None])[0]
        priority = "Spot" if props.get("priority") == "Spot" else "Regular"
        code = self.exhausted.get((loc, zone, priority)) or self.exhausted.get((loc, zone, "*"))
        if code in _SYNC:
            return self.error(409, code, _SYNC[code].format(size=props["hardwareProfile"]["vmSize"], loc=loc))
        vm_id = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"
        vm = {**copy.deepcopy(body), "id": vm_id, "name": name, "type": "Microsoft.Compute/virtualMachines"}
        vm["properties"] = {**props, "provisioningState": "Creating", "vmId": f"vm-{next(self.ids)}"}
        self.vms[key] = vm
        self.power[key] = "starting"
        headers = self._async(req, sub, loc, key, error=code and {
            "code": code, "message": f"Allocation failed. We do not have sufficient capacity for the "
                                     f"requested VM size in this zone ({loc} {zone})."})
        return Reply(201, self._view(key), headers)

    def get(self, req: Request, sub: str, rg: str, name: str) -> Reply:
        key = (sub, rg, name)
        return Reply(200, self._view(key)) if key in self.vms else self._missing(name)

    def patch(self, req: Request, sub: str, rg: str, name: str) -> Reply:
        key = (sub, rg, name)
        if key not in self.vms:
            return self._missing(name)
        if "tags" in (req.body or {}):
            self.vms[key]["tags"] = dict(req.body["tags"] or {})
        return Reply(200, self._view(key))

    def delete(self, req: Request, sub: str, rg: str, name: str) -> Reply:
        key = (sub, rg, name)
        if key not in self.vms:
            return Reply(204)
        loc = self.vms.pop(key)["location"]
        self.power.pop(key, None)
        return Reply(202, None, self._async(req, sub, loc, None, error=None))

    def list_rg(self, req: Request, sub: str, rg: str) -> Reply:
        keys = [k for k in sorted(self.vms) if k[:2] == (sub, rg)]
        expand = req.query.get("$expand") == "instanceView"
        return Reply(200, {"value": [self._view(k, expand) for k in keys]})

    def list_all(self, req: Request, sub: str) -> Reply:
        return Reply(200, {"value": [self._view(k) for k in sorted(self.vms) if k[0] == sub]})

    def instance_view(self, req: Request, sub: str, rg: str, name: str) -> Reply:
        key = (sub, rg, name)
        return Reply(200, self._statuses(key)) if key in self.vms else self._missing(name)

    def simulate_eviction(self, req: Request, sub: str, rg: str, name: str) -> Reply:
        key = (sub, rg, name)
        if key not in self.vms:
            return self._missing(name)
        if self.vms[key]["properties"].get("priority") != "Spot":
            return self.error(409, "OperationNotAllowed", "simulateEviction applies to Spot VMs only")
        if self.vms[key]["properties"].get("evictionPolicy") == "Deallocate":
            self.power[key] = "deallocated"
        else:
            del self.vms[key]
            self.power.pop(key, None)
        return Reply(204)

    def _view(self, key: tuple[str, str, str], expand: bool = False) -> dict[str, Any]:
        vm = copy.deepcopy(self.vms[key])
        if expand:
            vm["properties"]["instanceView"] = self._statuses(key)
        return vm

    def _statuses(self, key: tuple[str, str, str]) -> dict[str, Any]:
        state = self.vms[key]["properties"]["provisioningState"].lower()
        statuses = [{"code": f"ProvisioningState/{state}"}]
        if state == "succeeded":
            statuses.append({"code": f"PowerState/{self.power.get(key, 'running')}"})
        return {"statuses": statuses}

    def _missing(self, name: str) -> Reply:
        return self.error(404, "ResourceNotFound", f"The Resource 'Microsoft.Compute/virtualMachines/{name}' "
                                                   "was not found.")

    # -- long-running operations --------------------------------------------------------------------------
    def _async(self, req: Request, sub: str, loc: str, key: tuple[str, str, str] | None,
               error: dict[str, str] | None) -> dict[str, str]:
        op_id = f"op-{next(self.ids)}"
        self.ops[op_id] = {"polls": 0, "vm": key, "error": error}
        url = f"{req.base_url}/subscriptions/{sub}{OPS.format(loc=loc)}/{op_id}"
        return {"Azure-AsyncOperation": url, "Location": url, "Retry-After": "0"}

    def get_op(self, req: Request, sub: str, loc: str, op: str) -> Reply:
        found = self.ops.get(op)
        if found is None:
            return self.error(404, "NotFound", f"operation {op} not found")
        found["polls"] += 1
        if found["polls"] < 2:
            return Reply(200, {"name": op, "status": "InProgress"})
        key, error = found["vm"], found["error"]
        if key in self.vms:
            self.vms[key]["properties"]["provisioningState"] = "Failed" if error else "Succeeded"
            self.power[key] = "running" if not error else self.power.get(key, "")
        if error:
            return Reply(200, {"name": op, "status": "Failed", "error": error})
        return Reply(200, {"name": op, "status": "Succeeded"})

    # -- test hooks ---------------------------------------------------------------------------------------
    def evict(self, req: Request) -> Reply:
        name = (req.body or {}).get("name")
        key = next((k for k in self.vms if k[2] == name), None)
        return self.simulate_eviction(req, *key) if key else self._missing(str(name))

    def capacity(self, req: Request) -> Reply:
        body = req.body or {}
        spot = body.get("spot", True)
        key = (body["location"], body.get("zone"), "*" if spot is None else ("Spot" if spot else "Regular"))
        if body.get("clear"):
            self.exhausted.pop(key, None)
        else:
            self.exhausted[key] = body.get("code", "ZonalAllocationFailed")
        return Reply(200, {"exhausted": ["/".join(map(str, k)) for k in self.exhausted]})


def _invalid(body: dict[str, Any], props: dict[str, Any]) -> str | None:
    """What real ARM would reject before creating anything: the fields a VM cannot be made without."""
    if not body.get("location"):
        return "The 'location' property is required."
    if not (props.get("hardwareProfile") or {}).get("vmSize"):
        return "Required parameter 'hardwareProfile.vmSize' is missing."
    if not (props.get("storageProfile") or {}).get("imageReference"):
        return "Required parameter 'storageProfile.imageReference' is missing."
    os_profile = props.get("osProfile") or {}
    keys = (((os_profile.get("linuxConfiguration") or {}).get("ssh") or {}).get("publicKeys")) or []
    if not os_profile.get("adminUsername") or not (keys or os_profile.get("adminPassword")):
        return "Required parameter 'osProfile.adminUsername' and an SSH key or 'adminPassword' are missing."
    network = props.get("networkProfile") or {}
    if not (network.get("networkInterfaces") or network.get("networkInterfaceConfigurations")):
        return "Required parameter 'networkProfile' is missing."
    if props.get("priority") == "Spot" and props.get("evictionPolicy") not in ("Delete", "Deallocate"):
        return "'evictionPolicy' must be Delete or Deallocate for Spot VMs."
    return None


if __name__ == "__main__":
    main(FakeARM(), "fake Azure Resource Manager (virtual machines)")
