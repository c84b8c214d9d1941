"""`--notify` against a real HTTP server on 127.0.0.1: success, a 500 then success, and a webhook that
always fails (exit 3, the report still printed and written)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from report_history import WINDOW_ARGS, history, run_cli

from skyctl.clock import VirtualClock
from skyctl.report.notify import post_summary

__all__ = ["history"]


class Hook:
    """A webhook answering with the scripted statuses in turn (the last one repeats)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", 0))
                hook.bodies.append(json.loads(self.rfile.read(n)))
                status = hook.statuses[min(len(hook.bodies), len(hook.statuses)) - 1]
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"no")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def hook(request: pytest.FixtureRequest) -> Iterator[Hook]:
    h = Hook(request.param)
    yield h
    h.close()


def _run(pricing: Path, url: str, capsys, *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = run_cli([*WINDOW_ARGS, "--pricing", str(pricing), "--notify", url, "--notify-backoff", "0.05",
                  *extra])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("hook", [[200]], indirect=True)
def test_summary_posted(history: Path, hook: Hook, capsys) -> None:
    rc, out, err = _run(history, hook.url, capsys, "--quiet")
    assert rc == 0 and out == "" and err == ""
    assert len(hook.bodies) == 1
    text = hook.bodies[0]["text"]
    assert set(hook.bodies[0]) == {"text"}
    assert "2026-11-01T00:00:00Z -> 2026-11-08T00:00:00Z" in text
    assert "total $128.15" in text and "saved $168.05 (57.5%)" in text and "store $3.82" in text
    assert "top services: chat $102.55, embed $21.78" in text
    assert len(text.splitlines()) <= 5


@pytest.mark.parametrize("hook", [[500, 200]], indirect=True)
def test_500_then_success_is_retried(history: Path, hook: Hook, capsys) -> None:
    rc, out, _ = _run(history, hook.url, capsys)
    assert rc == 0 and len(hook.bodies) == 2 and hook.bodies[0] == hook.bodies[1]
    assert "chat/5" in out


@pytest.mark.parametrize("hook", [[500]], indirect=True)
def test_always_failing_exits_3_and_keeps_the_report(history: Path, hook: Hook, tmp_path: Path,
                                                     capsys) -> None:
    page, table = tmp_path / "r.html", tmp_path / "r.csv"
    rc, out, err = _run(history, hook.url, capsys, "--json", "--html", str(page), "--csv", str(table),
                        "--notify-retries", "2")
    assert rc == 3
    assert len(hook.bodies) == 3  # one try and two retries, bounded
    assert json.loads(out)["total_cost"] == pytest.approx(128.15041, abs=1e-6)
    assert page.read_text().startswith("<!DOCTYPE html>") and table.read_text().startswith("kind,")
    assert "post failed after 3 attempt(s)" in err and "HTTP 500" in err and "Traceback" not in err


@pytest.mark.parametrize("hook", [[404]], indirect=True)
def test_client_error_is_not_retried(history: Path, hook: Hook, capsys) -> None:
    rc, _, err = _run(history, hook.url, capsys, "--quiet")
    assert rc == 3 and len(hook.bodies) == 1 and "HTTP 404" in err


def test_unreachable_webhook_is_retried_with_backoff_then_fails() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clock = VirtualClock(0)
    res = post_summary(f"http://127.0.0.1:{port}/x", "hi", retries=3, backoff_s=1.0, clock=clock,
                       timeout_s=2.0)
    assert not res.ok and res.attempts == 4 and res.status is None and "ConnectError" in (res.error or "")
    assert clock.now() == 1 + 2 + 4  # waited 1, 2 and 4 s between the tries


def test_retries_are_bounded(history: Path, capsys) -> None:
    capsys.readouterr()
    assert run_cli([*WINDOW_ARGS, "--notify", "http://127.0.0.1:9/x", "--notify-retries", "50"]) == 2
    assert "--notify-retries" in capsys.readouterr().err
