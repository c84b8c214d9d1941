"""Live GCP prices for `skyctl catalog refresh`: the Cloud Billing Catalog API's Compute Engine SKUs, over
httpx (no SDK needed).

GCP does not price a machine type: it prices its parts per region, a vCPU-hour and a GiB-hour of the
machine series ("N1 Predefined Instance Core", "G2 Instance Ram"...) and a GPU-hour ("Nvidia L4 GPU").
A catalog row's price is vcpus * core + memory * ram + gpus * gpu, on-demand from SKUs of usage type
`OnDemand`, spot from `Preemptible` ones (described "Spot Preemptible ..."). Commitments, sole tenancy,
custom and extended-memory SKUs are left out. Prices are regional, so every zone of a region gets the
same price; a row whose parts are not all priced keeps its old price (spot: no spot offer there).

Authentication: an API key (`SKYCTL_GCP_API_KEY` or `GOOGLE_API_KEY`, sent as `key=`) or an OAuth token
(`SKYCTL_GCP_ACCESS_TOKEN`, e.g. `gcloud auth print-access-token`). `SKYCTL_GCP_PRICES_URL` replaces
`https://cloudbilling.googleapis.com` (tests point it at a local fake, which needs neither).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import httpx

from providers.retry import RetryPolicy
from skyctl.catalog.live_http import PRICE_POLICY, TIMEOUT, get_json, malformed
from skyctl.catalog.model import Offering
from skyctl.catalog.refresh import Progress, RefreshError, today

SOURCE = "GCP Cloud Billing Catalog API (Compute Engine SKUs: core + RAM + GPU), live"
DEFAULT_URL = "https://cloudbilling.googleapis.com"
URL_ENV = "SKYCTL_GCP_PRICES_URL"
KEY_ENVS = ("SKYCTL_GCP_API_KEY", "GOOGLE_API_KEY")
TOKEN_ENV = "SKYCTL_GCP_ACCESS_TOKEN"
SERVICE = "services/6F81-5844-456A"  # Compute Engine
WHAT = "gcp Cloud Billing"
PAGE_SIZE = 5000
SPOT_PREFIXES = ("Spot Preemptible ", "Preemptible ")
EXCLUDED = ("Commitment", "Sole Tenancy", "Custom", "Extended", "Reserved")
# catalog GPU name -> the SKU description's GPU name ("<name> GPU running in <geo>")
GPU_SKUS = {"T4": "Nvidia Tesla T4", "V100": "Nvidia Tesla V100", "P100": "Nvidia Tesla P100",
            "P4": "Nvidia Tesla P4", "L4": "Nvidia L4", "A100-40GB": "Nvidia Tesla A100",
            "A100-80GB": "Nvidia Tesla A100 80GB", "H100": "Nvidia H100 80GB",
            "H100-MEGA": "Nvidia H100 80GB Mega", "H200": "Nvidia H200 141GB"}
# machine family prefix -> the series name of its core/RAM SKUs
SERIES = {"n1": "N1 Predefined", "a2": "A2", "g2": "G2", "a3-highgpu": "A3", "a3-megagpu": "A3 Mega",
          "a3-ultragpu": "A3 Ultra"}

Part = tuple[str, str, bool]  # (region, "core" | "ram" | GPU name, spot)


@dataclass(frozen=True)
class Config:
    url: str
    params: dict[str, str]
    headers: dict[str, str]


def fetch(base: Sequence[Offering], *, regions: set[str] | None, progress: Progress,
          config: Config | None = None, policy: RetryPolicy = PRICE_POLICY,
          sleep: Callable[[float], None] = time.sleep) -> list[Offering]:
    """Fresh rows for the GCP instance types and places of `base` (see `skyctl.catalog.refresh`)."""
    rows = [o for o in base if regions is None or o.region in regions]
    cfg = config or config_from_env()
    with httpx.Client(timeout=TIMEOUT) as client:
        skus = list_skus(client, cfg, progress, policy=policy, sleep=sleep)
    parts = part_prices(skus, {o.region for o in rows})
    date, out = today(), []
    for o in rows:
        od, sp = machine_price(o, parts, False), machine_price(o, parts, True)
        if od is not None or sp is not None:
            out.append(replace(o, price_ondemand=od, price_spot=sp, price_date=date, price_source=SOURCE))
    progress("gcp: done", 1, 1)
    return out


def config_from_env() -> Config:
    url = (os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
    key = next((os.environ[e] for e in KEY_ENVS if os.environ.get(e)), None)
    token = os.environ.get(TOKEN_ENV)
    if url == DEFAULT_URL and not key and not token:
        raise RefreshError(f"{WHAT}: the Cloud Billing Catalog API needs an API key or a token; set "
                           f"{KEY_ENVS[0]} (an API key of a project with the Cloud Billing API enabled) or "
                           f"{TOKEN_ENV}=$(gcloud auth print-access-token)")
    return Config(url, {"key": key} if key else {},
                  {"Authorization": f"Bearer {token}"} if token else {})


def list_skus(client: httpx.Client, cfg: Config, progress: Progress, *, policy: RetryPolicy = PRICE_POLICY,
              sleep: Callable[[float], None] = time.sleep) -> list[dict[str, Any]]:
    """Every Compute Engine SKU, page by page (`pageToken` / `nextPageToken`)."""
    url = f"{cfg.url}/v1/{SERVICE}/skus"
    skus: list[dict[str, Any]] = []
    token, pages = "", 0
    while True:
        params = {**cfg.params, "currencyCode": "USD", "pageSize": str(PAGE_SIZE)}
        if token:
            params["pageToken"] = token
        progress(f"gcp: SKU page {pages + 1}", pages, pages + 1)
        page = get_json(client, url, what=WHAT, params=params, headers=cfg.headers, policy=policy,
                        sleep=sleep)
        found = page.get("skus", [])
        if not isinstance(found, list) or not all(isinstance(s, dict) for s in found):
            raise malformed(WHAT, url, f"page {pages + 1}: 'skus' is not a list of objects")
        skus += found
        pages += 1
        token = page.get("nextPageToken") or ""
        if not isinstance(token, str):
            raise malformed(WHAT, url, f"page {pages}: 'nextPageToken' is not a string")
        if not token:
            return skus


def part_prices(skus: Sequence[dict[str, Any]], regions: set[str]) -> dict[Part, float]:
    """(region, part, spot) -> USD per unit-hour, for the regions asked."""
    out: dict[Part, float] = {}
    for sku in skus:
        category = sku.get("category") or {}
        if category.get("resourceFamily") != "Compute":
            continue
        usage = category.get("usageType")
        if usage not in ("OnDemand", "Preemptible"):
            continue
        spot = usage == "Preemptible"
        part = _part(str(sku.get("description", "")))
        if part is None:
            continue
        price = _unit_price(sku)
        if price is None:
            continue
        for region in set(sku.get("serviceRegions") or []) & regions:
            out[(region, part, spot)] = price
    return out


def machine_price(o: Offering, parts: dict[Part, float], spot: bool) -> float | None:
    """$/h of one machine from its parts, or None unless every part has a price."""
    series = _series(o.instance_type)
    if series is None:
        return None
    core, ram = parts.get((o.region, f"core:{series}", spot)), parts.get((o.region, f"ram:{series}", spot))
    gpu = parts.get((o.region, f"gpu:{GPU_SKUS[o.gpu]}", spot)) if o.gpu in GPU_SKUS else None
    if core is None or ram is None or (o.gpu_count and gpu is None):
        return None
    return round(o.vcpus * core + o.memory_gb * ram + o.gpu_count * (gpu or 0.0), 6)


def _series(instance_type: str) -> str | None:
    family = instance_type.split("-")[0]
    return SERIES.get("-".join(instance_type.split("-")[:2])) or SERIES.get(family)


def _part(description: str) -> str | None:
    """`core:<series>`, `ram:<series>` or `gpu:<name>` for a SKU we price machines from, else None."""
    if any(word in description for word in EXCLUDED):
        return None
    for prefix in SPOT_PREFIXES:
        description = description.removeprefix(prefix)
    name, sep, _ = description.partition(" running in ")
    if not sep:
        return None
    if name.endswith(" GPU"):
        return f"gpu:{name.removesuffix(' GPU')}"
    for kind, suffix in (("core", " Instance Core"), ("ram", " Instance Ram")):
        if name.endswith(suffix):
            return f"{kind}:{name.removesuffix(suffix)}"
    return None


def _unit_price(sku: dict[str, Any]) -> float | None:
    """USD per hour (per vCPU, GiB or GPU) of the SKU's newest pricing, its highest tier (past free tiers)."""
    infos = sku.get("pricingInfo") or []
    if not infos:
        return None
    expr = infos[-1].get("pricingExpression") or {}
    if expr.get("usageUnit") not in ("h", "GiBy.h"):
        return None
    rates = expr.get("tieredRates") or []
    if not rates:
        return None
    unit = rates[-1].get("unitPrice") or {}
    if unit.get("currencyCode", "USD") != "USD":
        return None
    try:
        return int(unit.get("units") or 0) + int(unit.get("nanos") or 0) / 1e9
    except (TypeError, ValueError):
        raise malformed(WHAT, SERVICE, f"SKU {sku.get('skuId')!r} has a unitPrice that is not a number: "
                        f"{unit!r}") from None
