"""A fake Compute Engine REST API: the wire calls `google.cloud.compute_v1` makes for instances and zone
operations, with request-id idempotency, label filters, and hooks for preemption and capacity.

Routes (under /compute/v1/projects/{p}): zones/{z}/instances (POST insert, GET list), instances/{n} (GET,
DELETE), instances/{n}/setLabels, aggregated/instances, zones/{z}/operations[/{op}[/wait]].
Hooks: POST /_fake/preempt {"zone", "name"}; POST /_fake/capacity {"zone", "spot": true|false|null,
"code": "ZONE_RESOURCE_POOL_EXHAUSTED" | "QUOTA_EXCEEDED", "clear": false}; plus /_fake/throttle.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from providers.fakes.server import FakeApp, Reply, Request, main

P = "/compute/v1/projects/(?P<project>[^/]+)"
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_CLAUSE = re.compile(r'\(?\s*labels\.([a-z0-9_-]+)\s*=\s*"?([^")]*)"?\s*\)?')
_MESSAGES = {
    "ZONE_RESOURCE_POOL_EXHAUSTED": "The zone '{zone}' does not have enough resources available to fulfill "
                                    "the request. Try a different zone, or try again later.",
    "QUOTA_EXCEEDED": "Quota 'PREEMPTIBLE_NVIDIA_T4_GPUS' exceeded.  Limit: 0.0 in region {region}."}


class FakeGCE(FakeApp):
    def __init__(self) -> None:
        super().__init__()
        self.reset()
        self.route("POST", P + "/zones/(?P<zone>[^/]+)/instances", self.insert)
        self.route("GET", P + "/zones/(?P<zone>[^/]+)/instances", self.list_zone)
        self.route("GET", P + "/zones/(?P<zone>[^/]+)/instances/(?P<name>[^/]+)", self.get)
        self.route("DELETE", P + "/zones/(?P<zone>[^/]+)/instances/(?P<name>[^/]+)", self.delete)
        self.route("POST", P + "/zones/(?P<zone>[^/]+)/instances/(?P<name>[^/]+)/setLabels", self.set_labels)
        self.route("GET", P + "/aggregated/instances", self.aggregated)
        self.route("GET", P + "/zones/(?P<zone>[^/]+)/operations", self.list_ops)
        self.route("GET", P + "/zones/(?P<zone>[^/]+)/operations/(?P<op>[^/]+)", self.get_op)
        self.route("POST", P + "/zones/(?P<zone>[^/]+)/operations/(?P<op>[^/]+)/wait", self.get_op)
        self.route("POST", "/_fake/preempt", self.preempt)
        self.route("POST", "/_fake/capacity", self.capacity)

    def reset(self) -> None:
        self.instances: dict[tuple[str, str, str], dict[str, Any]] = {}  # (project, zone, name)
        self.ops: dict[str, dict[str, Any]] = {}
        self.request_ids: dict[str, str] = {}  # requestId -> operation name
        self.exhausted: dict[tuple[str, str], str] = {}  # (zone, SPOT|STANDARD) -> error code
        self.ids = itertools.count(1000)

    def error(self, status: int, code: str, message: str) -> Reply:
        reason = {404: "notFound", 409: "alreadyExists", 400: "invalid", 412: "conditionNotMet",
                  429: "rateLimitExceeded", 403: "forbidden", 401: "required"}.get(status, "backendError")
        errors = [{"reason": reason, "message": message, "domain": "global"}]
        return Reply(status, {"error": {"code": status, "message": message, "status": code,
                                        "errors": errors}})

    # -- instances ----------------------------------------------------------------------------------------
    def insert(self, req: Request, project: str, zone: str) -> Reply:
        body = req.body or {}
        request_id = req.query.get("requestId")
        if request_id and request_id in self.request_ids:
            return Reply(body=self.ops[self.request_ids[request_id]])  # same request: same operation
        name = body.get("name", "")
        problem = self._invalid(body)
        if problem:
            return self.error(400, "INVALID_ARGUMENT", problem)
        if (project, zone, name) in self.instances:
            return self.error(409, "ALREADY_EXISTS", f"The resource 'projects/{project}/zones/{zone}/"
                                                     f"instances/{name}' already exists")
        link = f"{req.base_url}/compute/v1/projects/{project}/zones/{zone}/instances/{name}"
        model = body.get("scheduling", {}).get("provisioningModel", "STANDARD")
        code = self.exhausted.get((zone, model)) or self.exhausted.get((zone, "*"))
        op = self._op(req, project, zone, "insert", link, str(next(self.ids)))
        if code:  # the request is accepted, the operation fails, no instance is left
            region = zone.rsplit("-", 1)[0]
            message = _MESSAGES[code].format(zone=zone, region=region)
            op.update(status="DONE", progress=100,
                      httpErrorStatusCode=403 if code == "QUOTA_EXCEEDED" else 503,
                      error={"errors": [{"code": code, "message": message}]})
        else:
            host = int(op["targetId"]) % 250 + 1
            self.instances[(project, zone, name)] = {
                **body, "kind": "compute#instance", "id": op["targetId"], "status": "PROVISIONING",
                "zone": f"{req.base_url}/compute/v1/projects/{project}/zones/{zone}", "selfLink": link,
                "labelFingerprint": "fp0", "creationTimestamp": "2025-01-01T00:00:00.000-00:00",
                "networkInterfaces": [{**nic, "networkIP": f"10.0.0.{host}",
                                       "accessConfigs": [{**ac, "natIP": f"203.0.113.{host}"}
                                                         for ac in nic.get("accessConfigs", [])]}
                                      for nic in body.get("networkInterfaces", [])]}
        if request_id:
            self.request_ids[request_id] = op["name"]
        return Reply(body=op)

    def _invalid(self, body: dict[str, Any]) -> str | None:
        if not _NAME.fullmatch(body.get("name", "")):
            return f"Invalid value for field 'resource.name': '{body.get('name')}'"
        for key, value in (body.get("labels") or {}).items():
            if not _LABEL_KEY.fullmatch(key) or not _LABEL_VALUE.fullmatch(value):
                return f"Invalid value for field 'resource.labels': '{key}={value}'"
        if not body.get("machineType") or not body.get("disks") or not body.get("networkInterfaces"):
            return "Required field 'machineType', 'disks' or 'networkInterfaces' not specified"
        sched = body.get("scheduling") or {}
        if body.get("guestAccelerators") and sched.get("onHostMaintenance") != "TERMINATE":
            return "Instances with guest accelerators do not support live migration."
        return None

    def get(self, req: Request, project: str, zone: str, name: str) -> Reply:
        inst = self.instances.get((project, zone, name))
        return Reply(body=inst) if inst else self._missing(project, zone, name)

    def list_zone(self, req: Request, project: str, zone: str) -> Reply:
        items = [i for (p, z, _), i in sorted(self.instances.items()) if p == project and z == zone]
        items = _filtered(items, req.query.get("filter"))
        return Reply(body={"kind": "compute#instanceList", "items": items})

    def aggregated(self, req: Request, project: str) -> Reply:
        items: dict[str, dict[str, Any]] = {}
        for (p, zone, _), inst in sorted(self.instances.items()):
            if p == project and _filtered([inst], req.query.get("filter")):
                items.setdefault(f"zones/{zone}", {"instances": []})["instances"].append(inst)
        return Reply(body={"kind": "compute#instanceAggregatedList", "items": items})

    def delete(self, req: Request, project: str, zone: str, name: str) -> Reply:
        inst = self.instances.pop((project, zone, name), None)
        if inst is None:
            return self._missing(project, zone, name)
        return Reply(body=self._op(req, project, zone, "delete", inst["selfLink"], inst["id"]))

    def set_labels(self, req: Request, project: str, zone: str, name: str) -> Reply:
        inst = self.instances.get((project, zone, name))
        if inst is None:
            return self._missing(project, zone, name)
        body = req.body or {}
        if body.get("labelFingerprint") != inst["labelFingerprint"]:
            return self.error(412, "FAILED_PRECONDITION", "Labels fingerprint either invalid or resource "
                                                          "labels have changed")
        if self._invalid({**inst, "labels": body.get("labels") or {}}):
            return self.error(400, "INVALID_ARGUMENT", "Invalid value for field 'labels'")
        inst["labels"] = body.get("labels") or {}
        inst["labelFingerprint"] = f"fp{next(self.ids)}"
        return Reply(body=self._op(req, project, zone, "setLabels", inst["selfLink"], inst["id"]))

    def _missing(self, project: str, zone: str, name: str) -> Reply:
        path = f"projects/{project}/zones/{zone}/instances/{name}"
        return self.error(404, "NOT_FOUND", f"The resource '{path}' was not found")

    # -- operations ---------------------------------------------------------------------------------------
    def _op(self, req: Request, project: str, zone: str, kind: str, target: str,
            target_id: str) -> dict[str, Any]:
        name = f"operation-{next(self.ids)}-{kind}"
        zone_link = f"{req.base_url}/compute/v1/projects/{project}/zones/{zone}"
        op = {"kind": "compute#operation", "id": str(next(self.ids)), "name": name, "zone": zone_link,
              "operationType": kind, "targetLink": target, "targetId": target_id, "status": "RUNNING",
              "progress": 0, "selfLink": f"{zone_link}/operations/{name}"}
        self.ops[name] = op
        return op

    def get_op(self, req: Request, project: str, zone: str, op: str) -> Reply:
        found = self.ops.get(op)
        if found is None:
            return self.error(404, "NOT_FOUND", f"The resource 'operations/{op}' was not found")
        if found["status"] != "DONE":  # every operation finishes on its first poll
            found.update(status="DONE", progress=100)
            key = (project, zone, found["targetLink"].rsplit("/", 1)[1])
            if found["operationType"] == "insert" and key in self.instances:
                self.instances[key]["status"] = "RUNNING"
        return Reply(body=found)

    def list_ops(self, req: Request, project: str, zone: str) -> Reply:
        ops = [o for o in self.ops.values() if o["zone"].endswith(f"/zones/{zone}")]
        wanted = re.search(r'operationType\s*=\s*"?([\w.]+)"?', req.query.get("filter", ""))
        if wanted:
            ops = [o for o in ops if o["operationType"] == wanted.group(1)]
        return Reply(body={"kind": "compute#operationList", "items": ops})

    # -- test hooks ---------------------------------------------------------------------------------------
    def preempt(self, req: Request) -> Reply:
        """Take a spot VM back: STOP leaves it TERMINATED, DELETE removes it; both log the operation."""
        body = req.body or {}
        key = next((k for k in self.instances if k[1] == body.get("zone") and k[2] == body.get("name")), None)
        if key is None:
            return self._missing(body.get("project", "?"), body.get("zone", "?"), body.get("name", "?"))
        inst = self.instances[key]
        sched = inst.get("scheduling") or {}
        if sched.get("provisioningModel") != "SPOT":
            return self.error(400, "INVALID_ARGUMENT", "only SPOT instances are preempted")
        if sched.get("instanceTerminationAction") == "DELETE":
            del self.instances[key]
        else:
            inst["status"] = "TERMINATED"
        op = self._op(req, key[0], key[1], "compute.instances.preempted", inst["selfLink"], inst["id"])
        op.update(status="DONE", progress=100, statusMessage="Instance was preempted.")
        return Reply(body=op)

    def capacity(self, req: Request) -> Reply:
        body = req.body or {}
        spot = body.get("spot", True)
        model = "*" if spot is None else ("SPOT" if spot else "STANDARD")
        if body.get("clear"):
            self.exhausted.pop((body["zone"], model), None)
        else:
            self.exhausted[(body["zone"], model)] = body.get("code", "ZONE_RESOURCE_POOL_EXHAUSTED")
        return Reply(body={"exhausted": [f"{z}/{m}" for z, m in self.exhausted]})


def _filtered(items: list[dict[str, Any]], expr: str | None) -> list[dict[str, Any]]:
    """The subset of the filter grammar the provider uses: `labels.K = "V"` clauses joined by AND."""
    if not expr:
        return items
    clauses = [_CLAUSE.fullmatch(part.strip()) for part in re.split(r"\s+AND\s+", expr)]
    wanted = [(m.group(1), m.group(2)) for m in clauses if m]
    return [i for i in items if all((i.get("labels") or {}).get(k) == v for k, v in wanted)]


if __name__ == "__main__":
    main(FakeGCE(), "fake Compute Engine API")
