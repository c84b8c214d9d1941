"""Fake price APIs on 127.0.0.1 for the GCP and Azure refresh tests, answering the real response shapes:
GCP's Cloud Billing Catalog `GET /v1/services/{id}/skus` (SKUs with category, serviceRegions and
pricingInfo in units + nanos, paged by `pageToken`/`nextPageToken`) and Azure's Retail Prices
`GET /api/retail/prices` (an OData `$filter`, `Items`, an absolute `NextPageLink` with `$skip`).

Both run on the in-repo fake plumbing (`providers.fakes.server`): `app.failures` (or `POST
/_fake/throttle`) makes the next calls answer 429/5xx with `Retry-After: 0`, `app.stats` counts requests.
`broken_page = n` makes page n answer a body of the wrong shape.
"""

from __future__ import annotations

import re
import zlib
from typing import Any
from urllib.parse import urlencode

from providers.fakes.server import FakeApp, Reply, Request

GCE_SERVICE = "6F81-5844-456A"


def gcp_sku(description: str, usage: str, regions: list[str], usd: float, *, group: str = "CPU",
            unit: str = "h") -> dict[str, Any]:
    """One Compute Engine SKU as the Cloud Billing Catalog API lists it."""
    units, nanos = int(usd), round((usd - int(usd)) * 1e9)
    sku_id = f"{zlib.crc32(f'{description}|{usage}|{regions}'.encode()):012d}"
    sku_id = f"{sku_id[:4]}-{sku_id[4:8]}-{sku_id[8:]}"
    return {
        "name": f"services/{GCE_SERVICE}/skus/{sku_id}", "skuId": sku_id, "description": description,
        "category": {"serviceDisplayName": "Compute Engine", "resourceFamily": "Compute",
                     "resourceGroup": group, "usageType": usage},
        "serviceRegions": regions,
        "pricingInfo": [{"summary": "", "pricingExpression": {
            "usageUnit": unit, "displayQuantity": 1, "usageUnitDescription": "hour",
            "baseUnit": "s", "baseUnitDescription": "second", "baseUnitConversionFactor": 3600,
            "tieredRates": [{"startUsageAmount": 0,
                             "unitPrice": {"currencyCode": "USD", "units": str(units), "nanos": nanos}}]},
            "currencyConversionRate": 1, "effectiveTime": "2025-06-01T08:00:00.000Z"}],
        "serviceProviderName": "Google",
        "geoTaxonomy": {"type": "REGIONAL" if len(regions) == 1 else "MULTI_REGIONAL", "regions": regions},
    }


class FakeBilling(FakeApp):
    """The SKU list of Compute Engine, `page_size` SKUs a page whatever `pageSize` asks; with `api_key` set,
    a request without that `key=` answers 403 as the real API does."""

    def __init__(self, skus: list[dict[str, Any]], *, page_size: int = 3, api_key: str | None = None) -> None:
        super().__init__()
        self.skus, self.page_size, self.api_key = skus, page_size, api_key
        self.broken_page: int | None = None
        self.route("GET", f"/v1/services/{GCE_SERVICE}/skus", self.list_skus)

    def error(self, status: int, code: str, message: str) -> Reply:
        return Reply(status, {"error": {"code": status, "message": message, "status": code}})

    def list_skus(self, req: Request) -> Reply:
        if self.api_key and req.query.get("key") != self.api_key:
            return self.error(403, "PERMISSION_DENIED", "The request is missing a valid API key.")
        token = req.query.get("pageToken", "")
        if token and not re.fullmatch(r"tok-\d+", token):
            return self.error(400, "INVALID_ARGUMENT", f"Invalid page token: {token}")
        start = int(token[4:]) if token else 0
        size = min(self.page_size, int(req.query.get("pageSize") or 5000))
        if self.broken_page == start // size + 1:
            return Reply(200, {"skus": "internal error: truncated", "nextPageToken": f"tok-{start + size}"})
        body: dict[str, Any] = {"skus": self.skus[start:start + size]}
        body["nextPageToken"] = f"tok-{start + size}" if start + size < len(self.skus) else ""
        return Reply(200, body)


def azure_item(sku: str, region: str, usd: float, *, spot: bool = False, windows: bool = False,
               low_priority: bool = False, start: str = "2024-05-01T00:00:00Z",
               kind: str = "Consumption") -> dict[str, Any]:
    """One Retail Prices item for a VM size (`sku` = armSkuName, e.g. Standard_NC4as_T4_v3)."""
    meter = sku.removeprefix("Standard_").replace("_", " ")
    suffix = " Spot" if spot else " Low Priority" if low_priority else ""
    series = sku.split("_")[1] if "_" in sku else sku
    return {
        "currencyCode": "USD", "tierMinimumUnits": 0.0, "retailPrice": usd, "unitPrice": usd,
        "armRegionName": region, "location": region.upper(), "effectiveStartDate": start,
        "meterId": f"meter-{sku}-{region}{suffix}{'-win' if windows else ''}", "meterName": meter + suffix,
        "productId": f"DZH318Z0{series.upper()[:4]}", "skuId": f"DZH318Z0/{meter}{suffix}",
        "productName": f"Virtual Machines {series} Series" + (" Windows" if windows else ""),
        "skuName": meter + suffix, "serviceName": "Virtual Machines", "serviceId": "DZH313Z7MMC8",
        "serviceFamily": "Compute", "unitOfMeasure": "1 Hour", "type": kind, "isPrimaryMeterRegion": True,
        "armSkuName": sku,
    }


_EQ = re.compile(r"(\w+) eq '([^']*)'")


class FakeRetail(FakeApp):
    """Retail Prices with the OData subset skyctl sends (eq clauses joined by and / or), `page_size` items
    a page; `filters` records each `$filter` received."""

    def __init__(self, items: list[dict[str, Any]], *, page_size: int = 2) -> None:
        super().__init__()
        self.items, self.page_size = items, page_size
        self.broken_page: int | None = None
        self.filters: list[str] = []
        self.route("GET", "/api/retail/prices", self.prices)

    def error(self, status: int, code: str, message: str) -> Reply:
        return Reply(status, {"Error": {"Code": code, "Message": message}})

    def prices(self, req: Request) -> Reply:
        flt = req.query.get("$filter", "")
        self.filters.append(flt)
        wanted: dict[str, set[str]] = {}
        for field, value in _EQ.findall(flt):
            wanted.setdefault(field, set()).add(value)
        unknown = set(wanted) - {"serviceName", "priceType", "armRegionName", "armSkuName"}
        if unknown:
            return self.error(400, "InvalidFilter", f"unsupported filter field {sorted(unknown)[0]}")
        items = [i for i in self.items if all(_field(i, f) in values for f, values in wanted.items())]
        skip = int(req.query.get("$skip") or 0)
        page = skip // self.page_size + 1
        if self.broken_page == page:
            return Reply(200, {"BillingCurrency": "USD", "Items": {"oops": 1}, "NextPageLink": None})
        chunk = items[skip:skip + self.page_size]
        more = skip + self.page_size < len(items)
        link = None
        if more:
            query = {"api-version": req.query.get("api-version", ""), "$filter": flt,
                     "$skip": str(skip + self.page_size)}
            link = f"{req.base_url}/api/retail/prices?{urlencode(query)}"
        return Reply(200, {"BillingCurrency": "USD", "CustomerEntityId": "Default",
                           "CustomerEntityType": "Retail", "Items": chunk, "NextPageLink": link,
                           "Count": len(chunk)})


def _field(item: dict[str, Any], name: str) -> str:
    return str(item.get("type" if name == "priceType" else name, ""))
