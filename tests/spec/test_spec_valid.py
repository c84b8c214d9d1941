"""Every example YAML of the brief (§1.3, §6) parses to the right normalised spec."""

from __future__ import annotations

from typing import Any

import pytest
from spec_helpers import DATA, EXAMPLES, lookup

from skyctl.spec import load_service_spec, spec_from_dict

DEFAULT_PROBE = {"path": "/", "initial_delay_seconds": 1200, "timeout_seconds": 15}

# file -> {dotted path in to_dict(): expected value}
EXPECTED: dict[str, dict[str, Any]] = {
    "spothedge.yaml": {
        "service.readiness_probe": DEFAULT_PROBE,
        "service.replica_policy": {
            "min_replicas": 2, "max_replicas": 5, "target_qps_per_replica": 10, "num_overprovision": 1,
            "upscale_delay_seconds": 300, "downscale_delay_seconds": 1200,
            "base_ondemand_fallback_replicas": 0, "dynamic_ondemand_fallback": True,
            "spot_placer": "dynamic_fallback"},
        "service.load_balancing_policy": "least_load",
        "service.ports": 8081,
        "resources.any_of": [
            {"cloud": "aws", "region": "us-east-1", "accelerators": {"L4": 1}, "use_spot": True,
             "cpus": "32+", "disk_size": 256, "ports": [8081]},
            {"cloud": "gcp", "accelerators": {"L4": 1}, "use_spot": True, "cpus": "32+", "disk_size": 256,
             "ports": [8081]}],
        "envs": {"MODEL_NAME": "meta-llama/Meta-Llama-3.1-8B-Instruct", "HF_TOKEN": None},
    },
    "dynamic_fallback.yaml": {
        "service.readiness_probe": {**DEFAULT_PROBE, "path": "/health"},
        "service.replica_policy.dynamic_ondemand_fallback": True,
        "service.replica_policy.base_ondemand_fallback_replicas": 0,
        "service.replica_policy.target_qps_per_replica": 1,
        "resources": {"use_spot": True, "cpus": "2+", "disk_size": 256, "ports": [8081]},
        "workdir": "examples/serve/http_server",
        "run": "python3 server.py",
    },
    "base_fallback.yaml": {
        "service.replica_policy.base_ondemand_fallback_replicas": 1,
        "service.replica_policy.dynamic_ondemand_fallback": False,
        "service.replica_policy.max_replicas": 3,
    },
    "paper_e2e.yaml": {
        "service.readiness_probe": {
            "path": "/v1/chat/completions", "initial_delay_seconds": 1800, "timeout_seconds": 15,
            "post_data": {"model": "meta-llama/Llama-2-70b-chat-hf", "max_tokens": 1,
                          "messages": [{"role": "user", "content": "Hello! What is your name?"}]}},
        "service.replica_policy.min_replicas": 0,
        "service.replica_policy.target_qps_per_replica": 0.2,
        "resources.any_of[0]": {"cloud": "aws", "region": "us-east-2", "accelerators": {"A10G": 8},
                                "use_spot": True, "disk_size": 256, "ports": [9000]},
        "resources.any_of[1].region": "us-west-2",
        "resources.any_of[2].region": "eu-central-1",
        "service.ports": 9000,
    },
    "minimal.yaml": {
        "service.replica_policy": {"min_replicas": 2, "upscale_delay_seconds": 300,
                                   "downscale_delay_seconds": 1200, "num_overprovision": 0,
                                   "base_ondemand_fallback_replicas": 0, "dynamic_ondemand_fallback": False},
        "resources": {"use_spot": False, "cpus": "2+", "disk_size": 256, "ports": [8080]},
    },
    "autoscaling.yaml": {
        "service.readiness_probe.initial_delay_seconds": 20,
        "service.replica_policy.target_qps_per_replica": 2.5,
        "service.load_balancing_policy": "round_robin",
    },
    "auth_headers.yaml": {
        "service.readiness_probe.headers": {"Authorization": "Bearer secret-token"},
        "service.readiness_probe.timeout_seconds": 5,
        "resources.any_of": [
            {"accelerators": {"L4": 1}, "use_spot": False, "disk_size": 256, "ports": [8000]},
            {"accelerators": {"A10G": 1}, "use_spot": False, "disk_size": 256, "ports": [8000]}],
        "run": "vllm serve $MODEL_NAME --api-key $API_KEY --port 8000",  # run is the replica's shell's job
    },
    "scale_to_zero.yaml": {
        "service.readiness_probe.post_data": {"model": "mistralai/Mistral-7B-Instruct-v0.3", "prompt": "hi",
                                              "max_tokens": 1},
        "service.replica_policy.target_qps_per_replica": {"A100-40GB:1": 5, "L4": 2},
        "service.replica_policy.upscale_delay_seconds": 60,
        "service.load_balancing_policy": "instance_aware_least_load",
        "resources.ordered": [
            {"accelerators": {"A100-40GB": 1}, "use_spot": False, "memory": "32+", "disk_size": 512,
             "image_id": "docker:vllm/vllm-openai:latest", "ports": [8000]},
            {"accelerators": {"L4": 1}, "use_spot": False, "memory": "32+", "disk_size": 512,
             "image_id": "docker:vllm/vllm-openai:latest", "ports": [8000]}],
    },
    "infra_tls.yaml": {
        "name": "llama-chat",
        "service.ports": 8080,
        "service.tls": {"keyfile": "~/certs/key.pem", "certfile": "~/certs/cert.pem"},
        "resources.ordered[0]": {"cloud": "gcp", "region": "us-central1", "zone": "us-central1-a",
                                 "accelerators": {"H100": 8}, "use_spot": False, "disk_size": 256,
                                 "disk_tier": "high"},
        "resources.ordered[1].cloud": "aws",
        "resources.ordered[1].region": "us-east-1",
        "resources.ordered[2].cloud": "azure",
        "setup": "pip install vllm",
    },
}


