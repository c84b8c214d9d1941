"""Property: any valid service YAML normalises to a fixed point (`to_dict` parses back to an equal spec
with the same version), and the normalised form is plain JSON."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from skyctl.spec import parse_service_spec, spec_from_dict

GPUS = ["L4", "l4", "A10g", "A100", "A100-80GB", "H100", "T4", "V100"]
LOCATIONS = [{"cloud": "aws"}, {"cloud": "aws", "region": "us-east-1"}, {"infra": "gcp/us-central1"},
             {"cloud": "gcp", "zone": "us-central1-b"}, {"infra": "azure"}, {"infra": "*/eu-west-1"}]
PROBES = st.one_of(
    st.sampled_from(["/", "/health", "/v1/models"]),
    st.fixed_dictionaries({"path": st.just("/v1/completions")}, optional={
        "initial_delay_seconds": st.integers(0, 3600), "timeout_seconds": st.floats(0.5, 60),
        "post_data": st.just({"model": "$MODEL", "max_tokens": 1}),
        "headers": st.just({"Authorization": "Bearer ${KEY}"})}))


@st.composite
def replica_sections(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        return {"replicas": draw(st.integers(0, 5))}
    lo = draw(st.integers(0, 4))
    policy: dict[str, Any] = {"min_replicas": lo}
    if draw(st.booleans()):
        policy["max_replicas"] = draw(st.integers(lo, 10))
        policy["target_qps_per_replica"] = draw(st.floats(0.1, 50))
        policy |= draw(st.fixed_dictionaries({}, optional={
            "upscale_delay_seconds": st.integers(0, 600), "downscale_delay_seconds": st.integers(0, 3600),
            "num_overprovision": st.integers(0, 3)}))
    return {"replica_policy": policy}


@st.composite
def services(draw: st.DrawFn) -> dict[str, Any]:
    single = st.tuples(st.sampled_from(GPUS), st.sampled_from([1, 2, 8])).map(lambda g: f"{g[0]}:{g[1]}")
    gpu_set = st.lists(st.sampled_from(["L4", "T4", "H100"]), min_size=1, max_size=3, unique=True)
    gpu = draw(st.one_of(st.none(), single, gpu_set.map(lambda gs: dict.fromkeys(gs, 1))))
    resources: dict[str, Any] = {"ports": draw(st.integers(1024, 65535)), "use_spot": draw(st.booleans())}
    if gpu is not None:
        resources["accelerators"] = gpu
    resources |= draw(st.fixed_dictionaries({}, optional={
        "cpus": st.sampled_from([2, "4+", "0.5"]), "memory": st.sampled_from([16, "32+", "64GB"]),
        "disk_size": st.integers(10, 2048), "disk_tier": st.sampled_from(["low", "HIGH"])}))
    locations = draw(st.lists(st.sampled_from(LOCATIONS), max_size=3))
    if locations:
        group = "any_of" if isinstance(gpu, dict) else draw(st.sampled_from(["any_of", "ordered"]))
        resources[group] = locations
    service = {"readiness_probe": draw(PROBES), **draw(replica_sections()),
               "load_balancing_policy": draw(st.sampled_from(["least_load", "round_robin", "Round_Robin"]))}
    return {"service": service, "resources": resources, "run": "serve --port 8080",
            "envs": {"MODEL": "m", "KEY": draw(st.sampled_from(["k", "$$x"]))}}


@settings(max_examples=80, deadline=None)
@given(services())
def test_normalised_form_is_a_fixed_point(data: dict[str, Any]) -> None:
    spec = parse_service_spec(data, "gen.yaml")
    stored = json.loads(json.dumps(spec.to_dict()))
    again = spec_from_dict(stored)
    assert again == spec
    assert again.version == spec.version
    assert again.to_dict() == stored
    assert len(spec.task.resources) >= 1
