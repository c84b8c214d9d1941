"""The query API on a small hand-made catalog (exact expectations) and on the shipped one."""

from __future__ import annotations

import pytest

from skyctl.catalog import Catalog, load_catalog, parse_offerings
from skyctl.errors import UserError

HEADER = ("cloud,region,zone,instance_type,gpu,gpu_count,gpu_memory_gb,vcpus,memory_gb,price_ondemand,"
          "price_spot,price_date,price_source\n")
ROWS = """\
aws,us-east-1,us-east-1a,p4d.24xlarge,A100-40GB,8,40,96,1152,32.0,8.0,2025,test
aws,us-east-1,us-east-1b,p4d.24xlarge,A100-40GB,8,40,96,1152,32.0,4.0,2025,test
aws,us-west-2,us-west-2a,g5.xlarge,A10G,1,24,4,16,1.0,0.4,2025,test
aws,us-west-2,us-west-2a,p5e.48xlarge,H200,8,141,192,2048,,16.0,2025,test
gcp,us-central1,us-central1-a,a2-ultragpu-1g,A100-80GB,1,80,12,170,3.0,,2025,test
gcp,us-central1,us-central1-a,a2-highgpu-1g,A100-40GB,1,40,12,85,3.5,1.5,2025,test
azure,eastus,,Standard_NC24ads_A100_v4,A100-80GB,1,80,24,220,3.6,0.45,2024,test
"""


@pytest.fixture
def cat() -> Catalog:
    return Catalog(parse_offerings(HEADER + ROWS, "test.csv"), "test.csv")


def test_listing_helpers(cat: Catalog) -> None:
    assert cat.clouds() == ["aws", "azure", "gcp"]
    assert cat.regions("aws") == ["us-east-1", "us-west-2"]
    assert cat.regions() == ["eastus", "us-central1", "us-east-1", "us-west-2"]
    assert cat.gpu_names() == ["A10G", "A100-40GB", "A100-80GB", "H200"]
    assert cat.zones("us-east-1") == ["us-east-1a", "us-east-1b"]
    assert cat.zones("eastus") == []


def test_on_demand_sort_puts_missing_price_last(cat: Catalog) -> None:
    prices = [o.price_ondemand for o in cat.query()]
    assert prices == [1.0, 3.0, 3.5, 3.6, 32.0, 32.0, None]


def test_spot_sort_drops_offerings_without_spot(cat: Catalog) -> None:
    hits = cat.query(spot=True)
    assert [o.price_spot for o in hits] == [0.4, 0.45, 1.5, 4.0, 8.0, 16.0]
    assert all(o.instance_type != "a2-ultragpu-1g" for o in hits)


def test_filters(cat: Catalog) -> None:
    assert {o.gpu for o in cat.query(gpu="a100")} == {"A100-40GB", "A100-80GB"}
    assert [o.cloud for o in cat.query(gpu="A100-80GB")] == ["gcp", "azure"]
    assert [o.instance_type for o in cat.query(cloud="GCP")] == ["a2-ultragpu-1g", "a2-highgpu-1g"]
    assert len(cat.query(region="us-east-1")) == 2
    assert [o.zone for o in cat.query(zone="us-east-1b")] == ["us-east-1b"]
    assert [o.gpu_count for o in cat.query(gpu="A100-40GB", gpu_count=1)] == [1]
    p4d_zones = [o.zone for o in cat.query(instance_type="p4d.24xlarge", spot=True)]
    assert p4d_zones == ["us-east-1b", "us-east-1a"]
    assert cat.query(gpu="L4") == []  # known GPU, no offering: empty, not an error


def test_cheapest(cat: Catalog) -> None:
    assert cat.cheapest("A100-40GB", spot=True).zone == "us-central1-a"  # whole-instance price
    assert cat.cheapest("A100-40GB", spot=True, gpu_count=8).zone == "us-east-1b"
    assert cat.cheapest("a100").instance_type == "a2-ultragpu-1g"  # family: cheapest of both sizes
    assert cat.cheapest("A100-80GB", cloud="azure").region == "eastus"
    assert cat.cheapest("A100-40GB", gpu_count=8, spot=False).price_ondemand == 32.0


def test_cheapest_without_match_says_where_it_is_offered(cat: Catalog) -> None:
    with pytest.raises(UserError) as e:
        cat.cheapest("A10G", cloud="gcp")
    assert "aws/us-west-2 (1x)" in e.value.message
    with pytest.raises(UserError) as e:
        cat.cheapest("H200")  # only a spot price exists
    assert "no offering matches H200 on-demand" in e.value.message
    assert cat.cheapest("H200", spot=True).price_spot == 16.0
    with pytest.raises(UserError, match="no offering of L4"):
        cat.cheapest("L4")


@pytest.mark.parametrize(("kwargs", "field", "hint"), [
    ({"cloud": "awz"}, "cloud", "did you mean 'aws'"),
    ({"region": "us-east1"}, "region", "did you mean 'us-east-1'"),
    ({"cloud": "gcp", "region": "us-east-1"}, "region", "unknown region in gcp"),
    ({"zone": "us-east-1z"}, "zone", "did you mean"),
    ({"gpu": "A100-80"}, "gpu", "did you mean"),
    ({"gpu": "MI300X"}, "gpu", "known GPUs"),
    ({"gpu_count": 0}, "gpu_count", "whole number"),
    ({"instance_type": "g5.xlarg"}, "instance_type", "did you mean 'g5.xlarge'"),
])
def test_bad_filters_are_user_errors(cat: Catalog, kwargs: dict, field: str, hint: str) -> None:
    with pytest.raises(UserError) as e:
        cat.query(**kwargs)
    assert e.value.field == field
    assert hint in e.value.message


def test_price_helpers(cat: Catalog) -> None:
    p4d = cat.query(instance_type="p4d.24xlarge", zone="us-east-1a")[0]
    assert p4d.price(spot=False) == 32.0 and p4d.price(spot=True) == 8.0
    assert p4d.price_per_gpu(False) == 4.0 and p4d.price_per_gpu(True) == 1.0
    assert p4d.total_gpu_memory_gb == 320
    assert p4d.location == "aws/us-east-1/us-east-1a"
    d = p4d.to_dict()
    assert d["price_per_gpu_spot"] == 1.0 and d["zone"] == "us-east-1a" and d["price_source"] == "test"
    nospot = cat.query(instance_type="a2-ultragpu-1g")[0]
    assert nospot.price_per_gpu(True) is None and nospot.to_dict()["price_per_gpu_spot"] is None


def test_shipped_catalog_real_questions() -> None:
    cat = load_catalog()
    h100 = cat.cheapest("H100", spot=True)
    assert h100.gpu == "H100" and h100.price_spot is not None
    assert all(o.price_spot >= h100.price_spot for o in cat.query(gpu="H100", spot=True))
    per_gpu = sorted(o.price_per_gpu(False) for o in cat.query(gpu="H100", cloud="aws"))
    assert per_gpu[0] == pytest.approx(98.32 / 8)
    assert cat.cheapest("T4", cloud="azure").instance_type == "Standard_NC4as_T4_v3"
