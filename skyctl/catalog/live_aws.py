"""Live AWS prices for `skyctl catalog refresh`: on-demand from the Price List API, spot from EC2's
DescribeSpotPriceHistory, both through boto3 (`pip install 'skyctl[aws]'`).

The Price List API is served from us-east-1 only and answers products whose terms are JSON strings; the
on-demand $/h of a Linux, shared-tenancy, no-pre-installed-software instance is its one OnDemand price
dimension. Spot prices are per zone: the newest history entry of each zone counts, and a zone the catalog
did not list yet gets a row (same instance, specs copied from the region's row). Endpoints follow the
standard `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_PRICING` / `AWS_ENDPOINT_URL_EC2` variables, which is how
the tests point boto3 at moto and at a fake Price List server.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from skyctl.catalog.model import Offering
from skyctl.catalog.refresh import Progress, RefreshError, today

SOURCE = "AWS Price List API (on-demand) + EC2 DescribeSpotPriceHistory (spot), live"
PRICING_REGION = "us-east-1"
Clients = Callable[[str, str], Any]  # (service, region) -> boto3 client


def fetch(base: Sequence[Offering], *, regions: set[str] | None, progress: Progress,
          clients: Clients | None = None) -> list[Offering]:
    """Fresh rows for the AWS instance types and places of `base` (see `skyctl.catalog.refresh`)."""
    client = clients or _default_clients()
    by_region: dict[str, list[Offering]] = {}
    for o in base:
        if regions is None or o.region in regions:
            by_region.setdefault(o.region, []).append(o)
    steps, done, date = 2 * len(by_region), 0, today()
    out: list[Offering] = []
    for region, rows in sorted(by_region.items()):
        types = sorted({o.instance_type for o in rows})
        progress(f"aws {region}: on-demand prices", done, steps)
        pricing = client("pricing", PRICING_REGION)
        on_demand = {t: _call("pricing GetProducts", region, on_demand_price, pricing, region, t)
                     for t in types}
        done += 1
        progress(f"aws {region}: spot prices", done, steps)
        spot = _call("ec2 DescribeSpotPriceHistory", region, spot_prices, client("ec2", region), types)
        done += 1
        out += _rows(rows, on_demand, spot, date)
    progress("aws: done", done, steps)
    return out


def on_demand_price(pricing: Any, region: str, instance_type: str) -> float | None:
    """$/h of one on-demand Linux instance in `region`, or None when AWS lists no such product."""
    filters = [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in (
        ("instanceType", instance_type), ("regionCode", region), ("operatingSystem", "Linux"),
        ("tenancy", "Shared"), ("preInstalledSw", "NA"), ("capacitystatus", "Used"))]
    prices = []
    for page in pricing.get_paginator("get_products").paginate(ServiceCode="AmazonEC2", Filters=filters):
        for item in page.get("PriceList", []):
            product = json.loads(item) if isinstance(item, str) else item
            for term in product.get("terms", {}).get("OnDemand", {}).values():
                for dim in term.get("priceDimensions", {}).values():
                    usd = float(dim.get("pricePerUnit", {}).get("USD", "0") or 0)
                    if usd > 0 and dim.get("unit", "Hrs") == "Hrs":
                        prices.append(usd)
    return min(prices) if prices else None


def spot_prices(ec2: Any, instance_types: Sequence[str]) -> dict[tuple[str, str], float]:
    """(instance type, zone) -> the newest Linux spot price."""
    newest: dict[tuple[str, str], tuple[dt.datetime, float]] = {}
    pages = ec2.get_paginator("describe_spot_price_history").paginate(
        InstanceTypes=list(instance_types), ProductDescriptions=["Linux/UNIX", "Linux/UNIX (Amazon VPC)"],
        StartTime=dt.datetime.now(dt.UTC))
    for page in pages:
        for h in page.get("SpotPriceHistory", []):
            key = (h["InstanceType"], h["AvailabilityZone"])
            stamp = h.get("Timestamp") or dt.datetime.min.replace(tzinfo=dt.UTC)
            if key not in newest or stamp > newest[key][0]:
                newest[key] = (stamp, float(h["SpotPrice"]))
    return {k: price for k, (_, price) in newest.items()}


def _rows(base: list[Offering], on_demand: dict[str, float | None], spot: dict[tuple[str, str], float],
          date: str) -> list[Offering]:
    """Base rows with live prices, plus rows for zones only the spot history knows."""
    out = []
    known = {(o.instance_type, o.zone) for o in base}
    for o in base:
        od, sp = on_demand.get(o.instance_type), spot.get((o.instance_type, o.zone or ""))
        if od is not None or sp is not None:
            out.append(replace(o, price_ondemand=od, price_spot=sp, price_date=date, price_source=SOURCE))
    specs = {o.instance_type: o for o in base}
    for (itype, zone), sp in sorted(spot.items()):
        if (itype, zone) not in known and itype in specs:
            out.append(replace(specs[itype], zone=zone, price_ondemand=on_demand.get(itype), price_spot=sp,
                               price_date=date, price_source=SOURCE))
    return out


def _call(what: str, region: str, fn: Callable[..., Any], *args: Any) -> Any:
    """One API call; botocore failures become a RefreshError naming the call (the old catalog stays)."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ModuleNotFoundError:
        raise RefreshError("boto3 is not installed: pip install 'skyctl[aws]'") from None
    try:
        return fn(*args)
    except (ClientError, BotoCoreError) as e:
        raise RefreshError(f"aws {region}: {what} failed: {e}") from e


def _default_clients() -> Clients:
    try:
        import boto3
        from botocore.config import Config
    except ModuleNotFoundError:
        raise RefreshError("boto3 is not installed: pip install 'skyctl[aws]'") from None
    session = boto3.Session()
    cache: dict[tuple[str, str], Any] = {}
    config = Config(connect_timeout=10, read_timeout=30, retries={"mode": "standard", "max_attempts": 4})

    def client(service: str, region: str) -> Any:
        if (service, region) not in cache:
            cache[(service, region)] = session.client(service, region_name=region, config=config)
        return cache[(service, region)]

    return client
