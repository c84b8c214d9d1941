"""Normalisation details: accelerator and location forms, env substitution, versions, line numbers."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from typing import Any

import pytest
from spec_helpers import DATA, EXAMPLES

from skyctl.errors import UserError
from skyctl.spec import Amount, load_service_spec, parse_service_spec, spec_from_dict


def spec_with(resources: dict[str, Any] | None = None, service: dict[str, Any] | None = None,
              **top: Any) -> Any:
    data = {"service": service or {"replicas": 1}, "resources": {"ports": 8080, **(resources or {})},
            "run": "python server.py", **top}
    return parse_service_spec(data, "t.yaml")


def accels(spec: Any) -> list[dict[str, float]]:
    return [c.accelerators for c in spec.task.resources]


@pytest.mark.parametrize(("value", "expected", "ordered"), [
    ("L4", [{"L4": 1}], False),
    ("l4:1", [{"L4": 1}], False),
    ("A100:8", [{"A100-40GB": 8}], False),  # SkyPilot's bare A100 is the 40 GB part
    ("A100-80GB:8", [{"A100-80GB": 8}], False),
    ("a10g", [{"A10G": 1}], False),
    ("V100:0.5", [{"V100": 0.5}], False),  # fractional: a shared GPU
    ({"L4": 1, "A10g": 1}, [{"L4": 1}, {"A10G": 1}], False),
    ({"L4": None, "T4": None}, [{"L4": 1}, {"T4": 1}], False),  # YAML set `{L4, T4}`
    ({"H100": 8}, [{"H100": 8}], False),
    (["A100-80GB:1", "L4:2"], [{"A100-80GB": 1}, {"L4": 2}], True),
    (["L4"], [{"L4": 1}], False),  # a one-item list has no order to keep
])
def test_accelerator_forms(value: Any, expected: list[dict[str, float]], ordered: bool) -> None:
    spec = spec_with({"accelerators": value})
    assert accels(spec) == expected
    assert spec.task.ordered is ordered


def test_any_of_items_override_the_base_and_expand_over_accelerators() -> None:
    spec = spec_with({"cloud": "aws", "use_spot": True, "accelerators": {"L4": 1, "A10G": 1},
                      "any_of": [{"region": "us-east-1"}, {"region": "us-west-2", "use_spot": False}]})
    got = [(c.location, c.accelerator, c.use_spot) for c in spec.task.resources]
    assert got == [(("aws", "us-east-1", None), "L4", True), (("aws", "us-east-1", None), "A10G", True),
                   (("aws", "us-west-2", None), "L4", False), (("aws", "us-west-2", None), "A10G", False)]


def test_a_single_candidate_has_no_order() -> None:
    assert spec_with({"ordered": [{"cloud": "aws"}]}).task.ordered is False
    assert spec_with({"ordered": [{"cloud": "aws"}, {"cloud": "gcp"}]}).task.ordered is True


def test_repeated_candidates_are_kept_once() -> None:
    spec = spec_with({"any_of": [{"cloud": "gcp"}, {"cloud": "GCP"}, {"infra": "gcp"}]})
    assert [c.location for c in spec.task.resources] == [("gcp", None, None)]


@pytest.mark.parametrize(("fields", "location"), [
    ({"infra": "aws"}, ("aws", None, None)),
    ({"infra": "AWS/us-east-1"}, ("aws", "us-east-1", None)),
    ({"infra": "gcp/us-central1/us-central1-a"}, ("gcp", "us-central1", "us-central1-a")),
    ({"infra": "*/us-east-1"}, (None, "us-east-1", None)),
    ({"infra": "aws/*/us-east-1b"}, ("aws", "us-east-1", "us-east-1b")),
    ({"infra": "k8s/eks:1234:cluster/prod"}, ("kubernetes", "eks:1234:cluster/prod", None)),
    ({"cloud": "aws", "zone": "us-west-2c"}, ("aws", "us-west-2", "us-west-2c")),  # region from the zone
    ({"cloud": "gcp", "zone": "europe-west4-a"}, ("gcp", "europe-west4", "europe-west4-a")),
    ({"cloud": "azure", "region": "eastus", "zone": "2"}, ("azure", "eastus", "2")),
    ({"cloud": "local"}, ("local", "local", None)),
    ({"cloud": "local", "zone": "local-b"}, ("local", "local", "local-b")),
    ({"infra": "local/local/local-c"}, ("local", "local", "local-c")),
])
def test_location_forms(fields: dict[str, str], location: tuple[str | None, ...]) -> None:
    assert spec_with(fields).task.resources[0].location == location


@pytest.mark.parametrize(("fields", "cpus", "memory", "disk"), [
    ({"cpus": 4, "memory": 16}, Amount(4), Amount(16), 256),
    ({"cpus": "2+", "memory": "32+"}, Amount(2, True), Amount(32, True), 256),
    ({"cpus": "0.5", "memory": "1TB+", "disk_size": "1TB"}, Amount(0.5), Amount(1024, True), 1024),
    ({"memory": "512MB", "disk_size": "100GB"}, None, Amount(0.5), 100),
])
def test_sizes(fields: dict[str, Any], cpus: Amount | None, memory: Amount, disk: int) -> None:
    c = spec_with(fields).task.resources[0]
    assert (c.cpus, c.memory, c.disk_size) == (cpus, memory, disk)


def test_amount_allows_and_prints() -> None:
    assert Amount(2, True).allows(8) and not Amount(2, True).allows(1)
    assert Amount(4).allows(4) and not Amount(4).allows(8)
    assert str(Amount(32.0, True)) == "32+" and str(Amount(0.5)) == "0.5"


def test_port_forms_and_service_port_override() -> None:
    assert spec_with({"ports": "9000"}).service.ports == 9000
    assert spec_with({"ports": ["9001"]}).service.ports == 9001
    spec = spec_with({"ports": "8000-8002"}, {"replicas": 1, "ports": 8001})
    assert spec.service.ports == 8001
    assert spec.task.resources[0].ports == (8000, 8001, 8002)


def test_local_replicas_need_no_port() -> None:
    spec = load_service_spec(EXAMPLES / "local.yaml")
    assert spec.service.ports is None
    assert "ports" not in spec.to_dict()["service"]
    assert {c.zone for c in spec.task.resources} == {"local-a", "local-b"}
    assert "$SKYCTL_PORT" in spec.task.run


def test_envs_fill_the_probe_and_overrides_win() -> None:
    service = {"replicas": 1, "readiness_probe": {
        "path": "/v1/models",
        "headers": {"Authorization": "Bearer ${KEY}", "X-Cost": "$$5", "X-Other": "$UNSET"},
        "post_data": {"model": "$MODEL", "n": [1, "$MODEL"]}}}
    envs = {"KEY": "k1", "MODEL": "m", "PORTS": 8, "DEBUG": True, "HF_TOKEN": None}
    spec = parse_service_spec({"service": service, "resources": {"ports": 8080}, "run": "x", "envs": envs},
                              "t.yaml", env_overrides={"KEY": "k2", "HF_TOKEN": "hf"})
    probe = spec.service.readiness_probe
    assert probe.headers == {"Authorization": "Bearer k2", "X-Cost": "$5", "X-Other": "$UNSET"}
    assert probe.post_data == {"model": "m", "n": [1, "m"]}
    assert spec.task.envs == {"KEY": "k2", "MODEL": "m", "PORTS": "8", "DEBUG": "true", "HF_TOKEN": "hf"}
    assert spec.task.missing_envs == []
    again = spec_from_dict(json.loads(json.dumps(spec.to_dict())))  # as stored in the database
    assert again == spec and again.service.readiness_probe.headers["X-Cost"] == "$5"


def test_envs_without_values_stay_unsubstituted() -> None:
    spec = load_service_spec(DATA / "spothedge.yaml")
    assert spec.task.missing_envs == ["HF_TOKEN"]
    filled = load_service_spec(DATA / "spothedge.yaml", env_overrides={"HF_TOKEN": "hf_x"})
    assert filled.task.missing_envs == [] and filled.task.envs["HF_TOKEN"] == "hf_x"


def test_version_tracks_content_not_name_or_source() -> None:
    base = spec_with()
    assert spec_with(name="other").version == base.version
    assert parse_service_spec(base.to_dict(), "elsewhere.yaml").version == base.version
    assert spec_with({"cpus": "4+"}).version != base.version
    assert spec_with(service={"replicas": 2}).version != base.version
    assert len(base.version) == 16 and int(base.version, 16) >= 0


def test_replica_digest_ignores_scaling_and_probe_but_not_the_port() -> None:
    one = spec_with(service={"replicas": 1})
    rescaled = spec_with(service={"replicas": 5, "readiness_probe": "/health"})
    assert rescaled.replica_digest == one.replica_digest and rescaled.version != one.version
    assert spec_with({"accelerators": "L4"}).replica_digest != one.replica_digest
    assert spec_with({"ports": "8080-8081"}, service={"replicas": 1, "ports": 8081}).replica_digest != \
        spec_with({"ports": "8080-8081"}, service={"replicas": 1, "ports": 8080}).replica_digest


def test_specs_hash_by_content() -> None:
    spec = load_service_spec(DATA / "paper_e2e.yaml")  # a nested JSON probe body
    assert hash(spec) == hash(spec_from_dict(spec.to_dict()))
    assert len({spec, spec_from_dict(spec.to_dict()), spec_with()}) == 2


def test_defaults_written_out_equal_the_defaults() -> None:
    explicit = {"readiness_probe": {"path": "/", "initial_delay_seconds": 1200, "timeout_seconds": 15},
                "replica_policy": {"min_replicas": 1, "upscale_delay_seconds": 300,
                                   "downscale_delay_seconds": 1200},
                "load_balancing_policy": "LEAST_LOAD"}
    implicit = {"service": {}, "resources": {"ports": 8080, "disk_size": 256, "use_spot": False},
                "run": "python server.py"}
    assert spec_with(service=explicit).version == parse_service_spec(implicit, "t.yaml").version


def test_bare_service_section_means_defaults() -> None:
    spec = parse_service_spec({"service": None, "resources": {"ports": 8080}, "run": "x"}, "t.yaml")
    assert spec.service.readiness_probe.path == "/" and spec.service.replica_policy.min_replicas == 1


def test_candidates_are_hashable_for_placer_bookkeeping() -> None:
    spec = spec_with({"labels": {"team": "ml"}, "image_id": {"us-east-1": "ami-1"},
                      "any_of": [{"cloud": "aws"}, {"cloud": "gcp"}]})
    stats = {c: 0 for c in spec.task.resources}
    assert len(stats) == 2 and spec.task.resources[0] in stats


def test_specs_are_frozen() -> None:
    spec = spec_with()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.service.replica_policy.min_replicas = 3  # type: ignore[misc]


def test_maps_inside_a_spec_are_frozen_but_copyable() -> None:
    spec = load_service_spec(DATA / "auth_headers.yaml")
    with pytest.raises(TypeError, match="immutable"):
        spec.task.envs["SKYCTL_PORT"] = "9000"  # type: ignore[index]
    with pytest.raises(TypeError, match="immutable"):
        spec.service.readiness_probe.headers.update({"X": "y"})  # type: ignore[attr-defined]
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert copy.deepcopy(spec).version == spec.version
    changed = dataclasses.replace(spec.task, envs={**spec.task.envs, "SKYCTL_PORT": "9000"})
    assert changed.envs["SKYCTL_PORT"] == "9000" and "SKYCTL_PORT" not in spec.task.envs
    assert json.loads(json.dumps(spec.task.envs)) == dict(spec.task.envs)


def test_errors_in_a_file_carry_the_line(tmp_path) -> None:
    path = tmp_path / "svc.yaml"
    path.write_text("service:\n  readiness_probe: /health\n  replica_policy:\n    min_replicas: 2\n"
                    "    max_replicas: 1\n    target_qps_per_replica: 3\nresources:\n  ports: 8080\nrun: x\n")
    with pytest.raises(UserError) as info:
        load_service_spec(path)
    assert info.value.message.startswith(f"{path}:5: service.replica_policy.max_replicas: must be >= ")
    assert info.value.field == "service.replica_policy.max_replicas"


def test_missing_keys_point_at_their_parent_line(tmp_path) -> None:
    path = tmp_path / "svc.yaml"
    path.write_text("run: x\nresources:\n  ports: 8080\nservice:\n  replica_policy:\n    max_replicas: 2\n")
    with pytest.raises(UserError, match=r"svc\.yaml:5: service\.replica_policy\.min_replicas: is required"):
        load_service_spec(path)


def test_any_of_item_errors_point_at_the_item_line(tmp_path) -> None:
    path = tmp_path / "svc.yaml"
    path.write_text("service: {replicas: 1}\nrun: x\nresources:\n  ports: 8080\n  any_of:\n"
                    "    - cloud: aws\n    - cloud: gcp\n      zone: us-east1-b\n      region: us-central1\n")
    with pytest.raises(UserError, match=r"svc\.yaml:8: resources\.any_of\[1\]\.zone: is not a zone of "):
        load_service_spec(path)
