"""The load balancer's ASGI app: a streaming reverse proxy in front of the ready replicas.

Raw ASGI rather than a framework route, because the proxy needs exact control of three moments: the
request is retried on another replica only while nothing has reached the client (connect refused or
reset before the response headers); from the first byte on, the upstream body is relayed chunk by chunk
(server-sent events pass through token by token) and never retried; and a client that goes away cancels
the upstream read at once instead of letting the replica generate into the void.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from skyctl.clock import REAL_CLOCK, Clock
from skyctl.serve.load_balancer.policies import Lease, Policy

log = logging.getLogger("skyctl.serve.load_balancer")

# Headers that describe one hop, not the message (RFC 9110 §7.6.1); never forwarded either way.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                        "trailer", "transfer-encoding", "upgrade"})
# Request headers httpx recomputes for the upstream hop.
RECOMPUTED = HOP_BY_HOP | {"host", "content-length"}
MAX_ATTEMPTS = 3
BACKOFF_S = 0.05  # only before re-trying a replica that already failed this request; a fresh one goes now
RETRY_AFTER_S = 5
# Failures that prove the replica never got to answer: safe to send the request elsewhere.
RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError,
             httpx.WriteError, httpx.PoolTimeout)


@dataclass
class ProxySettings:
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 120.0  # SkyServe's LB_STREAM_TIMEOUT: longest silence inside a stream
    max_connections: int = 1000


class RequestCounter:
    """Requests per wall-clock second, drained by the sync loop into `serve_request_count`."""

    def __init__(self, clock: Clock = REAL_CLOCK) -> None:
        self._clock, self._counts = clock, Counter[int]()

    def hit(self) -> None:
        self._counts[int(self._clock.now())] += 1

    def drain(self) -> dict[int, int]:
        counts, self._counts = dict(self._counts), Counter()
        return counts

    def restore(self, counts: dict[int, int]) -> None:
        """Put back counts whose flush failed, so the next flush carries them."""
        self._counts.update(counts)


def error_body(status: int, message: str, kind: str) -> bytes:
    """OpenAI-style error JSON, what LLM clients already know how to show."""
    return json.dumps({"error": {"message": message, "type": kind, "code": status}}).encode()


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class LoadBalancerApp:
    """ASGI app. `policy` holds the ready set (replaced by the sync loop); `api_key_sha256`, when set,
    makes `Authorization: Bearer <key>` mandatory."""

    def __init__(self, policy: Policy, *, clock: Clock = REAL_CLOCK, settings: ProxySettings | None = None,
                 api_key_sha256: str | None = None) -> None:
        self.policy, self.settings = policy, settings or ProxySettings()
        self.api_key_sha256 = api_key_sha256
        self.counter = RequestCounter(clock)
        s = self.settings
        # One pool for all replicas: httpx keeps connections per origin, so replicas never share a socket.
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(s.read_timeout_s, connect=s.connect_timeout_s),
            limits=httpx.Limits(max_connections=s.max_connections, max_keepalive_connections=200),
            follow_redirects=False)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        if self.api_key_sha256 and not self._authorized(headers):
            await _reply(send, 401, "Missing or invalid API key: send `Authorization: Bearer <key>`.",
                         "invalid_api_key")
            return
        self.counter.hit()
        body = await _read_body(receive)
        if body is None:
            return  # the client left while sending
        await self._forward(scope, headers, body, receive, send)

    def _authorized(self, headers: list[tuple[str, str]]) -> bool:
        value = next((v for k, v in headers if k == "authorization"), "")
        scheme, _, key = value.partition(" ")
        given = key_digest(key.strip()) if scheme.lower() == "bearer" else ""
        return hmac.compare_digest(given.encode(), (self.api_key_sha256 or "").encode())

    async def _forward(self, scope: dict[str, Any], headers: list[tuple[str, str]], body: bytes,
                       receive: Any, send: Any) -> None:
        policy = self.policy  # the sync loop may swap it; this request stays with the one it started on
        tried: list[str] = []
        for attempt in range(MAX_ATTEMPTS):
            lease = policy.acquire(avoid=tried)
            if lease is None:
                break
            try:
                if lease.backend.endpoint in tried:
                    await asyncio.sleep(BACKOFF_S * 2 ** attempt)
                try:
                    upstream = await self.client.send(_upstream_request(scope, headers, body, lease),
                                                      stream=True)
                except RETRYABLE as exc:
                    log.warning("replica %s failed before responding (%s: %s); attempt %d/%d",
                                lease.backend.endpoint, type(exc).__name__, exc, attempt + 1, MAX_ATTEMPTS)
                    tried.append(lease.backend.endpoint)
                    continue
                except httpx.TimeoutException:
                    await _reply(send, 504, "The replica did not answer in time.", "timeout")
                    return
                await self._relay(upstream, receive, send)
                return
            finally:
                lease.release()
        if not tried:
            await _reply(send, 503, "No ready replicas. The service is starting or scaling; retry later.",
                         "service_unavailable", [(b"retry-after", str(RETRY_AFTER_S).encode())])
        else:
            await _reply(send, 502, f"Could not reach a replica after {len(tried)} attempts.", "bad_gateway")

    async def _relay(self, upstream: httpx.Response, receive: Any, send: Any) -> None:
        """Send the upstream's status and headers, then each body chunk as it arrives; stop the upstream
        when the client disconnects. An upstream failing mid-body ends the response incomplete (uvicorn
        closes the connection), so the client sees a truncated stream rather than a fake success."""
        relay = asyncio.ensure_future(self._pump(upstream, send))
        watch = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            await asyncio.wait((relay, watch), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (relay, watch):
                task.cancel()
            await asyncio.gather(relay, watch, return_exceptions=True)
            await upstream.aclose()
        if relay.done() and not relay.cancelled() and relay.exception() is not None:
            exc = relay.exception()
            log.warning("replica stream broke after the response started (%s: %s); not retried",
                        type(exc).__name__, exc)

    async def _pump(self, upstream: httpx.Response, send: Any) -> None:
        await send({"type": "http.response.start", "status": upstream.status_code,
                    "headers": [(k, v) for k, v in upstream.headers.raw
                                if k.decode("latin-1").lower() not in HOP_BY_HOP]})
        async for chunk in upstream.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _upstream_request(scope: dict[str, Any], headers: list[tuple[str, str]], body: bytes,
                      lease: Lease) -> httpx.Request:
    url = lease.backend.endpoint.rstrip("/") + scope["raw_path"].decode("latin-1")
    if scope.get("query_string"):
        url += "?" + scope["query_string"].decode("latin-1")
    named = {v.strip().lower() for k, v in headers if k == "connection" for v in v.split(",")}
    kept = [(k, v) for k, v in headers if k not in RECOMPUTED and k not in named]
    client = scope.get("client")
    if client:
        prior = next((v for k, v in headers if k == "x-forwarded-for"), None)
        kept = [(k, v) for k, v in kept if k != "x-forwarded-for"]
        kept.append(("x-forwarded-for", f"{prior}, {client[0]}" if prior else client[0]))
    # A bare httpx.Request carries only these headers (no client defaults such as Accept-Encoding).
    return httpx.Request(scope["method"], url, headers=kept, content=body)


async def _read_body(receive: Any) -> bytes | None:
    """The whole request body (LLM requests are small JSON; holding it is what makes retries possible)."""
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


async def _wait_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _reply(send: Any, status: int, message: str, kind: str,
                 extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = error_body(status, message, kind)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *(extra or [])]})
    await send({"type": "http.response.body", "body": body, "more_body": False})
