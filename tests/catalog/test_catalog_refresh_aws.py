"""`skyctl catalog refresh --cloud aws`: real boto3 calls, spot history from moto's EC2 and on-demand prices
from a fake Price List server, both on 127.0.0.1 through the standard AWS_ENDPOINT_URL_* variables."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from aws_pricing_fake import FakePricing
from typer.testing import CliRunner

from skyctl.catalog import load_catalog
from skyctl.catalog.live_aws import SOURCE
from skyctl.catalog.refresh import RefreshError, refresh
from skyctl.cli.catalog import app

REGION = "us-east-1"
PRICES = {(REGION, "g5.xlarge"): 1.006, (REGION, "g4dn.xlarge"): 0.526, (REGION, "p4d.24xlarge"): 32.7726}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def pricing() -> Iterator[FakePricing]:
    fake = FakePricing(PRICES)
    yield fake
    fake.close()


@pytest.fixture
def aws_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_url: str, pricing: FakePricing) -> Path:
    for name in list(os.environ):
        if name.startswith("AWS_") or name == "SKYCTL_CATALOG":
            monkeypatch.delenv(name)
    monkeypatch.setenv("SKYCTL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_PRICING", pricing.url)
    return tmp_path / "home" / "catalog.csv"


def test_refresh_writes_live_prices_and_keeps_the_rest(aws_env: Path) -> None:
    before = load_catalog()
    seen: list[tuple[str, int, int]] = []
    result = refresh(["aws"], regions={REGION}, progress=lambda *a: seen.append(a))
    assert result.path == aws_env and aws_env.is_file()
    after = load_catalog()  # the loader now reads the refreshed override file
    assert after.source == str(aws_env.resolve()) and len(after) >= len(before)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    g5 = {o.zone: o for o in after.query(cloud="aws", region=REGION, instance_type="g5.xlarge")}
    assert g5 and all(o.price_ondemand == 1.006 and o.price_source == SOURCE and o.price_date == today
                      for o in g5.values())
    # spot: moto's constant price where its history has the zone; none where it has not (us-east-1e);
    # us-east-1c is new: only the spot history knows g5.xlarge there, so a row is added
    assert {z: o.price_spot for z, o in g5.items()} == {
        "us-east-1a": 0.00001, "us-east-1b": 0.00001, "us-east-1c": 0.00001, "us-east-1d": 0.00001,
        "us-east-1e": None, "us-east-1f": 0.00001}
    assert ("aws", REGION, "us-east-1c", "g5.xlarge") not in {
        (o.cloud, o.region, o.zone, o.instance_type) for o in before.offerings}
    # rows the live APIs did not price keep their old prices and source; other clouds are untouched
    old = {(o.cloud, o.region, o.zone, o.instance_type): o for o in before.offerings}
    for o in after.offerings:
        if o.cloud != "aws" or o.region != REGION:
            assert old[(o.cloud, o.region, o.zone, o.instance_type)] == o
    (aws,) = result.clouds
    assert aws.updated > 0 and aws.added > 0 and aws.source == SOURCE
    assert seen[0][0].startswith("aws us-east-1") and seen[-1] == ("aws: done", 2, 2)


def test_failed_refresh_keeps_the_old_catalog(aws_env: Path, pricing: FakePricing) -> None:
    refresh(["aws"], regions={REGION})
    good = aws_env.read_bytes()
    pricing.fail_with = "AccessDeniedException"
    try:
        with pytest.raises(RefreshError, match=r"pricing GetProducts failed.*AccessDeniedException"):
            refresh(["aws"], regions={REGION})
    finally:
        pricing.fail_with = None
    assert aws_env.read_bytes() == good
    assert [p.name for p in aws_env.parent.iterdir()] == ["catalog.csv"]  # no temporary file left behind


def test_one_cloud_failing_writes_nothing(aws_env: Path) -> None:
    def broken(base, *, regions, progress):  # a price API that fails after aws succeeded
        raise RefreshError("gcp: billing catalog answered 503")

    with pytest.raises(RefreshError, match="503"):
        refresh(["aws", "gcp"], regions={REGION}, fetchers={"gcp": broken})
    assert not aws_env.exists()


def test_cli_refresh_json_and_bad_cloud(aws_env: Path) -> None:
    result = CliRunner().invoke(app, ["refresh", "--cloud", "aws", "--region", REGION, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["path"] == str(aws_env) and summary["clouds"][0]["cloud"] == "aws"
    assert summary["clouds"][0]["updated"] > 0 and summary["rows"] == len(load_catalog())
    bad = CliRunner().invoke(app, ["refresh", "--cloud", "awz"])
    assert bad.exit_code != 0 and "did you mean 'aws'" in str(bad.exception)
