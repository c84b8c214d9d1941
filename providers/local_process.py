"""Linux process plumbing for the local provider: identity through `/proc`, whole-group signalling.

A pid alone is not an identity (pids get reused), so every check pairs it with the process start time
from `/proc/<pid>/stat`. Replicas run in their own session, so their process group id is the leader's pid
and signalling the group reaches everything the replica spawned, and nothing else.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from field 3 (state) on; the command name may contain spaces."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rindex(")") + 2:].split()


def start_time(pid: int) -> int | None:
    """Start time in clock ticks since boot (field 22), or None when no such process exists."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_alive(pid: int, started: int | None) -> bool:
    """The process with this pid *and* this start time exists and is not a zombie."""
    fields = _stat_fields(pid)
    if not fields or fields[0] in ("Z", "X"):
        return False
    return started is None or int(fields[19]) == started


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in this process group."""
    members = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def owns_group(pgid: int, started: int | None) -> bool:
    """Whether the group `pgid` is still the one we started.

    Either its leader is alive with the recorded start time, or the leader is gone but members remain:
    Linux never hands out a pid that is still in use as a process group id, so those members are ours.
    """
    if is_alive(pgid, started):
        return True
    return start_time(pgid) is None and bool(group_members(pgid))


def stop_group(pgid: int, started: int | None, grace: float, reap: Callable[[], None]) -> None:
    """SIGTERM the whole group, wait up to `grace` seconds, then SIGKILL what is left and wait for it.

    `reap` collects our own exited children so that they do not linger as zombies while we wait.
    """
    if not owns_group(pgid, started):
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            reap()
            if not group_members(pgid):
                return
            time.sleep(0.02)
