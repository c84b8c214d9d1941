"""Provider names -> implementations, imported lazily so a cloud SDK loads only when its provider is used."""

from __future__ import annotations

import importlib
from typing import Any

from providers.base import Provider
from skyctl.errors import UserError, did_you_mean

# name -> "module:Class"
PROVIDERS: dict[str, str] = {
    "local": "providers.local:LocalProvider",
    "aws": "providers.aws:AWSProvider",
    "gcp": "providers.gcp:GCPProvider",
    "azure": "providers.azure:AzureProvider",
    "sim": "providers.sim:SimProvider",
}


def provider_names() -> list[str]:
    return sorted(PROVIDERS)


def get_provider(name: str, **options: Any) -> Provider:
    """A new provider instance; `options` go to its constructor (root, clock, endpoints...)."""
    target = PROVIDERS.get(name.lower())
    if target is None:
        hint = did_you_mean(name, PROVIDERS)
        raise UserError("unknown provider", field="cloud", value=name,
                        fix=hint or f"use one of {', '.join(provider_names())}")
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)(**options)
