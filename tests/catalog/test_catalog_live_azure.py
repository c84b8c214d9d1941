"""`skyctl catalog refresh --cloud azure` against a fake Retail Prices server on 127.0.0.1: the OData
filter sent, NextPageLink paging, Linux consumption prices (spot and on-demand, newest meter price),
throttling retried, and bad answers stopping the refresh with the old catalog kept."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from price_fakes import FakeRetail, azure_item
from typer.testing import CliRunner

from providers.fakes.server import FakeServer
from providers.retry import RetryPolicy
from skyctl.catalog import load_catalog
from skyctl.catalog.live_azure import SOURCE, fetch, odata_filter
from skyctl.catalog.refresh import RefreshError, refresh
from skyctl.cli.catalog import app

REGION = "eastus"
T4, A100 = "Standard_NC4as_T4_v3", "Standard_NC24ads_A100_v4"
ITEMS = [
    azure_item(T4, REGION, 0.50, start="2023-01-01T00:00:00Z"),  # superseded by the newer meter price
    azure_item(T4, REGION, 0.526, start="2024-05-01T00:00:00Z"),
    azure_item(T4, REGION, 0.0627, spot=True),
    azure_item(T4, REGION, 0.71, windows=True),
    azure_item(T4, REGION, 0.105, low_priority=True),
    azure_item(T4, REGION, 0.30, kind="DevTestConsumption"),
    azure_item(A100, REGION, 3.673),
    azure_item(A100, REGION, 0.4444, spot=True),
    azure_item(T4, "westus2", 9.0),  # another region: not asked for
]
FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, max_total=1.0)


@pytest.fixture
def retail() -> Iterator[FakeRetail]:
    fake = FakeRetail(list(ITEMS), page_size=2)
    server = FakeServer(fake).start()
    fake.url = server.url
    yield fake
    server.stop()


@pytest.fixture
def azure_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, retail: FakeRetail) -> Path:
    for name in list(os.environ):
        if name.startswith("SKYCTL_AZURE") or name == "SKYCTL_CATALOG":
            monkeypatch.delenv(name)
    monkeypatch.setenv("SKYCTL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SKYCTL_AZURE_PRICES_URL", retail.url)
    return tmp_path / "home" / "catalog.csv"


def test_refresh_writes_retail_prices(azure_env: Path, retail: FakeRetail) -> None:
    before = load_catalog()
    seen: list[tuple[str, int, int]] = []
    result = refresh(["azure"], regions={REGION}, progress=lambda *a: seen.append(a))
    after = load_catalog()
    assert after.source == str(azure_env.resolve())
    today = dt.datetime.now(dt.UTC).date().isoformat()
    (t4,) = after.query(cloud="azure", region=REGION, instance_type=T4)
    assert (t4.price_ondemand, t4.price_spot) == (0.526, 0.0627)
    assert (t4.price_date, t4.price_source) == (today, SOURCE)
    (a100,) = after.query(cloud="azure", region=REGION, instance_type=A100)
    assert (a100.price_ondemand, a100.price_spot) == (3.673, 0.4444)
    old = {(o.cloud, o.region, o.zone, o.instance_type): o for o in before.offerings}
    for o in after.offerings:  # sizes the API did not price, and other regions, are untouched
        if (o.region, o.instance_type) not in ((REGION, T4), (REGION, A100)):
            assert old[(o.cloud, o.region, o.zone, o.instance_type)] == o
    (azure,) = result.clouds
    assert azure.updated == 2 and azure.added == 0 and azure.kept > 0
    # one query for the region, then NextPageLink (it carries the same filter) to the last page
    asked = sorted({o.instance_type for o in before.query(cloud="azure", region=REGION)})
    assert retail.filters[0] == odata_filter(REGION, asked) and len(set(retail.filters)) == 1
    assert "armRegionName eq 'eastus'" in retail.filters[0] and f"armSkuName eq '{T4}'" in retail.filters[0]
    assert len(retail.filters) == 4  # 8 eastus items, 2 a page
    assert seen[0] == ("azure eastus: retail prices", 0, 1) and seen[-1] == ("azure: done", 1, 1)


def test_throttling_is_retried(azure_env: Path, retail: FakeRetail) -> None:
    retail.failures.extend([429, 502])
    sleeps: list[float] = []
    fast = functools.partial(fetch, policy=FAST, sleep=sleeps.append)
    refresh(["azure"], regions={REGION}, fetchers={"azure": fast})
    assert retail.stats["failed"] == 2 and len(sleeps) == 2 and len(retail.filters) == 4
    assert load_catalog().query(cloud="azure", region=REGION, instance_type=T4)[0].price_ondemand == 0.526


def test_malformed_page_keeps_the_old_catalog(azure_env: Path, retail: FakeRetail) -> None:
    refresh(["azure"], regions={REGION})
    good = azure_env.read_bytes()
    retail.items = [{**i, "retailPrice": i["retailPrice"] * 2} for i in ITEMS]
    retail.broken_page = 3
    with pytest.raises(RefreshError, match=r"Retail Prices: unexpected answer .*eastus page 3: 'Items'"):
        refresh(["azure"], regions={REGION})
    assert azure_env.read_bytes() == good
    retail.broken_page = None
    retail.items = [{**ITEMS[1], "retailPrice": "0.5"}]  # a price that is not a number
    with pytest.raises(RefreshError, match="retailPrice is not a number"):
        refresh(["azure"], regions={REGION})
    assert azure_env.read_bytes() == good
    assert [p.name for p in azure_env.parent.iterdir()] == ["catalog.csv"]


def test_client_error_is_one_clear_message(azure_env: Path, retail: FakeRetail) -> None:
    retail.failures.append(400)
    with pytest.raises(RefreshError, match=r"azure Retail Prices: HTTP 400 from http://127\.0\.0\.1:\d+/api/"
                                           r"retail/prices: .*injected failure 400; kept the old catalog"):
        refresh(["azure"], regions={REGION})
    assert not azure_env.exists()


def test_cli_refresh_azure_json(azure_env: Path) -> None:
    result = CliRunner().invoke(app, ["refresh", "--cloud", "azure", "--region", REGION, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    (azure,) = summary["clouds"]
    assert azure == {"cloud": "azure", "updated": 2, "added": 0, "kept": azure["kept"], "source": SOURCE}
