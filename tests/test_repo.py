"""Repository rules that keep what CI checks equal to what a newcomer runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    """The shell lines inside ```bash fences of the README's set-up section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [line for block in re.findall(r"```bash\n(.*?)```", section, re.S)
            for line in block.strip().splitlines() if line.strip()]


def test_readme_has_exactly_two_setup_commands() -> None:
    assert len(_readme_commands()) == 2


# The one thing CI may do besides the README's command: install a system package a test needs.
CI_SYSTEM_PACKAGES = "command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive " \
    "apt-get install -y chromium)"


def test_ci_runs_the_readme_test_command() -> None:
    ci_lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines()
                if ln.strip() and not ln.startswith("#") and not ln.startswith(("set ", "cd "))]
    assert ci_lines == [CI_SYSTEM_PACKAGES, _readme_commands()[1]]


def test_license_is_apache() -> None:
    assert "Apache License" in (ROOT / "LICENSE").read_text()
