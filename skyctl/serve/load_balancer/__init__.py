"""The load balancer of a service: its own process, a streaming reverse proxy over the READY replicas
that it reads from the state database every second (keeping the last-known set when the database is
away), writing per-second request counts back for the autoscaler.

    policies.py  which replica gets a request; in-flight accounting
    proxy.py     the ASGI app: retries before the first byte, streaming, 503/502, API key
    sync.py      database <-> load balancer
    server.py    uvicorn + the sync loop; __main__.py the process entry
"""

from __future__ import annotations

import sys


def lb_command(service_id: int, port: int | None = None) -> list[str]:
    """The command line the controller spawns for a service's load balancer."""
    cmd = [sys.executable, "-m", "skyctl.serve.load_balancer", "--service-id", str(service_id)]
    return [*cmd, "--port", str(port)] if port is not None else cmd


__all__ = ["lb_command"]
