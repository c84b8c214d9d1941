"""The HTML report opened in real headless Chromium: no console errors, no refused loads, and the
screenshot shows both charts (pixels of the chart areas carry the series colours, not a blank box)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from report_chromium import find_chromium, open_page
from report_history import WINDOW_ARGS, history, run_cli

__all__ = ["history"]

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium; .ci/run does)")
SPOT, ONDEMAND, STORE = (0x2A, 0x9D, 0x8F), (0xE7, 0x6F, 0x51), (0x45, 0x7B, 0x9D)


def _colours(img, box: dict[str, float]) -> dict[tuple[int, int, int], int]:
    x, y = int(box["x"]), int(box["y"])
    crop = img.crop((x, y, x + int(box["width"]), y + int(box["height"])))
    return {rgb: n for n, rgb in crop.getcolors(maxcolors=1 << 20)}


def test_html_report_renders_in_chromium_with_charts(history: Path, tmp_path: Path) -> None:
    image = pytest.importorskip("PIL.Image", reason="Pillow (a matplotlib dependency, dev extra) is needed")
    page = tmp_path / "report.html"
    assert run_cli([*WINDOW_ARGS, "--pricing", str(history), "--quiet", "--html", str(page)]) == 0
    assert CHROMIUM is not None
    res = open_page(CHROMIUM, page, tmp_path / "profile", ["#chart-daily", "#chart-services", "#replicas"])
    assert res.problems == []
    (tmp_path / "report.png").write_bytes(res.png)
    img = image.open(io.BytesIO(res.png)).convert("RGB")
    assert img.width >= 900 and img.height > res.boxes["#replicas"]["y"]
    daily, services = res.boxes["#chart-daily"], res.boxes["#chart-services"]
    assert daily["width"] > 800 and daily["height"] > 200 and services["height"] > 50
    colours = _colours(img, daily)
    total = sum(colours.values())
    assert colours.get(SPOT, 0) > 0.05 * total  # spot is most of every day's bar
    assert colours.get(ONDEMAND, 0) > 0.005 * total and colours.get(STORE, 0) > 0
    assert sum(n for rgb, n in colours.items() if rgb != (255, 255, 255)) > 0.2 * total
    share = _colours(img, services)
    assert sum(n for rgb, n in share.items() if rgb != (255, 255, 255)) > 0.05 * sum(share.values())


def test_browser_check_catches_a_broken_page(tmp_path: Path) -> None:
    """The harness itself must see errors, or a clean result above would prove nothing."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\">"
                   "</head><body><img src=\"https://example.invalid/x.png\"><script>nope()</script></body></html>")
    assert CHROMIUM is not None
    res = open_page(CHROMIUM, bad, tmp_path / "profile", [])
    assert any("nope" in p or "script" in p.lower() for p in res.problems), res.problems
    assert any("example.invalid" in p for p in res.problems), res.problems
