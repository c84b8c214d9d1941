"""Each invalid variant fails with its own message naming the YAML path, the value and the fix."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from spec_helpers import DATA

from skyctl.errors import UserError
from skyctl.spec import load_service_spec, load_yaml, parse_service_spec

DELETE = object()
BASE: dict[str, Any] = {"service": {"readiness_probe": "/health", "replicas": 1},
                        "resources": {"ports": 8080}, "run": "python server.py"}
POLICY = {"replicas": DELETE}  # a patch that switches the base to `replica_policy`
SPOT = {"resources": {"use_spot": True}}


def patched(*patches: dict[str, Any]) -> dict[str, Any]:
    """BASE deep-merged with each patch in turn; DELETE removes a key."""
    out = copy.deepcopy(BASE)
    for patch in patches:
        _merge(out, patch)
    return out


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is DELETE:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def svc(**fields: Any) -> dict[str, Any]:
    return {"service": fields}


def rp(**fields: Any) -> dict[str, Any]:
    return {"service": {"replicas": DELETE, "replica_policy": fields}}


def res(**fields: Any) -> dict[str, Any]:
    return {"resources": fields}


RP = "service.replica_policy"
AUTO = {"min_replicas": 1, "max_replicas": 3, "target_qps_per_replica": 1}
# (id, data, field, message fragment, value, fix fragment); value ... means "not checked"
CASES: list[tuple[str, dict[str, Any], str | None, str, Any, str]] = [
    ("max-below-min", patched(rp(min_replicas=2, max_replicas=1, target_qps_per_replica=1)),
     f"{RP}.max_replicas", "must be >= min_replicas (2)", 1, "raise max_replicas to at least 2"),
    ("target-without-max", patched(rp(min_replicas=1, target_qps_per_replica=2)),
     f"{RP}.max_replicas", "is required when target_qps_per_replica is set", None, "add `max_replicas: N`"),
    ("min-max-differ-without-target", patched(rp(min_replicas=1, max_replicas=3)),
     f"{RP}.max_replicas", "differs from min_replicas (1)", 3, "set target_qps_per_replica"),
    ("replicas-and-policy", patched(svc(replica_policy={"min_replicas": 1})),
     "service.replicas", "cannot be combined with `replica_policy`", None, "not both"),
    ("policy-without-min", patched(rp(max_replicas=2)),
     f"{RP}.min_replicas", "is required", None, "0 allows scale-to-zero"),
    ("typo-in-policy", patched(rp(min_replica=1)),
     f"{RP}.min_replica", "unknown field", None, "did you mean 'min_replicas'?"),
    ("typo-top-level", patched({"resource": {}}),
     "resource", "unknown field", None, "did you mean 'resources'?"),
    ("typo-in-service", patched(svc(readiness_prob="/")),
     "service.readiness_prob", "unknown field", None, "did you mean 'readiness_probe'?"),
    ("typo-in-probe", patched(svc(readiness_probe={"path": "/", "intial_delay_seconds": 5})),
     "service.readiness_probe.intial_delay_seconds", "unknown field", None,
     "did you mean 'initial_delay_seconds'?"),
    ("typo-in-resources", patched(res(accelerator="L4")),
     "resources.accelerator", "unknown field", None, "did you mean 'accelerators'?"),
    ("probe-path-no-slash", patched(svc(readiness_probe="health")),
     "service.readiness_probe", "must start with '/'", "health", "write `/health`"),
    ("probe-object-no-path", patched(svc(readiness_probe={"timeout_seconds": 5})),
     "service.readiness_probe.path", "is required in the object form", None, "readiness_probe: /health"),
    ("probe-post-data-bad-json", patched(svc(readiness_probe={"path": "/", "post_data": "{model: x"})),
     "service.readiness_probe.post_data", "is not valid JSON", "{model: x", "YAML mapping"),
    ("probe-post-data-number", patched(svc(readiness_probe={"path": "/", "post_data": 5})),
     "service.readiness_probe.post_data", "must be a JSON body, not an integer", 5, "YAML mapping"),
    ("probe-delay-string", patched(svc(readiness_probe={"path": "/", "initial_delay_seconds": "20s"})),
     "service.readiness_probe.initial_delay_seconds", "must be a number, not a string", "20s", "unquoted"),
    ("probe-timeout-zero", patched(svc(readiness_probe={"path": "/", "timeout_seconds": 0})),
     "service.readiness_probe.timeout_seconds", "must be > 0", 0, "positive"),
    ("probe-header-int", patched(svc(readiness_probe={"path": "/", "headers": {"X-Retries": 3}})),
     "service.readiness_probe.headers.X-Retries", "must be a string, not an integer", 3, "quote the value"),
    ("min-replicas-word", patched(rp(min_replicas="two")),
     f"{RP}.min_replicas", "must be an integer, not a string", "two", "whole number"),
    ("min-replicas-negative", patched(rp(min_replicas=-1)),
     f"{RP}.min_replicas", "must be >= 0", -1, "at least 0"),
    ("min-replicas-fraction", patched(rp(min_replicas=1.5)),
     f"{RP}.min_replicas", "must be an integer, not a number", 1.5, "whole number"),
    ("replicas-bool", patched(svc(replicas=True)),
     "service.replicas", "must be an integer, not a boolean", True,
     "whole number"),
    ("target-qps-zero", patched(rp(min_replicas=1, max_replicas=2, target_qps_per_replica=0)),
     f"{RP}.target_qps_per_replica", "must be > 0", 0, "positive"),
    ("target-qps-infinite", patched(rp(min_replicas=1, max_replicas=2, target_qps_per_replica=float("inf"))),
     f"{RP}.target_qps_per_replica", "must be a number, not infinite or NaN", float("inf"), "unquoted"),
    ("probe-header-bad-name", patched(svc(readiness_probe={"path": "/", "headers": {"Bad Header": "x"}})),
     "service.readiness_probe.headers.Bad Header", "invalid name", "Bad Header", "letters, digits"),
    ("target-qps-string", patched(rp(min_replicas=1, max_replicas=2, target_qps_per_replica="10/s")),
     f"{RP}.target_qps_per_replica", "must be a number or a map", "10/s", "{L4: 2, A100: 5}"),
    ("target-qps-unknown-gpu", patched(rp(min_replicas=1, max_replicas=2, target_qps_per_replica={"L40": 1})),
     f"{RP}.target_qps_per_replica.L40", "unknown accelerator", "L40", "did you mean 'L40S'?"),
    ("target-qps-map-misses-candidate",
     patched(rp(min_replicas=1, max_replicas=2, target_qps_per_replica={"L4": 2}),
             res(accelerators={"L4": 1, "A10G": 1})),
     f"{RP}.target_qps_per_replica", "has no target for a candidate with A10G:1", ["L4"], "add a key"),
    ("overprovision-negative", patched(rp(**AUTO, num_overprovision=-1)),
     f"{RP}.num_overprovision", "must be >= 0", -1, "at least 0"),
    ("base-od-above-max", patched(rp(**AUTO, base_ondemand_fallback_replicas=4), SPOT),
     f"{RP}.base_ondemand_fallback_replicas", "is more than max_replicas (3)", 4, "raise max_replicas"),
    ("lb-policy-typo", patched(svc(load_balancing_policy="least_loaded")),
     "service.load_balancing_policy", "unknown value", "least_loaded", "did you mean 'least_load'?"),
    ("instance-aware-needs-map", patched(svc(load_balancing_policy="instance_aware_least_load")),
     "service.load_balancing_policy", "needs per-accelerator targets", "instance_aware_least_load",
     "target_qps_per_replica"),
    ("spot-placer-typo", patched(rp(**AUTO, spot_placer="dynamic_fallbak"), SPOT),
     f"{RP}.spot_placer", "unknown value", "dynamic_fallbak", "did you mean 'dynamic_fallback'?"),
    ("fallback-needs-spot", patched(rp(**AUTO, dynamic_ondemand_fallback=True)),
     f"{RP}.dynamic_ondemand_fallback", "needs spot resources", True, "use_spot: true"),
    ("placer-needs-spot-everywhere",
     patched(rp(**AUTO, spot_placer="skyctl"),
             res(any_of=[{"cloud": "aws", "use_spot": True}, {"cloud": "gcp"}])),
     f"{RP}.spot_placer", "needs spot resources", "skyctl", "every any_of/ordered item"),
    ("placer-needs-one-machine",
     patched(rp(**AUTO, spot_placer="dynamic_fallback"), SPOT, res(accelerators={"L4": 1, "A10G": 1})),
     f"{RP}.spot_placer", "differing only in cloud/region/zone (found 2", "dynamic_fallback",
     "one accelerator"),
    ("fallback-flag-not-bool", patched(rp(**AUTO, dynamic_ondemand_fallback="yes"), SPOT),
     f"{RP}.dynamic_ondemand_fallback", "must be a boolean, not a string", "yes", "`true` or `false`"),
    ("service-port-range", patched(svc(ports=70000)),
     "service.ports", "must be <= 65535", 70000, "at most 65535"),
    ("no-port", patched({"resources": {"ports": DELETE}}),
     "resources.ports", "is required", None, "add e.g. `ports: 8080`"),
    ("two-ports", patched(res(ports=[8080, 8081])),
     "resources.ports", "must be a single port for serving", [8080, 8081], "keep one port"),
    ("port-range-text", patched(res(ports="8080-80")),
     "resources.ports", "must be a port 1-65535 or a range", "8080-80", "ports: 8080"),
    ("ports-differ-per-candidate", patched(res(any_of=[{"cloud": "aws"}, {"cloud": "gcp", "ports": 9000}])),
     "resources.ports", "differs between resource candidates", [8080, 9000], "same port"),
    ("unknown-gpu", patched(res(accelerators="L40:1")),
     "resources.accelerators", "unknown accelerator", "L40", "did you mean 'L40S'?"),
    ("gpu-count-text", patched(res(accelerators="A100:x")),
     "resources.accelerators", "the count after ':' must be a number", "A100:x", "A100:1"),
    ("gpu-count-fraction-above-one", patched(res(accelerators="L4:1.5")),
     "resources.accelerators", "whole number >= 1 or a fraction below 1", "L4:1.5", "0.5"),
    ("gpu-count-zero-in-map", patched(res(accelerators={"L4": 0})),
     "resources.accelerators.L4", "whole number >= 1", "L4: 0", "0.5"),
    ("gpu-same-twice", patched(res(accelerators={"A10g": 1, "A10G": 1})),
     "resources.accelerators", "lists the same accelerator twice", "A10G:1", "keep one"),
    ("gpu-number", patched(res(accelerators=4)),
     "resources.accelerators", "must be a string, a mapping or a list, not an integer", 4, "L4:1"),
    ("infra-and-cloud", patched(res(infra="aws/us-east-1", cloud="aws")),
     "resources.cloud", "cannot be combined with `infra`", "aws", "infra: cloud/region/zone"),
    ("infra-empty-part", patched(res(infra="aws//us-east-1a")),
     "resources.infra", "must look like cloud[/region[/zone]]", "aws//us-east-1a", "infra: aws/us-east-1"),
    ("infra-unknown-cloud", patched(res(infra="gpc/us-central1")),
     "resources.infra", "unknown value", "gpc", "did you mean 'gcp'?"),
    ("cloud-typo", patched(res(cloud="azur")),
     "resources.cloud", "unknown value", "azur", "did you mean 'azure'?"),
    ("zone-outside-region", patched(res(cloud="aws", region="us-east-1", zone="us-west-2a")),
     "resources.zone", "is not a zone of region us-east-1", "us-west-2a", "starts with us-east-1"),
    ("local-region", patched(res(cloud="local", region="us-east-1")),
     "resources.region", "the local cloud has one region", "us-east-1", "region: local"),
    ("local-zone", patched(res(infra="local/local/zone-1")),
     "resources.infra", "local zones are named local-a", "zone-1", "zone: local-a"),
    ("any-of-and-ordered", patched(res(any_of=[{"cloud": "aws"}], ordered=[{"cloud": "gcp"}])),
     "resources.ordered", "cannot be combined with `any_of`", None, "not both"),
    ("any-of-empty", patched(res(any_of=[])),
     "resources.any_of", "non-empty list of overrides, not an empty list", [],
     "any_of: ["),
    ("any-of-item-typo", patched(res(any_of=[{"cloud": "aws"}, {"regin": "us-east-1"}])),
     "resources.any_of[1].regin", "unknown field", None, "did you mean 'region'?"),
    ("any-of-item-bad-region-type", patched(res(any_of=[{"cloud": "aws", "region": 1}])),
     "resources.any_of[0].region", "must be a non-empty string, not an integer", 1, "region: us-east-1"),
    ("gpu-list-with-any-of", patched(res(accelerators=["L4", "A10G"], any_of=[{"cloud": "aws"}])),
     "resources.accelerators", "an ordered accelerator list cannot be combined with `any_of`", ["L4", "A10G"],
     "use a set"),
    ("gpu-set-inside-ordered", patched(res(ordered=[{"cloud": "aws", "accelerators": {"L4": 1, "T4": 1}}])),
     "resources.ordered[0].accelerators", "cannot list several accelerators inside `ordered`",
     {"L4": 1, "T4": 1}, "one accelerator"),
    ("cpus-word", patched(res(cpus="lots")),
     "resources.cpus", "optionally followed by '+'", "lots", "cpus: 4+"),
    ("memory-ratio", patched(res(memory="4x")),
     "resources.memory", "optionally followed by '+'", "4x", "32+"),
    ("disk-negative", patched(res(disk_size=-1)), "resources.disk_size", "whole number of GB > 0", -1, "256"),
    ("disk-tier-typo", patched(res(disk_tier="fast")), "resources.disk_tier", "unknown value", "fast", "low"),
    ("use-spot-string", patched(res(use_spot="yes")),
     "resources.use_spot", "must be a boolean", "yes", "`true`"),
    ("job-recovery", patched(res(job_recovery="FAILOVER")),
     "resources.job_recovery", "is not supported by skyctl", None, "replaces preempted replicas itself"),
    ("tls-missing-cert", patched(svc(tls={"keyfile": "k.pem"})),
     "service.tls.certfile", "is required", None, "give both `keyfile` and `certfile`"),
    ("env-bad-name", patched({"envs": {"1BAD": "x"}}),
     "envs.1BAD", "is not a valid environment variable name", "1BAD", "letters, digits and underscores"),
    ("env-reserved", patched({"envs": {"SKYCTL_PORT": "9000"}}),
     "envs.SKYCTL_PORT", "is set on every replica by skyctl", None, "read $SKYCTL_PORT in `run`"),
    ("env-list-value", patched({"envs": {"FLAGS": ["-v"]}}),
     "envs.FLAGS", "must be a string, not a list", ["-v"],
     "quote the value"),
    ("envs-not-map", patched({"envs": ["A=1"]}),
     "envs", "must be a mapping of NAME: value", ["A=1"], "NAME: value"),
    ("multi-node", patched({"num_nodes": 2}), "num_nodes", "must be 1", 2, "scale with `service.replicas`"),
    ("file-mounts", patched({"file_mounts": {"/data": "s3://b"}}),
     "file_mounts", "is not supported by skyctl", None, "workdir"),
    ("pool", patched(svc(pool=True)), "service.pool", "is not supported by skyctl", None, "remove `pool`"),
    ("old-https", patched(svc(https={"key": "k.pem", "cert": "c.pem"})),
     "service.https", "is not supported by skyctl", None, "write `tls: {keyfile: key.pem, certfile:"),
    ("old-spot-zones", patched(rp(**AUTO, spot_zones=["us-central1-a"])),
     f"{RP}.spot_zones", "is not supported by skyctl", None, "under `resources.any_of`"),
    ("old-spot-placer-name", patched(rp(**AUTO, spot_placer="DynamicFailover"), SPOT),
     f"{RP}.spot_placer", "unknown value", "DynamicFailover", "dynamic_fallback, skyctl"),
    ("no-service", patched({"service": DELETE}), "service", "is required: this is a plain task", None,
     "add e.g. `service:"),
    ("no-run", patched({"run": DELETE}), "run", "is required", None, "python -m replica_agent serve"),
    ("run-not-text", patched({"run": ["a", "b"]}),
     "run", "must be a non-empty string, not a list", ["a", "b"],
     "run: python server.py"),
    ("bad-name", patched({"name": "my service"}), "name", "must start with a letter", "my service",
     "name: llama-chat"),
    ("policy-not-map", patched(svc(replicas=DELETE, replica_policy=[1, 2])),
     RP, "must be a mapping of fields, not a list", [1, 2], "indent the fields"),
]


@pytest.mark.parametrize(("data", "field", "message", "value", "fix"),
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_invalid_variant(data: dict[str, Any], field: str | None, message: str, value: Any, fix: str) -> None:
    with pytest.raises(UserError) as info:
        parse_service_spec(data, "svc.yaml")
    err = info.value
    assert err.field == field
    assert message in err.message
    assert err.value == value
    assert fix in (err.fix or "")
    assert err.message.startswith(f"svc.yaml: {field}: " if field else "svc.yaml: ")
    assert err.exit_code == 2


def test_case_ids_are_unique_and_the_base_is_valid() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))
    assert parse_service_spec(patched(), "svc.yaml").service.ports == 8080


def test_the_issue_example_message_reads_well() -> None:
    with pytest.raises(UserError) as info:
        parse_service_spec(CASES[0][1], "svc.yaml")
    assert info.value.message == (
        "svc.yaml: service.replica_policy.max_replicas: must be >= min_replicas (2) "
        "(got 1); raise max_replicas to at least 2 or lower min_replicas")


@pytest.mark.parametrize(("text", "message"), [
    ("service:\n  replicas: 1\n   readiness_probe: /\n", "invalid YAML at line 3, column"),
    ("service:\n  replicas: [1, 2\nrun: x\n", "invalid YAML at line 3, column 4"),
    ("service: {replicas: 1}\nservice: {replicas: 2}\nrun: x\n", "duplicate key 'service'"),
    ("", "the file is empty"),
    ("- service\n", "must be a mapping of fields, not a list"),
])
def test_yaml_text_errors(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "svc.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as info:
        load_service_spec(path)
    assert message in info.value.message
    assert info.value.message.startswith(str(path))


def test_duplicate_key_names_its_line(tmp_path) -> None:
    path = tmp_path / "svc.yaml"
    path.write_text("service:\n  replicas: 1\n  replicas: 2\nrun: x\n")
    with pytest.raises(UserError, match="at line 3, column 3: duplicate key 'replicas'"):
        load_service_spec(path)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(UserError, match="file not found"):
        load_service_spec(tmp_path / "nope.yaml")


def test_fixture_text_stays_valid_yaml() -> None:
    assert load_yaml((DATA / "minimal.yaml").read_text(), "minimal.yaml")["service"]["replicas"] == 2
