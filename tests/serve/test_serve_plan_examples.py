"""Launch plans of the shipped example YAMLs and the spec test data, against the shipped catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from providers.local import LocalProvider
from skyctl.catalog import load_catalog
from skyctl.errors import UserError
from skyctl.serve.plan import LaunchPlan, launch_candidates, plan_to_dict
from skyctl.spec import load_service_spec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "serve"
DATA = ROOT / "tests" / "spec" / "data"
ALL_CLOUDS = {"local", "aws", "gcp", "azure"}


@pytest.fixture
def providers(tmp_path: Path) -> dict[str, LocalProvider]:
    return {"local": LocalProvider(root=tmp_path / "replicas")}


def plan_of(path: Path, providers: dict, enabled: set[str] = ALL_CLOUDS) -> LaunchPlan:
    return launch_candidates(load_service_spec(path), providers=providers, enabled_clouds=enabled)


def reasons(plan: LaunchPlan) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in plan.excluded:
        out.setdefault(e.where, []).append(e.reason)
    return out


def assert_catalog_prices(plan: LaunchPlan) -> None:
    """Every cloud candidate's prices are its catalog row's, and no matching row there is cheaper."""
    catalog = load_catalog()
    for c in plan.candidates:
        loc, r = c.location, c.resources
        rows = [o for o in catalog.offerings
                if (o.cloud, o.region, o.zone) == (loc.cloud, loc.region, loc.zone)
                and o.gpu == r.accelerator and o.gpu_count == r.accelerator_count
                and (r.cpus is None or r.cpus.allows(o.vcpus))
                and (r.memory is None or r.memory.allows(o.memory_gb))]
        (row,) = [o for o in rows if o.instance_type == c.instance_type]
        assert (c.spot_price, c.ondemand_price) == (row.price_spot, row.price_ondemand)
        cheapest = min(o.price(r.use_spot) or float("inf") for o in rows)
        assert (row.price(r.use_spot) or float("inf")) == cheapest


def test_local_example_uses_the_local_provider_prices(providers):
    plan = plan_of(EXAMPLES / "local.yaml", providers)
    local = providers["local"]
    assert [str(c.location) for c in plan.candidates] == ["local/local/local-a", "local/local/local-b"]
    for c in plan.candidates:
        assert c.spot_price == local.price(None, spot=True, zone=c.location.zone)
        assert c.ondemand_price == local.price(None, spot=False, zone=c.location.zone)
    assert plan.excluded == []


def test_spothedge_example_spot_order_prices_and_exclusions(providers):
    plan = plan_of(EXAMPLES / "spothedge.yaml", providers)
    assert_catalog_prices(plan)
    assert {c.location.cloud for c in plan.candidates} == {"aws", "gcp"}
    assert {c.location.region for c in plan.candidates} == {"us-east-1", "us-west-2", "us-central1"}
    spot = [c.spot_price for c in plan.candidates]
    with_price = [p for p in spot if p is not None]
    assert with_price == sorted(with_price) and spot[: len(with_price)] == with_price  # cheapest spot first
    assert plan.candidates[0].location.cloud == "gcp" and plan.candidates[0].instance_type == "g2-standard-4"
    # us-west-2b has no L4 spot price, but dynamic on-demand fallback may still launch there on-demand
    (west_b,) = [c for c in plan.candidates if c.location.zone == "us-west-2b"]
    assert west_b.spot_price is None and west_b.ondemand_price == pytest.approx(0.8048)
    assert reasons(plan)["azure/eastus"] == ["no L4 offering"]
    assert reasons(plan)["aws/us-east-1/us-east-1c"] == ["no L4 offering"]
    assert plan.ranked(spot=True)[-1].location.zone == "us-west-2c"
    assert west_b not in plan.ranked(spot=True) and west_b in plan.ranked(spot=False)


def test_autoscaling_example_any_of_accelerators_cheapest_on_demand_first(providers):
    plan = plan_of(EXAMPLES / "autoscaling.yaml", providers)
    assert_catalog_prices(plan)
    od = [c.ondemand_price for c in plan.candidates]
    assert od == sorted(od) and plan.ordered is False
    assert {c.resources.accelerator for c in plan.candidates} == {"A100-80GB"}
    why = reasons(plan)
    assert why["aws"] == ["no L4:1 offering with memory 32+ GB (offered: g6.xlarge 16 GB)",
                          "no A100-80GB:1 offering (offered: A100-80GB:8)"]
    assert why["azure"] == ["no L4 offering"]
    assert any("local replicas get no GPU" in r for r in why["local"])


def test_infra_tls_ordered_keeps_preference_over_price(providers):
    plan = plan_of(DATA / "infra_tls.yaml", providers)
    assert_catalog_prices(plan)
    assert plan.ordered is True
    clouds = [c.location.cloud for c in plan.candidates]
    assert clouds == ["gcp"] + ["aws"] * 6 + ["azure"] * 3
    assert plan.rank == [0] + [1] * 6 + [2] * 3
    aws = [c.ondemand_price for c in plan.candidates if c.location.cloud == "aws"]
    assert aws == [pytest.approx(98.32)] * 6
    # within one ordered item, the on-demand plan's zones are cheapest first
    azure = [c.ondemand_price for c in plan.candidates if c.location.cloud == "azure"]
    assert azure == sorted(azure)


def test_paper_e2e_one_zone_per_region_with_eight_a10g(providers):
    plan = plan_of(DATA / "paper_e2e.yaml", providers)
    assert_catalog_prices(plan)
    assert [str(c.location) for c in plan.candidates] == [
        "aws/us-east-2/us-east-2b", "aws/us-west-2/us-west-2c", "aws/eu-central-1/eu-central-1c"]
    assert {c.instance_type for c in plan.candidates} == {"g5.48xlarge"}
    assert plan.candidates[0].spot_price == pytest.approx(2.711, abs=1e-3)
    assert reasons(plan)["aws/us-east-2/us-east-2a"] == ["no A10G:8 offering (offered: A10G:1, A10G:4)"]


@pytest.mark.parametrize("name", ["minimal.yaml", "autoscaling.yaml", "dynamic_fallback.yaml",
                                  "base_fallback.yaml"])
def test_cpu_only_specs_land_on_local(providers, name):
    plan = plan_of(DATA / name, providers)
    assert [c.location.zone for c in plan.candidates] == ["local-a", "local-b", "local-c"]
    for cloud in ("aws", "gcp", "azure"):
        assert reasons(plan)[cloud] == [
            "the catalog lists GPU instance types only (CPU-only replicas run on `cloud: local`)"]


def test_cpu_only_spec_without_local_is_a_user_error(providers):
    with pytest.raises(UserError) as err:
        plan_of(DATA / "minimal.yaml", providers, enabled={"aws", "gcp"})
    assert err.value.field == "resources"
    assert "aws: the catalog lists GPU instance types only" in err.value.message
    assert "local: cloud not enabled" in err.value.message


def test_spothedge_test_data_is_all_excluded_by_cpus(providers):
    """The docs' SpotHedge YAML asks 1x L4 with 32+ vCPUs, which the shipped catalog does not offer."""
    with pytest.raises(UserError) as err:
        plan_of(DATA / "spothedge.yaml", providers)
    assert err.value.field == "resources"
    assert "aws/us-east-1: no L4:1 offering with cpus 32+ (offered: g6.xlarge 4 vCPUs)" in err.value.message
    assert "gcp: no L4:1 offering with cpus 32+" in err.value.message


def test_cloud_not_enabled_excludes_it(providers):
    plan = plan_of(EXAMPLES / "spothedge.yaml", providers, enabled={"gcp"})
    assert {c.location.cloud for c in plan.candidates} == {"gcp"}
    assert reasons(plan)["aws"][0].startswith("cloud not enabled")
    with pytest.raises(UserError, match=r"aws: cloud not enabled.*azure: cloud not enabled"):
        plan_of(EXAMPLES / "spothedge.yaml", providers, enabled={"local"})


def test_plan_to_dict_is_json_and_complete(providers):
    plan = plan_of(EXAMPLES / "spothedge.yaml", providers)
    data = json.loads(json.dumps(plan_to_dict(plan)))
    assert len(data["candidates"]) == len(plan.candidates)
    first = data["candidates"][0]
    assert first["location"] == str(plan.candidates[0].location)
    assert first["accelerators"] == {"L4": 1} and first["use_spot"] is True
    assert first["description"].startswith("gcp/us-central1/us-central1-a g2-standard-4 L4:1 spot $0.2818/h")
    assert {"where": "azure/eastus", "reason": "no L4 offering"} in data["excluded"]
