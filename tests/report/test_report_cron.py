"""The example cron wrapper, run for real: files written, silent on success, exit 3 and one line when
the webhook refuses, old reports pruned."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from report_history import history

from skyctl.cli import groups

__all__ = ["history"]

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = ROOT / "examples" / "cost-report" / "cost-report-cron.sh"


def _skyctl_on_path(bin_dir: Path) -> None:
    """The installed `skyctl` once the lead registers the group; until then a shim through the same
    entry point (`run_cli` adds the group in-process)."""
    bin_dir.mkdir()
    if any(name == "cost-report" for name, *_ in groups.GROUPS):
        (bin_dir / "skyctl").symlink_to(Path(sys.executable).parent / "skyctl")
        return
    shim = bin_dir / "skyctl"
    shim.write_text(f'#!/bin/sh\nshift\nexec {sys.executable} -c "import sys; sys.path.insert(0, '
                    f"'{Path(__file__).parent}'); from report_history import run_cli; "
                    'sys.exit(run_cli(sys.argv[1:]))" "$@"\n')
    shim.chmod(0o755)


class _Refuse(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow  # two skyctl processes (~3 s of imports each)
def test_cron_wrapper(history: Path, tmp_path: Path) -> None:
    _skyctl_on_path(tmp_path / "bin")
    reports = tmp_path / "reports"
    reports.mkdir()
    for i in range(3):  # older reports beyond KEEP are removed
        old = reports / f"cost-2020-01-0{i + 1}.html"
        old.write_text("old")
        os.utime(old, (1e9 + i, 1e9 + i))
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "REPORT_DIR": str(reports),
           "KEEP": "2"}
    env.pop("SKYCTL_COST_WEBHOOK", None)
    ok = subprocess.run(["bash", str(WRAPPER)], env=env, capture_output=True, text=True, timeout=120)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")
    html = sorted(reports.glob("cost-*.html"))
    assert len(html) == 2 and html[-1].read_text().startswith("<!DOCTYPE html>")
    assert html[0].name == "cost-2020-01-03.html"  # the newest old one survives, the two oldest are gone
    assert len(list(reports.glob("cost-*.csv"))) == 1

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuse)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        env["SKYCTL_COST_WEBHOOK"] = f"http://127.0.0.1:{server.server_address[1]}/hook"
        bad = subprocess.run(["bash", str(WRAPPER)], env=env, capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert bad.returncode == 3 and bad.stdout == ""
    assert "HTTP 404" in bad.stderr and "report written to" in bad.stderr
