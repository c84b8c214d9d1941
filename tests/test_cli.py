"""The CLI's global contract: version, help, exit codes, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

from skyctl import __version__


def skyctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skyctl", *args], capture_output=True, text=True,
                          timeout=60)


def test_version() -> None:
    r = skyctl("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"skyctl {__version__}"


def test_unknown_command_is_usage_error_without_traceback() -> None:
    r = skyctl("no-such-command")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "No such command" in r.stderr
