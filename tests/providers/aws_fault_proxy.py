"""A tiny HTTP proxy on 127.0.0.1 in front of moto that answers chosen EC2 calls with AWS error XML.

moto has no switch for "no capacity in this zone" or "throttled", so the tests put this proxy between
boto3 and moto: a request matching a rule (the query's Action and other form fields, e.g. the zone and
the market type of a RunInstances) gets the rule's status and `<Code>` in EC2's error format, exactly
what botocore parses on real AWS; everything else is forwarded unchanged. A rule can fire a limited number
of times (throttling that clears), and every request is counted so tests can see the retries.
"""

from __future__ import annotations

import threading
import urllib.request
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.error import HTTPError
from urllib.parse import parse_qs

_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


@dataclass
class Rule:
    match: dict[str, str]  # form fields that must all be equal, e.g. {"Action": "RunInstances"}
    status: int
    code: str
    message: str
    times: int | None = None  # None: every time

    def hits(self, form: dict[str, str]) -> bool:
        return all(form.get(k) == v for k, v in self.match.items()) and (self.times is None or self.times > 0)


class FaultProxy:
    """`url` forwards to `upstream` unless a rule fires; `rules` and `seen` are safe to use from tests."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.rules: list[Rule] = []
        self.seen: Counter[str] = Counter()  # Action -> requests received (answered or forwarded)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail(self, match: dict[str, str], code: str, *, status: int = 400, times: int | None = None,
             message: str | None = None) -> Rule:
        rule = Rule(match, status, code, message or f"injected {code}", times)
        with self._lock:
            self.rules.append(rule)
        return rule

    def reset(self) -> None:
        with self._lock:
            self.rules.clear()
            self.seen.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _decide(self, form: dict[str, str]) -> Rule | None:
        with self._lock:
            self.seen[form.get("Action", "?")] += 1
            for rule in self.rules:
                if rule.hits(form):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
                rule = proxy._decide(form)
                if rule is not None:
                    return self._answer(rule.status, _error_xml(rule.code, rule.message),
                                        {"Content-Type": "text/xml"})
                req = urllib.request.Request(proxy.upstream + self.path, data=body, method="POST", headers={
                    k: v for k, v in self.headers.items() if k.lower() not in _HOP})
                try:
                    with urllib.request.urlopen(req, timeout=30) as resp:
                        self._answer(resp.status, resp.read(), dict(resp.headers.items()))
                except HTTPError as e:
                    self._answer(e.code, e.read(), dict(e.headers.items()))

            def _answer(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in _HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler


def _error_xml(code: str, message: str) -> bytes:
    """EC2's error document (query protocol), as botocore expects it."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
            ).encode()
