"""Rules that tie the `service:` section to the task's resources (SkyPilot checks them at `serve up`).

- every replica serves on one port: `service.ports`, else the single port in `resources.ports`
  (optional on `cloud: local`, where each replica gets a free port in `$SKYCTL_PORT`);
- on-demand fallback and spot placers need `use_spot: true` on every candidate;
- a spot placer moves one machine shape between locations, so candidates may differ only in location;
- per-accelerator QPS targets must cover every candidate's accelerator.
"""

from __future__ import annotations

from skyctl.spec.fields import Reader
from skyctl.spec.location import LOCAL_CLOUD
from skyctl.spec.model import ReplicaPolicy, Resources

_POLICY = "service.replica_policy"


def replica_port(reader: Reader, service_ports: int | None, candidates: tuple[Resources, ...]) -> int | None:
    """The port the load balancer targets on every replica (None: local replicas get a free one each)."""
    if service_ports is not None:
        return service_ports
    ports = {c.ports for c in candidates}
    if ports == {()} and all(c.cloud == LOCAL_CLOUD for c in candidates):
        return None
    if ports == {()}:
        raise reader.error("resources.ports", "is required: the load balancer needs the port your `run` "
                           "command serves on", None,
                           "add e.g. `ports: 8080` under resources (or `service.ports`)")
    if len(ports) > 1:
        raise reader.error("resources.ports", "differs between resource candidates",
                           sorted(set().union(*ports)),
                           "serve on the same port everywhere, or set `service.ports`")
    (only,) = ports
    if len(only) != 1:
        raise reader.error("resources.ports", "must be a single port for serving", list(only),
                           "keep one port, or set `service.ports` to the one replicas serve on")
    return only[0]


def check_spot(reader: Reader, policy: ReplicaPolicy, candidates: tuple[Resources, ...]) -> None:
    settings = (("dynamic_ondemand_fallback", policy.dynamic_ondemand_fallback),
                ("base_ondemand_fallback_replicas", policy.base_ondemand_fallback_replicas),
                ("spot_placer", policy.spot_placer))
    needs = [(key, on) for key, on in settings if on]
    if needs and not all(c.use_spot for c in candidates):
        key, value = needs[0]
        raise reader.error(f"{_POLICY}.{key}", "needs spot resources", value,
                           "set `use_spot: true` under resources (and in every any_of/ordered item)")
    if policy.spot_placer and len({_shape(c) for c in candidates}) > 1:
        shapes = sorted({_shape(c) for c in candidates})
        raise reader.error(f"{_POLICY}.spot_placer", "needs every resource candidate to be the same machine, "
                           f"differing only in cloud/region/zone (found {len(shapes)}: {'; '.join(shapes)})",
                           policy.spot_placer, "use one accelerator and size; list locations under `any_of`")


def check_qps_targets(reader: Reader, policy: ReplicaPolicy, candidates: tuple[Resources, ...]) -> None:
    if not policy.instance_aware:
        return
    for c in candidates:
        if policy.target_qps_for(c.accelerator, c.accelerator_count) is None:
            name = f"{c.accelerator}:{c.accelerators[c.accelerator]}" if c.accelerator else "no accelerator"
            raise reader.error(f"{_POLICY}.target_qps_per_replica",
                               f"has no target for a candidate with {name}",
                               sorted(policy.target_qps_per_replica),
                               "add a key for every accelerator in resources, or use one number for all")


def _shape(c: Resources) -> str:
    """A short, comparable description of the machine part of a candidate."""
    fields = c.without_location().to_dict()
    return ", ".join(f"{k}={v}" for k, v in sorted(fields.items()))
