"""`python -m skyctl.serve.load_balancer --service-id ID [--host H] [--port P]`: the process the
controller starts for a service; the port defaults to the service's recorded `lb_port`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from skyctl.serve.load_balancer.server import LoadBalancerServer, configure_logging
from skyctl.serve.load_balancer.sync import DbStore

log = logging.getLogger("skyctl.serve.load_balancer")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skyctl.serve.load_balancer")
    parser.add_argument("--service-id", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: the service's lb_port")
    parser.add_argument("--sync-interval", type=float, default=1.0, help="seconds between DB syncs")
    args = parser.parse_args(argv)
    configure_logging()
    store = DbStore(args.service_id)
    try:
        lb_port, tls = store.endpoint()
    except LookupError as exc:
        log.error("%s", exc)
        return 1
    port = args.port or lb_port
    if port is None:
        log.error("service %d has no lb_port recorded; pass --port", args.service_id)
        return 1
    server = LoadBalancerServer(store, args.host, port, tls=tls, sync_interval_s=args.sync_interval)
    log.info("load balancer for service %d on %s://%s:%d", args.service_id, "https" if tls else "http",
             args.host, port)
    asyncio.run(server.serve())
    log.info("load balancer stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
