"""Run the load balancer: uvicorn serving `LoadBalancerApp` with the sync loop beside it.

The first sync happens before the port opens, so a restarted load balancer routes from its first request;
on SIGTERM uvicorn stops accepting, lets in-flight requests finish (bounded), and the counts gathered
since the last sync are flushed before the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator

import uvicorn

from skyctl.clock import REAL_CLOCK, Clock
from skyctl.serve.load_balancer.policies import make_policy
from skyctl.serve.load_balancer.proxy import LoadBalancerApp, ProxySettings
from skyctl.serve.load_balancer.sync import Store, Syncer
from skyctl.spec import TLS

GRACEFUL_SHUTDOWN_S = 30.0


class LoadBalancerServer:
    """One load balancer on `host:port`. `serve()` runs until `stop()` (or SIGTERM in the main thread)."""

    def __init__(self, store: Store, host: str, port: int, *, tls: TLS | None = None,
                 sync_interval_s: float = 1.0, clock: Clock = REAL_CLOCK,
                 settings: ProxySettings | None = None, policy: str = "least_load") -> None:
        self.app = LoadBalancerApp(make_policy(policy), clock=clock, settings=settings)
        self.syncer = Syncer(self.app, store, sync_interval_s)
        self.config = uvicorn.Config(
            self.app, host=host, port=port, lifespan="off", log_level="warning", access_log=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            ssl_keyfile=tls.keyfile if tls else None, ssl_certfile=tls.certfile if tls else None)
        self.server = _Server(self.config)

    async def serve(self) -> None:
        await self.syncer.sync_once()
        sync = asyncio.create_task(self.syncer.run())
        try:
            await self.server.serve()
        finally:
            self.syncer.stop()
            await sync
            await self.app.aclose()

    def stop(self) -> None:
        """Ask the server to shut down (safe from any thread)."""
        self.server.should_exit = True

    @property
    def started(self) -> bool:
        return self.server.started


class _Server(uvicorn.Server):
    """uvicorn re-raises a captured SIGTERM once it has shut down, which would kill the process before
    the last request counts are flushed; here SIGTERM/SIGINT only ask for the graceful shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = (signal.SIGTERM, signal.SIGINT)
        previous = {sig: signal.signal(sig, self._ask_exit) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _ask_exit(self, _sig: int, _frame: object) -> None:
        self.should_exit = True


def configure_logging() -> None:
    """One timestamped line per event on stderr (the controller sends it to `load_balancer.log`)."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
