"""Find processes from the outside, through /proc, to prove a provider or a service left nothing behind."""

from __future__ import annotations

from pathlib import Path


def processes_with_env(marker: str) -> list[int]:
    """Live (non-zombie) processes whose environment holds `marker`, e.g. SKYCTL_SERVICE=web."""
    needle = marker.encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if state != "Z" and (env.startswith(needle) or b"\0" + needle in env):
            found.append(int(entry.name))
    return found
