"""Plan rules on a small hand-written catalog: cheapest instance type per zone, spot vs on-demand needs,
ordered vs any_of, local rules, exclusion reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from providers.local import LocalProvider
from skyctl.catalog import Catalog, parse_offerings
from skyctl.errors import UserError
from skyctl.serve.plan import LaunchPlan, describe_candidate, launch_candidates
from skyctl.spec import parse_service_spec

HEAD = ("cloud,region,zone,instance_type,gpu,gpu_count,gpu_memory_gb,vcpus,memory_gb,price_ondemand,"
        "price_spot,price_date,price_source\n")
ROWS = """\
aws,us-east-1,us-east-1a,g6.xlarge,L4,1,24,4,16,0.80,0.40,2025,t
aws,us-east-1,us-east-1a,g6.2xlarge,L4,1,24,8,32,0.98,0.45,2025,t
aws,us-east-1,us-east-1b,g6.xlarge,L4,1,24,4,16,0.80,,2025,t
aws,us-east-1,us-east-1b,g6.2xlarge,L4,1,24,8,32,0.98,0.50,2025,t
aws,us-west-2,us-west-2a,g6.xlarge,L4,1,24,4,16,0.80,0.30,2025,t
aws,us-west-2,us-west-2a,g6.12xlarge,L4,4,24,48,192,4.60,1.70,2025,t
gcp,us-central1,us-central1-a,g2-standard-4,L4,1,24,4,16,0.70,0.28,2025,t
gcp,us-central1,us-central1-b,a2-highgpu-1g,A100-40GB,1,40,12,85,3.67,1.44,2025,t
azure,eastus,,Standard_NC24ads_A100_v4,A100-80GB,1,80,24,220,3.67,0.44,2025,t
"""
CATALOG = Catalog(parse_offerings(HEAD + ROWS, "test"), "test")
ALL = {"local", "aws", "gcp", "azure"}


def plan(resources: Any, tmp_path: Path, *, policy: dict | None = None,
         enabled: set[str] = ALL) -> LaunchPlan:
    service = {"readiness_probe": "/", "replica_policy": policy or {"min_replicas": 1}}
    spec = parse_service_spec({"service": service, "resources": resources, "run": "serve"})
    return launch_candidates(spec, providers={"local": LocalProvider(root=tmp_path)}, catalog=CATALOG,
                             enabled_clouds=enabled)


def where(p: LaunchPlan) -> list[str]:
    return [str(c.location) for c in p.candidates]


def why(p: LaunchPlan) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in p.excluded:
        out.setdefault(e.where, []).append(e.reason)
    return out


def test_cheapest_matching_instance_type_per_zone(tmp_path):
    p = plan({"cloud": "aws", "accelerators": "L4:1", "ports": 8080}, tmp_path)
    # equal on-demand prices: the spot price breaks the tie
    assert [(str(c.location), c.instance_type, c.ondemand_price) for c in p.candidates] == [
        ("aws/us-west-2/us-west-2a", "g6.xlarge", 0.80), ("aws/us-east-1/us-east-1a", "g6.xlarge", 0.80),
        ("aws/us-east-1/us-east-1b", "g6.xlarge", 0.80)]
    assert p.candidates[2].spot_price is None  # kept: this on-demand spec needs no spot price


def test_cpus_and_memory_pick_the_bigger_machine(tmp_path):
    p = plan({"cloud": "aws", "region": "us-east-1", "accelerators": "L4", "cpus": "8+", "memory": "32+",
              "ports": 8080}, tmp_path)
    assert {c.instance_type for c in p.candidates} == {"g6.2xlarge"}
    with pytest.raises(UserError) as err:
        plan({"cloud": "aws", "region": "us-west-2", "accelerators": "L4", "cpus": "8+", "ports": 8080},
             tmp_path)
    assert "aws/us-west-2: no L4:1 offering with cpus 8+ (offered: g6.xlarge 4 vCPUs)" in err.value.message


def test_spot_only_spec_excludes_a_zone_without_spot_price(tmp_path):
    p = plan({"cloud": "aws", "region": "us-east-1", "accelerators": "L4", "use_spot": True, "ports": 8080},
             tmp_path)
    # us-east-1b: the cheap type has no spot price, so the 2xlarge (spot 0.50) is chosen there
    assert [(c.location.zone, c.instance_type, c.spot_price) for c in p.candidates] == [
        ("us-east-1a", "g6.xlarge", 0.40), ("us-east-1b", "g6.2xlarge", 0.50)]
    with pytest.raises(UserError) as err:
        plan({"cloud": "aws", "zone": "us-east-1b", "accelerators": "L4", "use_spot": True, "cpus": 4,
              "ports": 8080}, tmp_path)
    assert "aws/us-east-1/us-east-1b: no spot price for g6.xlarge" in err.value.message


def test_fallback_keeps_a_zone_with_only_on_demand(tmp_path):
    p = plan({"cloud": "aws", "zone": "us-east-1b", "accelerators": "L4", "use_spot": True, "cpus": 4,
              "ports": 8080}, tmp_path, policy={"min_replicas": 1, "dynamic_ondemand_fallback": True})
    (c,) = p.candidates
    assert (c.instance_type, c.spot_price, c.ondemand_price) == ("g6.xlarge", None, 0.80)
    assert p.ranked(spot=True) == [] and p.ranked(spot=False) == [c]


def test_any_of_is_cheapest_first_and_ordered_keeps_preference(tmp_path):
    items = [{"cloud": "aws", "region": "us-west-2"}, {"cloud": "gcp"}]
    base = {"accelerators": "L4:1", "use_spot": True, "ports": 8080}
    any_of = plan({**base, "any_of": items}, tmp_path)
    assert where(any_of) == ["gcp/us-central1/us-central1-a", "aws/us-west-2/us-west-2a"]
    assert any_of.rank == [0, 0] and not any_of.ordered
    ordered = plan({**base, "ordered": items}, tmp_path)
    assert where(ordered) == ["aws/us-west-2/us-west-2a", "gcp/us-central1/us-central1-a"]
    assert ordered.rank == [0, 1] and ordered.ordered
    assert [c.location.cloud for c in ordered.ranked(spot=False)] == ["aws", "gcp"]


def test_overlapping_any_of_items_give_each_zone_once(tmp_path):
    p = plan({"accelerators": "L4:1", "ports": 8080,
              "any_of": [{"cloud": "aws"}, {"cloud": "aws", "region": "us-east-1"}]}, tmp_path)
    assert sorted(where(p)) == sorted(set(where(p)))
    assert len(p.candidates) == 3


def test_open_gpu_spec_skips_local_and_cloud_local_accepts_it(tmp_path):
    p = plan({"accelerators": "A100-80GB:1", "ports": 8080}, tmp_path)
    assert where(p) == ["azure/eastus"]
    assert why(p)["local"] == ["A100-80GB:1 requested: local replicas get no GPU or cloud machine unless "
                               "the spec says `cloud: local`"]
    assert why(p)["gcp"] == ["no A100-80GB offering"]
    local = plan({"cloud": "local", "accelerators": "A100-80GB:1"}, tmp_path)
    assert where(local) == ["local/local/local-a", "local/local/local-b", "local/local/local-c"]
    assert local.candidates[0].resources.accelerators == {"A100-80GB": 1}


def test_local_zone_the_provider_lacks_is_excluded(tmp_path):
    p = plan({"cloud": "local", "any_of": [{"zone": "local-b"}, {"zone": "local-z"}]}, tmp_path)
    assert where(p) == ["local/local/local-b"]
    assert why(p)["local/local/local-z"][0].startswith("not offered by the local provider")


def test_unknown_cloud_region_and_zone_reasons(tmp_path):
    p = plan({"accelerators": "L4:1", "ports": 8080, "any_of": [
        {"cloud": "gcp"}, {"cloud": "kubernetes"}, {"cloud": "aws", "region": "us-east-2"},
        {"cloud": "aws", "zone": "us-west-2q"}]}, tmp_path)
    assert where(p) == ["gcp/us-central1/us-central1-a"]
    reasons = why(p)
    assert reasons["kubernetes"] == ["skyctl has no provider and no catalog prices for this cloud yet"]
    assert reasons["aws/us-east-2"][0].startswith("region not in the catalog; did you mean")
    assert reasons["aws/us-west-2/us-west-2q"][0].startswith("zone not in the catalog; did you mean")


def test_count_mismatch_names_what_is_offered(tmp_path):
    with pytest.raises(UserError) as err:
        plan({"cloud": "aws", "accelerators": "L4:2", "ports": 8080}, tmp_path)
    assert "aws: no L4:2 offering (offered: L4:1, L4:4)" in err.value.message


def test_instance_type_filter(tmp_path):
    """An instance type is a cloud machine: an open candidate naming one does not go to local."""
    p = plan({"instance_type": "g6.2xlarge", "ports": 8080}, tmp_path)
    assert {c.instance_type for c in p.candidates} == {"g6.2xlarge"}
    assert where(p) == ["aws/us-east-1/us-east-1a", "aws/us-east-1/us-east-1b"]
    assert why(p)["local"][0].startswith("g6.2xlarge requested")
    assert why(p)["gcp"] == ["no instance type g6.2xlarge (offered: a2-highgpu-1g, g2-standard-4)"]


def test_describe_candidate(tmp_path):
    p = plan({"cloud": "azure", "accelerators": "A100-80GB", "use_spot": True, "ports": 8080}, tmp_path)
    assert describe_candidate(p.candidates[0]) == (
        "azure/eastus Standard_NC24ads_A100_v4 A100-80GB:1 spot $0.44/h, on-demand $3.67/h")
