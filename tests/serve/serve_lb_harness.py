"""Real HTTP servers on 127.0.0.1 for the load-balancer tests: scriptable upstream replicas and the
load balancer itself, each served by uvicorn in a thread with bounded start and stop."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from skyctl.serve.load_balancer.policies import Backend, Policy
from skyctl.serve.load_balancer.proxy import LoadBalancerApp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Upstream:
    """A replica. Paths: `/sse?n=N` N events; `/gated` one event, then waits for `release` before the
    last; `/forever` an event every 20 ms until the client leaves (sets `saw_disconnect`); `/break`
    promises 100 bytes, sends 10 and drops the connection; anything else echoes the request as JSON."""

    def __init__(self, name: str) -> None:
        self.name, self.hits = name, 0
        self.release = threading.Event()
        self.saw_disconnect = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.hits += 1
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        path = scope["path"]
        sse = [(b"content-type", b"text/event-stream"), (b"x-replica", self.name.encode())]
        if path == "/sse":
            n = int(dict(p.split("=") for p in scope["query_string"].decode().split("&"))["n"])
            await send({"type": "http.response.start", "status": 200, "headers": sse})
            for i in range(n):
                event = f"data: {i}\n\n".encode()
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
        elif path == "/gated":
            await send({"type": "http.response.start", "status": 200, "headers": sse})
            await send({"type": "http.response.body", "body": b"data: first\n\n", "more_body": True})
            released = await asyncio.to_thread(self.release.wait, 10)
            await send({"type": "http.response.body", "body": f"data: last {released}\n\n".encode()})
        elif path == "/forever":
            await self._forever(receive, send, sse)
        elif path == "/break":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"100")]})
            await send({"type": "http.response.body", "body": b"0123456789", "more_body": True})
            raise RuntimeError("replica crashed mid-response")
        else:
            echo = {"replica": self.name, "method": scope["method"], "path": path,
                    "query": scope["query_string"].decode(), "body": body.decode(),
                    "headers": {k.decode(): v.decode() for k, v in scope["headers"]}}
            payload = json.dumps(echo).encode()
            await send({"type": "http.response.start", "status": 201,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"x-replica", self.name.encode()),
                                    (b"content-length", str(len(payload)).encode())]})
            await send({"type": "http.response.body", "body": payload})

    async def _forever(self, receive: Any, send: Any, headers: list) -> None:
        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            self.saw_disconnect.set()

        watcher = asyncio.ensure_future(watch())
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i in range(500):  # 10 s bound
            if watcher.done():
                return
            await send({"type": "http.response.body", "body": f"data: {i}\n\n".encode(), "more_body": True})
            await asyncio.sleep(0.02)
        watcher.cancel()
        await send({"type": "http.response.body", "body": b""})


@contextmanager
def serving(app: Any, port: int | None = None) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread; yield its base URL; stop within 10 s."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical",
                                           lifespan="off", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), what="uvicorn start")
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive(), "uvicorn did not stop within 10 s"


@contextmanager
def upstreams(*names: str) -> Iterator[list[tuple[Upstream, str]]]:
    """Start one Upstream per name; yield [(upstream, base_url)]."""
    with _stack(names) as started:
        yield started


@contextmanager
def _stack(names: tuple[str, ...]) -> Iterator[list[tuple[Upstream, str]]]:
    if not names:
        yield []
        return
    up = Upstream(names[0])
    with serving(up) as url, _stack(names[1:]) as rest:
        yield [(up, url), *rest]


@contextmanager
def balancer(policy: Policy, endpoints: list[str], weights: list[float] | None = None,
             **kwargs: Any) -> Iterator[tuple[LoadBalancerApp, httpx.Client]]:
    """A LoadBalancerApp over `endpoints`, served for real; yields it and a client on its URL."""
    weights = weights or [1.0] * len(endpoints)
    pairs = zip(endpoints, weights, strict=True)
    policy.set_backends([Backend(e, i + 1, w) for i, (e, w) in enumerate(pairs)])
    app = LoadBalancerApp(policy, **kwargs)
    with serving(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield app, client


def wait_until(predicate: Any, timeout_s: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout_s} s")
        time.sleep(0.01)
