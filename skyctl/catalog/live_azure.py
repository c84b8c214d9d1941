"""Live Azure prices for `skyctl catalog refresh`: the public Retail Prices API (no account, no SDK), over
httpx.

One query per region: `serviceName eq 'Virtual Machines' and priceType eq 'Consumption' and armRegionName
eq '<region>'` narrowed to the catalog's VM sizes, paged through `NextPageLink` (followed verbatim, as the
API hands it out). Of the items, Windows products, "Low Priority" meters and units other than "1 Hour"
are dropped; a `skuName` ending in " Spot" is the spot price, the plain one the on-demand price; when a
meter has several prices the newest `effectiveStartDate` wins. Azure prices are regional, as the
catalog's Azure rows are. `SKYCTL_AZURE_PRICES_URL` replaces `https://prices.azure.com` (tests).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import httpx

from providers.retry import RetryPolicy
from skyctl.catalog.live_http import PRICE_POLICY, TIMEOUT, get_json, malformed
from skyctl.catalog.model import Offering
from skyctl.catalog.refresh import Progress, today

SOURCE = "Azure Retail Prices API (Consumption, Linux), live"
DEFAULT_URL = "https://prices.azure.com"
URL_ENV = "SKYCTL_AZURE_PRICES_URL"
API_VERSION = "2023-01-01-preview"
WHAT = "azure Retail Prices"
MAX_PAGES = 200  # a region's GPU sizes fit in a few pages of 100; more means a NextPageLink loop

Key = tuple[str, bool]  # (armSkuName, spot)


def fetch(base: Sequence[Offering], *, regions: set[str] | None, progress: Progress,
          url: str | None = None, policy: RetryPolicy = PRICE_POLICY,
          sleep: Callable[[float], None] = time.sleep) -> list[Offering]:
    """Fresh rows for the Azure VM sizes and regions of `base` (see `skyctl.catalog.refresh`)."""
    by_region: dict[str, list[Offering]] = {}
    for o in base:
        if regions is None or o.region in regions:
            by_region.setdefault(o.region, []).append(o)
    root = (url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
    date, out = today(), []
    with httpx.Client(timeout=TIMEOUT) as client:
        for done, (region, rows) in enumerate(sorted(by_region.items())):
            progress(f"azure {region}: retail prices", done, len(by_region))
            sizes = sorted({o.instance_type for o in rows})
            prices = region_prices(client, root, region, sizes, policy=policy, sleep=sleep)
            for o in rows:
                od, sp = prices.get((o.instance_type, False)), prices.get((o.instance_type, True))
                if od is not None or sp is not None:
                    out.append(replace(o, price_ondemand=od, price_spot=sp, price_date=date,
                                       price_source=SOURCE))
    progress("azure: done", len(by_region), len(by_region))
    return out


def odata_filter(region: str, sizes: Sequence[str]) -> str:
    """The `$filter` of one region's query (sizes OR-ed; the API matches values case-sensitively)."""
    clauses = ["serviceName eq 'Virtual Machines'", "priceType eq 'Consumption'",
               f"armRegionName eq '{region}'"]
    if sizes:
        clauses.append("(" + " or ".join(f"armSkuName eq '{s}'" for s in sizes) + ")")
    return " and ".join(clauses)


def region_prices(client: httpx.Client, root: str, region: str, sizes: Sequence[str], *,
                  policy: RetryPolicy = PRICE_POLICY,
                  sleep: Callable[[float], None] = time.sleep) -> dict[Key, float]:
    """(armSkuName, spot) -> $/h in `region`, following `NextPageLink` to the last page."""
    link: str | None = f"{root}/api/retail/prices"
    params: dict[str, str] | None = {"api-version": API_VERSION, "$filter": odata_filter(region, sizes)}
    newest: dict[Key, tuple[str, float]] = {}
    for page_no in range(1, MAX_PAGES + 1):
        page = get_json(client, link, what=WHAT, params=params, policy=policy, sleep=sleep)
        items = page.get("Items")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise malformed(WHAT, link, f"{region} page {page_no}: 'Items' is not a list of objects")
        for item in items:
            key_price = _item(item, link)
            if key_price is not None:
                key, start, price = key_price
                if key not in newest or start > newest[key][0]:
                    newest[key] = (start, price)
        link, params = page.get("NextPageLink"), None  # the link carries its own query
        if not link:
            return {k: price for k, (_, price) in newest.items()}
        if not isinstance(link, str) or not link.startswith(("http://", "https://")):
            raise malformed(WHAT, root, f"{region} page {page_no}: 'NextPageLink' is not a URL: {link!r}")
    raise malformed(WHAT, root, f"{region}: more than {MAX_PAGES} pages; is NextPageLink looping?")


def _item(item: dict[str, Any], link: str) -> tuple[Key, str, float] | None:
    """((size, spot), effectiveStartDate, $/h) of one Linux consumption meter, or None to skip it."""
    if item.get("type", "Consumption") != "Consumption" or item.get("unitOfMeasure") != "1 Hour":
        return None
    sku_name, product = str(item.get("skuName", "")), str(item.get("productName", ""))
    if "Windows" in product or "Low Priority" in sku_name or not item.get("armSkuName"):
        return None
    if item.get("currencyCode", "USD") != "USD":
        return None
    price = item.get("retailPrice", item.get("unitPrice"))
    if isinstance(price, bool) or not isinstance(price, int | float):
        raise malformed(WHAT, link, f"item {item.get('meterId') or sku_name!r}: retailPrice is not a number: "
                        f"{price!r}")
    return (str(item["armSkuName"]), sku_name.endswith(" Spot")), str(item.get("effectiveStartDate", "")), \
        float(price)
