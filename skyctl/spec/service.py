"""The `service:` section: readiness probe, replica policy, load balancing, ports, TLS.

Rules and defaults follow SkyPilot (`sky/serve/service_spec.py`, `schemas.get_service_schema`); checks
that need the task's resources (spot, ports, per-GPU targets) live in `checks.py`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from skyctl.spec.accelerators import parse_one
from skyctl.spec.fields import Reader, join_path, type_name
from skyctl.spec.model import (
    DEFAULT_DOWNSCALE_DELAY_SECONDS,
    DEFAULT_INITIAL_DELAY_SECONDS,
    DEFAULT_LB_POLICY,
    DEFAULT_MIN_REPLICAS,
    DEFAULT_PROBE_TIMEOUT_SECONDS,
    DEFAULT_READINESS_PATH,
    DEFAULT_UPSCALE_DELAY_SECONDS,
    LB_POLICIES,
    SPOT_PLACERS,
    TLS,
    ReadinessProbe,
    ReplicaPolicy,
)

FIELDS = ("readiness_probe", "replicas", "replica_policy", "load_balancing_policy", "ports", "tls")
_OLD = "an old SkyServe field; "
UNSUPPORTED = {"pool": "SkyPilot pools are batch worker pools; remove `pool` to serve",
               "workers": "SkyPilot pools are batch worker pools; remove `workers` to serve",
               "https": _OLD + "write `tls: {keyfile: key.pem, certfile: cert.pem}`",
               "auto_restart": _OLD + "remove it: failed replicas are always replaced",
               "controller_resources": _OLD + "remove it: the controller runs where `skyctl serve up` runs",
               "route53_hosted_zone": "external load balancers are not supported; remove it",
               "external_load_balancers": "external load balancers are not supported; remove it"}
POLICY_UNSUPPORTED = {
    "init_replicas": _OLD + "remove it: replicas start at `min_replicas`",
    "num_extra": _OLD + "write `num_overprovision`",
    "spot_policy": _OLD + "write `spot_placer: dynamic_fallback` and `dynamic_ondemand_fallback: true`",
    "spot_mixer": _OLD + "write `dynamic_ondemand_fallback: true`",
    "spot_zones": _OLD + "list the zones under `resources.any_of`, e.g. `- zone: us-central1-a`",
}
PROBE_FIELDS = ("path", "initial_delay_seconds", "timeout_seconds", "post_data", "headers")
POLICY_FIELDS = ("min_replicas", "max_replicas", "target_qps_per_replica", "upscale_delay_seconds",
                 "downscale_delay_seconds", "num_overprovision", "base_ondemand_fallback_replicas",
                 "dynamic_ondemand_fallback", "spot_placer")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


@dataclass(frozen=True)
class ServiceSection:
    """The parsed section before its port is resolved against the resources."""

    readiness_probe: ReadinessProbe
    replica_policy: ReplicaPolicy
    load_balancing_policy: str
    ports: int | None
    tls: TLS | None


def parse_service(reader: Reader, value: Any, path: str = "service") -> ServiceSection:
    section = reader.mapping(value, path, allowed=FIELDS, unsupported=UNSUPPORTED)
    if "replicas" in section and "replica_policy" in section:
        raise reader.error(join_path(path, "replicas"), "cannot be combined with `replica_policy`", None,
                           "use `replicas: N` for a fixed count or `replica_policy.min_replicas`, not both")
    if "replica_policy" in section:
        policy = _replica_policy(reader, section["replica_policy"], join_path(path, "replica_policy"))
    else:
        replicas = section.get("replicas", DEFAULT_MIN_REPLICAS)
        policy = ReplicaPolicy(min_replicas=reader.integer(replicas, join_path(path, "replicas"), minimum=0))
    lb_path = join_path(path, "load_balancing_policy")
    lb = reader.choice(section["load_balancing_policy"], lb_path, LB_POLICIES) \
        if "load_balancing_policy" in section else DEFAULT_LB_POLICY
    if lb == "instance_aware_least_load" and not policy.instance_aware:
        raise reader.error(lb_path, "needs per-accelerator targets", lb,
                           "set `replica_policy.target_qps_per_replica` to a map like `{L4: 2, A100: 5}`")
    ports = section.get("ports")
    return ServiceSection(
        readiness_probe=_probe(reader, section.get("readiness_probe", DEFAULT_READINESS_PATH),
                               join_path(path, "readiness_probe")),
        replica_policy=policy, load_balancing_policy=lb,
        ports=None if ports is None else reader.integer(ports, join_path(path, "ports"), minimum=1,
                                                        maximum=65535),
        tls=_tls(reader, section["tls"], join_path(path, "tls")) if "tls" in section else None)


def _probe(reader: Reader, value: Any, path: str) -> ReadinessProbe:
    """A bare path, or the object form with `path` required."""
    if isinstance(value, str):
        return ReadinessProbe(path=_probe_path(reader, value, path))
    probe = reader.mapping(value, path, allowed=PROBE_FIELDS)
    if "path" not in probe:
        raise reader.error(join_path(path, "path"), "is required in the object form", None,
                           "add e.g. `path: /health`, or write `readiness_probe: /health`")
    post_data = probe.get("post_data")
    if post_data is not None and not isinstance(post_data, str | dict | list):
        raise reader.error(join_path(path, "post_data"), f"must be a JSON body, not {type_name(post_data)}",
                           post_data, "write the body as a YAML mapping, e.g. `post_data: {prompt: hi}`")
    if isinstance(post_data, str):
        try:
            post_data = json.loads(post_data)
        except json.JSONDecodeError as e:
            raise reader.error(join_path(path, "post_data"), f"is not valid JSON ({e.msg}, column {e.colno})",
                               probe["post_data"], "write the body as a YAML mapping, not a string") from None
    headers_path = join_path(path, "headers")
    return ReadinessProbe(
        path=_probe_path(reader, probe["path"], join_path(path, "path")),
        initial_delay_seconds=reader.number(probe.get("initial_delay_seconds", DEFAULT_INITIAL_DELAY_SECONDS),
                                            join_path(path, "initial_delay_seconds"), minimum=0),
        timeout_seconds=reader.number(probe.get("timeout_seconds", DEFAULT_PROBE_TIMEOUT_SECONDS),
                                      join_path(path, "timeout_seconds"), positive=True),
        post_data=post_data,
        headers=reader.str_map(probe["headers"], headers_path, key_pattern=_HEADER_NAME, what="value")
        if "headers" in probe else {})


def _probe_path(reader: Reader, value: Any, path: str) -> str:
    text = reader.string(value, path, example="readiness_probe: /health")
    if not text.startswith("/"):
        raise reader.error(path, "must start with '/'", text, f"write `/{text}`")
    return text


def _replica_policy(reader: Reader, value: Any, path: str) -> ReplicaPolicy:
    section = reader.mapping(value, path, allowed=POLICY_FIELDS, unsupported=POLICY_UNSUPPORTED)

    def at(key: str) -> str:
        return join_path(path, key)

    if "min_replicas" not in section:
        raise reader.error(at("min_replicas"), "is required in `replica_policy`", None,
                           "add e.g. `min_replicas: 1` (0 allows scale-to-zero)")
    lo = reader.integer(section["min_replicas"], at("min_replicas"), minimum=0)
    hi = reader.integer(section["max_replicas"], at("max_replicas"), minimum=0) \
        if "max_replicas" in section else None
    target = _target_qps(reader, section["target_qps_per_replica"], at("target_qps_per_replica")) \
        if "target_qps_per_replica" in section else None
    if hi is not None and hi < lo:
        raise reader.error(at("max_replicas"), f"must be >= min_replicas ({lo})", hi,
                           f"raise max_replicas to at least {lo} or lower min_replicas")
    if target is not None and hi is None:
        raise reader.error(at("max_replicas"), "is required when target_qps_per_replica is set", None,
                           f"add `max_replicas: N` (N >= {lo}) to bound autoscaling")
    if target is None and hi is not None and hi != lo:
        raise reader.error(at("max_replicas"), f"differs from min_replicas ({lo}) but nothing drives "
                           "autoscaling", hi, "set target_qps_per_replica to autoscale, or make them equal")
    placer = reader.choice(section["spot_placer"], at("spot_placer"), SPOT_PLACERS) \
        if "spot_placer" in section else None
    base_od = reader.integer(section.get("base_ondemand_fallback_replicas", 0),
                             at("base_ondemand_fallback_replicas"), minimum=0)
    if base_od > (lo if hi is None else hi):
        raise reader.error(at("base_ondemand_fallback_replicas"),
                           f"is more than max_replicas ({lo if hi is None else hi})", base_od,
                           "lower it, or raise max_replicas")
    return ReplicaPolicy(
        min_replicas=lo, max_replicas=hi, target_qps_per_replica=target,
        upscale_delay_seconds=reader.number(
            section.get("upscale_delay_seconds", DEFAULT_UPSCALE_DELAY_SECONDS),
            at("upscale_delay_seconds"), minimum=0),
        downscale_delay_seconds=reader.number(
            section.get("downscale_delay_seconds", DEFAULT_DOWNSCALE_DELAY_SECONDS),
            at("downscale_delay_seconds"), minimum=0),
        num_overprovision=reader.integer(section.get("num_overprovision", 0), at("num_overprovision"),
                                         minimum=0),
        base_ondemand_fallback_replicas=base_od,
        dynamic_ondemand_fallback=reader.boolean(section.get("dynamic_ondemand_fallback", False),
                                                 at("dynamic_ondemand_fallback")),
        spot_placer=placer)


def _target_qps(reader: Reader, value: Any, path: str) -> float | dict[str, float]:
    """A number, or `{ACCELERATOR[:COUNT]: qps}`; zero would make the autoscaler divide by zero."""
    if not isinstance(value, dict):
        if isinstance(value, str | list):
            raise reader.error(path, f"must be a number or a map of accelerator: qps, not {type_name(value)}",
                               value, "write e.g. `target_qps_per_replica: 2.5` or `{L4: 2, A100: 5}`")
        return reader.number(value, path, positive=True)
    if not value:
        raise reader.error(path, "is an empty map", value, "write e.g. `{L4: 2, A100: 5}` or a number")
    out: dict[str, float] = {}
    for key, qps in value.items():
        key_path = join_path(path, str(key))
        name, count = parse_one(reader, key, key_path)
        norm = f"{name}:{count}" if ":" in str(key) else name
        if norm in out:
            raise reader.error(key_path, "names the same accelerator as another key", key, "keep one of them")
        out[norm] = reader.number(qps, key_path, positive=True)
    return out


def _tls(reader: Reader, value: Any, path: str) -> TLS:
    section = reader.mapping(value, path, allowed=("keyfile", "certfile"))
    for key in ("keyfile", "certfile"):
        if key not in section:
            raise reader.error(join_path(path, key), "is required", None,
                               "give both `keyfile` and `certfile` (PEM files) or remove `tls`")
    return TLS(*(reader.string(section[key], join_path(path, key), example=f"{key}: {key[:-4]}.pem")
                 for key in ("keyfile", "certfile")))
