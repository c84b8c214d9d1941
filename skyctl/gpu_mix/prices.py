"""$/h per GPU from the catalog: the cheapest matching offering, counted per GPU (one GPU = one replica)."""

from __future__ import annotations

from skyctl.catalog import load_catalog
from skyctl.errors import UserError


def catalog_price(gpu: str, *, cloud: str | None, region: str | None, spot: bool) -> tuple[float, str]:
    """(price per GPU, where it came from) for the cheapest offering of `gpu` in cloud/region."""
    offers = [o for o in load_catalog().query(gpu=gpu, cloud=cloud, region=region, spot=spot) if o.gpu == gpu]
    priced = [(o.price_per_gpu(spot), o) for o in offers if o.price_per_gpu(spot) is not None]
    where = " ".join(x for x in (cloud, region) if x) or "any cloud"
    if not priced:
        raise UserError(f"the catalog has no {'spot' if spot else 'on-demand'} price for {gpu} in {where}",
                        field=f"gpus.{gpu}", fix="choose another cloud/region, or give `price:` inline")
    price, o = min(priced, key=lambda p: p[0])
    kind = "spot" if spot else "on-demand"
    return price, f"catalog: {o.cloud} {o.region} {o.instance_type} {kind} ({o.price_date})"
