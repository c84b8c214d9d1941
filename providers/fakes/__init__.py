"""Small stand-ins for cloud APIs that the real SDKs cannot tell from the cloud, bound to 127.0.0.1.

No emulator exists for Compute Engine or Azure Resource Manager, so tests (and demos of `skyctl serve up`
with `SKYCTL_GCP_ENDPOINT` / `SKYCTL_AZURE_ENDPOINT`) run against these:

    python -m providers.fakes.gce --port 8481     # Compute Engine REST (instances, zone operations)
    python -m providers.fakes.arm --port 8482     # ARM virtual machines with long-running operations
    python -m providers.fakes.prices --port 8483  # Cloud Billing SKUs and Azure retail prices

Each keeps its state in memory and has test hooks under `/_fake/` (preempt, capacity, throttle, reset).
"""
