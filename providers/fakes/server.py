"""The plumbing every fake shares: a threaded HTTP server on loopback, a route table, JSON replies,
injected failures (`POST /_fake/throttle`) and a `--port` command line."""

from __future__ import annotations

import argparse
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    base_url: str  # http://127.0.0.1:PORT, for links the client follows verbatim


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[..., Reply]


class FakeApp:
    """Routes (method, path regex) to handlers; named groups become keyword arguments.

    `POST /_fake/throttle {"count": n, "status": 429}` makes the next n API calls fail with that status
    (429 throttling, 5xx, or 401/403 for auth tests); `GET /_fake/stats` counts what was served.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.failures: list[int] = []
        self.stats: dict[str, int] = {"requests": 0, "failed": 0}
        self.route("POST", "/_fake/throttle", self._throttle)
        self.route("GET", "/_fake/stats", lambda req: Reply(body=dict(self.stats)))
        self.route("POST", "/_fake/reset", self._reset)

    def route(self, method: str, pattern: str, fn: Handler) -> None:
        self.routes.append((method, re.compile(pattern + "$"), fn))

    def reset(self) -> None:
        """Forget all cloud state (subclasses extend)."""

    def error(self, status: int, code: str, message: str) -> Reply:
        """The cloud's error body; subclasses shape it."""
        return Reply(status, {"error": {"code": code, "message": message}})

    def dispatch(self, req: Request) -> Reply:
        with self.lock:
            if not req.path.startswith("/_fake/"):
                self.stats["requests"] += 1
                if self.failures:
                    status = self.failures.pop(0)
                    self.stats["failed"] += 1
                    return self.injected(status)
            for method, pattern, fn in self.routes:
                m = pattern.match(req.path)
                if m and method == req.method:
                    return fn(req, **m.groupdict())
            return self.error(404, "NotFound", f"no route for {req.method} {req.path}")

    def injected(self, status: int) -> Reply:
        reply = self.error(status, {429: "TooManyRequests", 401: "Unauthorized", 403: "Forbidden"}.get(
            status, "ServerError"), f"injected failure {status}")
        reply.headers["Retry-After"] = "0"
        return reply

    def _throttle(self, req: Request) -> Reply:
        body = req.body or {}
        self.failures.extend([int(body.get("status", 429))] * int(body.get("count", 1)))
        return Reply(body={"pending": len(self.failures)})

    def _reset(self, req: Request) -> Reply:
        self.failures.clear()
        self.stats.update(requests=0, failed=0)
        self.reset()
        return Reply(body={})


class FakeServer(ThreadingHTTPServer):
    """`FakeServer(app).start()` serves `app` on 127.0.0.1 (port 0 picks a free one) in a daemon thread."""

    daemon_threads = True

    def __init__(self, app: FakeApp, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.app = app
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> FakeServer:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: FakeServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        reply = self.server.app.dispatch(Request(self.command, parts.path, query, body, self.server.url))
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and demos read state through the API, not the access log."""


def main(app: FakeApp, description: str) -> None:
    """`python -m providers.fakes.<name> --port P`: serve until interrupted."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    args = parser.parse_args()
    server = FakeServer(app, args.port)
    print(f"{description} listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()
