"""Sanity of the shipped price data: coverage, internal consistency, provenance."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from skyctl.catalog import Catalog, gpu_specs, load_catalog

# Which required GPU types each cloud offers in the shipped data. Azure has no L4/L40S/A10G offering, and its
# ND H200 v5 has no public price in our sources (see docs/catalog.md), so it is left out rather than guessed.
EXPECTED = {
    "aws": {"T4", "L4", "A10G", "L40S", "A100-40GB", "A100-80GB", "H100", "H200"},
    "gcp": {"T4", "L4", "A100-40GB", "A100-80GB", "H100", "H200"},
    "azure": {"T4", "A100-40GB", "A100-80GB", "H100"},
}


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog()


def test_required_gpus_on_each_cloud(cat: Catalog) -> None:
    for cloud, gpus in EXPECTED.items():
        offered = {o.gpu for o in cat.query(cloud=cloud)}
        assert gpus <= offered, (cloud, gpus - offered)


def test_at_least_three_regions_per_cloud_and_per_major_gpu(cat: Catalog) -> None:
    for cloud in EXPECTED:
        assert len(cat.regions(cloud)) >= 3, cloud
    for gpu in ("T4", "L4", "A100-80GB", "H100"):
        assert len({o.region for o in cat.query(gpu=gpu)}) >= 3, gpu


def test_spot_cheaper_than_on_demand(cat: Catalog) -> None:
    for o in cat.offerings:
        if o.price_spot is not None and o.price_ondemand is not None:
            assert o.price_spot < o.price_ondemand, o


def test_price_per_gpu(cat: Catalog) -> None:
    for o in cat.offerings:
        for spot in (False, True):
            p = o.price(spot)
            assert o.price_per_gpu(spot) == (None if p is None else pytest.approx(p / o.gpu_count))
    assert any(o.gpu_count == 8 for o in cat.offerings) and any(o.gpu_count == 1 for o in cat.offerings)


def test_unique_rows_and_zones_inside_regions(cat: Catalog) -> None:
    keys = [(o.cloud, o.region, o.zone, o.instance_type) for o in cat.offerings]
    assert len(keys) == len(set(keys))
    for o in cat.offerings:
        if o.cloud == "azure":
            assert o.zone is None
        else:
            assert o.zone is not None and o.zone.startswith(o.region) and len(o.zone) > len(o.region), o


def test_on_demand_price_is_per_region_not_per_zone(cat: Catalog) -> None:
    """List prices do not vary by zone: a mismatch would be a transcription error."""
    seen: dict[tuple[str, str, str], set[float | None]] = defaultdict(set)
    for o in cat.offerings:
        seen[(o.cloud, o.region, o.instance_type)].add(o.price_ondemand)
    assert {k: v for k, v in seen.items() if len(v) > 1} == {}


def test_hardware_matches_spec_table(cat: Catalog) -> None:
    specs = gpu_specs()
    for o in cat.offerings:
        assert o.gpu_memory_gb == specs[o.gpu].memory_gb, o
        assert o.vcpus >= 4 and o.memory_gb >= 15, o


def test_every_row_names_its_source_and_date(cat: Catalog) -> None:
    for o in cat.offerings:
        assert len(o.price_source) > 20, o
        assert re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", o.price_date), o


def test_known_list_prices(cat: Catalog) -> None:
    """A few prices checked against the sources by hand (docs/catalog.md lists them)."""
    def od(cloud: str, region: str, itype: str) -> float | None:
        return cat.query(cloud=cloud, region=region, instance_type=itype)[0].price_ondemand

    assert od("aws", "us-east-1", "g5.xlarge") == 1.006
    assert od("aws", "us-east-1", "p4d.24xlarge") == 32.7726
    assert od("aws", "us-east-1", "p5.48xlarge") == 98.32
    assert od("gcp", "us-central1", "a2-highgpu-1g") == pytest.approx(3.67339)
    assert od("azure", "eastus", "Standard_NC24ads_A100_v4") == 3.673
    assert od("azure", "eastus", "Standard_NC4as_T4_v3") == 0.526
