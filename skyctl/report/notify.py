"""`--notify URL`: a short summary POSTed to a Slack-compatible incoming webhook (`{"text": ...}`).

Bounded retries with exponential backoff on what can heal by itself (connection errors, timeouts, 429,
5xx); a 4xx other than 429 means the URL or payload is wrong and is not retried. The post never raises:
the CLI has already printed and written the report, and turns a failed post into its own exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from skyctl.clock import REAL_CLOCK, Clock
from skyctl.errors import UserError
from skyctl.report import fmt
from skyctl.report.model import Report
from skyctl.report.render_table import summary_line
from skyctl.report.window import iso

TIMEOUT_S = 10.0
MAX_RETRIES = 10
TOP_SERVICES = 5


@dataclass(frozen=True)
class NotifyResult:
    ok: bool
    attempts: int
    status: int | None  # last HTTP status, None if no answer came back
    error: str | None


def check_url(url: str) -> str:
    """Refuse a URL that cannot be a webhook before any work is done (exit 2, not a late failure)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError("not an http(s) URL", field="--notify", value=url,
                        fix="give the webhook URL, e.g. https://hooks.slack.com/services/...")
    return url


def check_retries(retries: int) -> int:
    if not 0 <= retries <= MAX_RETRIES:
        raise UserError(f"must be between 0 and {MAX_RETRIES}", field="--notify-retries", value=retries,
                        fix="the default (3) retries after 1, 2 and 4 s")
    return retries


def summary_text(report: Report) -> str:
    """A few lines for a chat channel: the window, the totals, the most expensive services, the notes."""
    w = report.window
    head = f"skyctl cost report {iso(w.since)} -> {iso(w.until)}"
    if report.service_filter:
        head += f" (service {report.service_filter})"
    lines = [head, summary_line(report)]
    top = sorted(report.services.items(), key=lambda kv: (-kv[1].cost, kv[0]))[:TOP_SERVICES]
    if top:
        lines.append("top services: " + ", ".join(f"{n} {fmt.usd(sp.cost)}" for n, sp in top))
    if report.notes:
        lines.append(f"{len(report.notes)} note(s): see the full report")
    return "\n".join(lines)


def post_summary(url: str, text: str, *, retries: int = 3, backoff_s: float = 1.0,
                 clock: Clock = REAL_CLOCK, timeout_s: float = TIMEOUT_S) -> NotifyResult:
    """POST `{"text": text}`; up to `retries` more tries, waiting backoff_s, 2x, 4x... between them."""
    status: int | None = None
    error: str | None = None
    attempts = 0
    with httpx.Client(timeout=timeout_s, follow_redirects=False) as http:
        for attempt in range(retries + 1):
            if attempt:
                clock.sleep(backoff_s * 2 ** (attempt - 1))
            attempts += 1
            try:
                resp = http.post(url, json={"text": text})
            except httpx.HTTPError as e:
                status, error = None, f"{type(e).__name__}: {e}"
                continue
            status = resp.status_code
            if resp.is_success:
                return NotifyResult(True, attempts, status, None)
            error = f"HTTP {status}: {resp.text[:200]}"
            if status != 429 and status < 500:
                break
    return NotifyResult(False, attempts, status, error)
