"""`skyctl catalog refresh --cloud gcp` against a fake Cloud Billing Catalog server on 127.0.0.1: machine
prices assembled from core, RAM and GPU SKUs (on-demand and spot), paging, throttling retried, and bad
answers stopping the refresh with the old catalog kept."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from price_fakes import FakeBilling, gcp_sku
from typer.testing import CliRunner

from providers.fakes.server import FakeServer
from providers.retry import RetryPolicy
from skyctl.catalog import load_catalog
from skyctl.catalog.live_gcp import SOURCE, fetch
from skyctl.catalog.refresh import RefreshError, refresh
from skyctl.cli.catalog import app

REGION = "us-central1"
KEY = "AIza-test-key"
AMERICAS = [REGION, "us-east1", "us-west1"]
SKUS = [
    gcp_sku("N1 Predefined Instance Core running in Americas", "OnDemand", AMERICAS, 0.031611),
    gcp_sku("N1 Predefined Instance Ram running in Americas", "OnDemand", AMERICAS, 0.004237, group="RAM",
            unit="GiBy.h"),
    gcp_sku("Spot Preemptible N1 Predefined Instance Core running in Americas", "Preemptible", AMERICAS,
            0.00698),
    gcp_sku("Spot Preemptible N1 Predefined Instance Ram running in Americas", "Preemptible", AMERICAS,
            0.000936, group="RAM", unit="GiBy.h"),
    gcp_sku("Nvidia Tesla T4 GPU running in Americas", "OnDemand", AMERICAS, 0.35, group="GPU"),
    gcp_sku("Spot Preemptible Nvidia Tesla T4 GPU running in Americas", "Preemptible", AMERICAS, 0.14,
            group="GPU"),
    gcp_sku("G2 Instance Core running in Americas", "OnDemand", [REGION], 0.024988),
    gcp_sku("G2 Instance Ram running in Americas", "OnDemand", [REGION], 0.002927, group="RAM",
            unit="GiBy.h"),
    gcp_sku("Nvidia L4 GPU running in Americas", "OnDemand", [REGION], 0.560),
    # no spot G2 core SKU: g2 rows get no spot price
    gcp_sku("Spot Preemptible Nvidia L4 GPU running in Americas", "Preemptible", [REGION], 0.224),
    # must not count: a commitment, sole tenancy, another region's price, a non-hourly unit
    gcp_sku("Commitment v1: N1 Predefined Instance Core in Americas for 1 Year", "Commit1Yr", [REGION],
            0.019),
    gcp_sku("N1 Sole Tenancy Instance Core running in Americas", "OnDemand", [REGION], 0.9),
    gcp_sku("Nvidia Tesla T4 GPU running in Paris", "OnDemand", ["europe-west9"], 9.99, group="GPU"),
    gcp_sku("Nvidia L4 GPU running in Americas", "OnDemand", ["us-east4"], 0.5, unit="mo"),
]
FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, max_total=1.0)


@pytest.fixture
def billing() -> Iterator[tuple[FakeBilling, str]]:
    app_ = FakeBilling(list(SKUS), page_size=3, api_key=KEY)
    server = FakeServer(app_).start()
    yield app_, server.url
    server.stop()


@pytest.fixture
def gcp_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, billing: tuple[FakeBilling, str]) -> Path:
    for name in list(os.environ):
        if name.startswith(("SKYCTL_GCP", "GOOGLE_")) or name == "SKYCTL_CATALOG":
            monkeypatch.delenv(name)
    monkeypatch.setenv("SKYCTL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SKYCTL_GCP_PRICES_URL", billing[1])
    monkeypatch.setenv("SKYCTL_GCP_API_KEY", KEY)
    return tmp_path / "home" / "catalog.csv"


def fast_fetch(sleeps: list[float] | None = None):  # the real fetcher with short, recorded backoffs
    record = sleeps.append if sleeps is not None else (lambda s: None)
    return functools.partial(fetch, policy=FAST, sleep=record)


def test_refresh_prices_machines_from_their_parts(gcp_env: Path, billing: tuple[FakeBilling, str]) -> None:
    fake, _ = billing
    before = load_catalog()
    seen: list[tuple[str, int, int]] = []
    result = refresh(["gcp"], regions={REGION}, progress=lambda *a: seen.append(a))
    after = load_catalog()
    assert after.source == str(gcp_env.resolve())
    today = dt.datetime.now(dt.UTC).date().isoformat()
    n1 = after.query(cloud="gcp", region=REGION, instance_type="n1-standard-4")
    assert n1 and all(o.price_source == SOURCE and o.price_date == today for o in n1)
    # 4 vCPU, 15 GB, 1 T4
    assert {o.price_ondemand for o in n1} == {round(4 * 0.031611 + 15 * 0.004237 + 0.35, 6)}
    assert {o.price_spot for o in n1} == {round(4 * 0.00698 + 15 * 0.000936 + 0.14, 6)}
    g2 = after.query(cloud="gcp", region=REGION, instance_type="g2-standard-4")
    assert {o.price_ondemand for o in g2} == {round(4 * 0.024988 + 16 * 0.002927 + 0.56, 6)}
    assert {o.price_spot for o in g2} == {None}  # a part (spot G2 core) has no SKU
    g2_48 = after.query(cloud="gcp", region=REGION, instance_type="g2-standard-48")
    assert {o.price_ondemand for o in g2_48} == {round(48 * 0.024988 + 192 * 0.002927 + 4 * 0.56, 6)}
    # types with no SKU here (a2, a3) and other regions keep their old prices and source
    old = {(o.cloud, o.region, o.zone, o.instance_type): o for o in before.offerings}
    live = [o for o in after.offerings if o.price_source == SOURCE]
    assert {o.instance_type for o in live} == {"n1-standard-4", "g2-standard-4", "g2-standard-48",
                                               "g2-standard-96"} and {o.region for o in live} == {REGION}
    for o in after.offerings:
        if o.price_source != SOURCE:
            assert old[(o.cloud, o.region, o.zone, o.instance_type)] == o
    (gcp,) = result.clouds
    assert gcp.updated == len(live) and gcp.added == 0 and gcp.kept > 0
    assert fake.stats["requests"] == 5  # 14 SKUs, 3 a page
    assert [s[0] for s in seen[:2]] == ["gcp: SKU page 1", "gcp: SKU page 2"]
    assert seen[-1] == ("gcp: done", 1, 1)


def test_throttling_and_5xx_are_retried(gcp_env: Path, billing: tuple[FakeBilling, str]) -> None:
    fake, _ = billing
    fake.failures.extend([429, 503])  # the first page is throttled, then a 503, then served
    sleeps: list[float] = []
    refresh(["gcp"], regions={REGION}, fetchers={"gcp": fast_fetch(sleeps)})
    assert fake.stats["failed"] == 2 and fake.stats["requests"] == 7 and len(sleeps) == 2
    assert load_catalog().query(cloud="gcp", region=REGION, instance_type="n1-standard-4")[0].price_source \
        == SOURCE


def test_retries_are_bounded(gcp_env: Path, billing: tuple[FakeBilling, str]) -> None:
    fake, _ = billing
    fake.failures.extend([500] * 10)
    with pytest.raises(RefreshError, match=r"gcp Cloud Billing: still failing after retries: .*HTTP 500"):
        refresh(["gcp"], regions={REGION}, fetchers={"gcp": fast_fetch()})
    assert fake.stats["requests"] == FAST.attempts and not gcp_env.exists()


def test_malformed_page_keeps_the_old_catalog(gcp_env: Path, billing: tuple[FakeBilling, str]) -> None:
    fake, _ = billing
    refresh(["gcp"], regions={REGION})
    good = gcp_env.read_bytes()
    fake.skus = [gcp_sku("N1 Predefined Instance Core running in Americas", "OnDemand", [REGION], 7.0)] * 9
    fake.broken_page = 2
    with pytest.raises(RefreshError, match=r"unexpected answer from .*/skus: page 2: 'skus' is not a list"):
        refresh(["gcp"], regions={REGION})
    assert gcp_env.read_bytes() == good
    assert [p.name for p in gcp_env.parent.iterdir()] == ["catalog.csv"]


def test_bad_key_and_missing_key(gcp_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYCTL_GCP_API_KEY", "wrong")
    with pytest.raises(RefreshError, match=r"HTTP 403 .*missing a valid API key") as err:
        refresh(["gcp"], regions={REGION})
    assert "wrong" not in str(err.value)  # the key is never echoed
    monkeypatch.delenv("SKYCTL_GCP_API_KEY")
    monkeypatch.delenv("SKYCTL_GCP_PRICES_URL")  # the real endpoint: refused before any network call
    with pytest.raises(RefreshError, match="set SKYCTL_GCP_API_KEY"):
        refresh(["gcp"], regions={REGION})
    assert not gcp_env.exists()


def test_cli_refresh_gcp_json(gcp_env: Path) -> None:
    result = CliRunner().invoke(app, ["refresh", "--cloud", "gcp", "--region", REGION, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    (gcp,) = summary["clouds"]
    assert gcp["cloud"] == "gcp" and gcp["updated"] > 0 and gcp["source"] == SOURCE
