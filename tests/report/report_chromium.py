"""Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: commands on
fd 3, replies on fd 4, NUL-terminated JSON), so the tests need no websocket library and no port.

`open_page` loads a file, returns every console message, uncaught exception and log entry (failed loads
and CSP refusals arrive as log entries), the bounding boxes of chosen elements, and a full-page PNG.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BINARIES = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_S = 60.0


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, BINARIES) if p), None)


@dataclass
class PageResult:
    problems: list[str] = field(default_factory=list)  # console errors/warnings, exceptions, log errors
    boxes: dict[str, dict[str, float]] = field(default_factory=dict)  # CSS selector -> x, y, width, height
    png: bytes = b""


class _Cdp:
    def __init__(self, binary: str, profile: Path) -> None:
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()
        # Chromium wants the pipe on fds 3 and 4; lift the child's ends above any fd in use, then let bash
        # move them down (the originals may themselves be 3 or 4).
        hi_r, hi_w = (fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in (to_chrome_r, from_chrome_w))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        cmd = f'exec 3<&{hi_r} 4>&{hi_w} {hi_r}<&- {hi_w}>&-; exec "$0" "$@"'
        self.proc = subprocess.Popen(
            ["bash", "-c", cmd, binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "--hide-scrollbars", "about:blank"],
            pass_fds=(hi_r, hi_w), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(hi_r)
        os.close(hi_w)
        self._buf = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict:
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str) -> dict[str, Any]:
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read())

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_S
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self._w)
        os.close(self._r)


def _problems(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for ev in events:
        method, p = ev.get("method"), ev.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = p["exceptionDetails"]
            out.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
            out.append(f"console.{p['type']}: {[a.get('value') for a in p.get('args', [])]}")
        elif method == "Log.entryAdded" and p["entry"].get("level") in ("error", "warning"):
            out.append(f"log {p['entry']['level']}: {p['entry'].get('text')} {p['entry'].get('url', '')}")
    return out


def open_page(binary: str, page: Path, profile: Path, selectors: list[str], width: int = 1000) -> PageResult:
    cdp = _Cdp(binary, profile)
    try:
        target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            cdp.send(f"{domain}.enable", session=sid)
        cdp.send("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=sid)
        cdp.send("Page.navigate", {"url": page.resolve().as_uri()}, session=sid)
        cdp.wait_event("Page.loadEventFired")
        res = PageResult()
        for sel in selectors:
            expr = (f"(() => {{ const e = document.querySelector({json.dumps(sel)}); if (!e) return null; "
                    "const r = e.getBoundingClientRect(); "
                    "return {x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height}; })()")
            got = cdp.send("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=sid)
            value = got["result"].get("value")
            if value is not None:
                res.boxes[sel] = value
        size = cdp.send("Page.getLayoutMetrics", session=sid)["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = cdp.send("Page.captureScreenshot",
                        {"format": "png", "captureBeyondViewport": True, "clip": clip}, session=sid)
        res.png = base64.b64decode(shot["data"])
        cdp.send("Runtime.evaluate", {"expression": "1"}, session=sid)  # flushes events queued before it
        res.problems = _problems(cdp.events)
        return res
    finally:
        cdp.close()
