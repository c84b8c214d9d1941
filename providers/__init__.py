"""Clouds behind one interface: `Provider` and its types in `providers.base`, implementations by name in
`providers.registry`. Today: `local` (replicas as processes on 127.0.0.1, the embedded default).

    from providers import LaunchSpec, get_provider
    inst = get_provider("local").launch(LaunchSpec("svc", "1", "svc-1-a", spot=True, zone="local-b",
                                                   run="python -m http.server $SKYCTL_PORT --bind 127.0.0.1"))
"""

from providers.base import (
    TAG_REPLICA,
    TAG_SERVICE,
    TAG_SPOT,
    CapacityError,
    Instance,
    LaunchSpec,
    Location,
    Provider,
    ProviderAuthError,
    ProviderError,
    ProviderUserError,
    QuotaError,
    State,
    TransientError,
)
from providers.registry import get_provider, provider_names

__all__ = ["TAG_REPLICA", "TAG_SERVICE", "TAG_SPOT", "CapacityError", "Instance", "LaunchSpec", "Location",
           "Provider", "ProviderAuthError", "ProviderError", "ProviderUserError", "QuotaError", "State",
           "TransientError", "get_provider", "provider_names"]