def test_every_fixture_has_expectations() -> None:
    assert sorted(p.name for p in DATA.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize(("name", "path", "expected"),
                         [(n, p, v) for n, table in EXPECTED.items() for p, v in table.items()])
def test_fixture_normalises_to(name: str, path: str, expected: Any) -> None:
    assert lookup(load_service_spec(DATA / name).to_dict(), path) == expected


@pytest.mark.parametrize("path", sorted(DATA.glob("*.yaml")) + sorted(EXAMPLES.glob("*.yaml")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_to_dict_round_trips(path) -> None:
    spec = load_service_spec(path)
    again = spec_from_dict(spec.to_dict())
    assert again == spec
    assert again.version == spec.version


def test_spothedge_summary_strings() -> None:
    spec = load_service_spec(DATA / "spothedge.yaml")
    policy = spec.service.replica_policy
    assert policy.spot_policy() == "SpotHedge"
    assert policy.use_ondemand_fallback and policy.autoscaling and not policy.instance_aware
    assert policy.describe() == \
        "Autoscaling from 2 to 5 replicas with 1 overprovisioned (target QPS per replica: 10)"
    assert spec.service.readiness_probe.describe() == "GET /"
    assert spec.task.missing_envs == ["HF_TOKEN"]
    assert [c.location for c in spec.task.resources] == [("aws", "us-east-1", None), ("gcp", None, None)]
    assert spec.task.ordered is False


def test_fallback_policies_are_named_like_skypilot() -> None:
    assert load_service_spec(DATA / "dynamic_fallback.yaml").service.replica_policy.spot_policy() == \
        "Dynamic on-demand fallback"
    assert load_service_spec(DATA / "base_fallback.yaml").service.replica_policy.spot_policy() == \
        "1 base on-demand"
    assert load_service_spec(DATA / "minimal.yaml").service.replica_policy.describe() == "Fixed 2 replicas"


def test_paper_probe_is_a_post_with_the_model_filled_in() -> None:
    probe = load_service_spec(DATA / "paper_e2e.yaml").service.readiness_probe
    assert probe.method == "POST"
    assert probe.post_data["model"] == "meta-llama/Llama-2-70b-chat-hf"


def test_per_accelerator_targets_match_candidates() -> None:
    spec = load_service_spec(DATA / "scale_to_zero.yaml")
    policy = spec.service.replica_policy
    assert spec.task.ordered is True
    assert [policy.target_qps_for(c.accelerator, c.accelerator_count) for c in spec.task.resources] == [5, 2]
    assert policy.target_qps_for("A100-40GB", 8) is None  # the key names one GPU, not eight
    assert policy.target_qps_for("L4", 4) == 2  # a bare name covers any count
