"""Named points where a test can freeze the controller and `kill -9` it, to prove crash safety.

`failpoint(name)` does nothing unless `SKYCTL_FAILPOINTS` (comma-separated) names it; then it writes
`<SKYCTL_HOME>/failpoints/<name>.hit` and blocks forever, so the test knows the process is exactly there.
"""

from __future__ import annotations

import os
import time

from skyctl.home import skyctl_home

ENV = "SKYCTL_FAILPOINTS"
# After a replica row (PROVISIONING, idempotency key, location) is committed, before provider.launch.
BEFORE_LAUNCH = "before_launch"
# provider.launch returned an instance; the row does not record it yet.
AFTER_LAUNCH = "after_launch"
# scale_down_at / SHUTTING_DOWN are committed; provider.terminate is not called yet.
BEFORE_TERMINATE = "before_terminate"
ALL = (BEFORE_LAUNCH, AFTER_LAUNCH, BEFORE_TERMINATE)


def enabled(name: str) -> bool:
    return name in {p.strip() for p in os.environ.get(ENV, "").split(",") if p.strip()}


def failpoint(name: str) -> None:
    if not enabled(name):
        return
    marker = skyctl_home() / "failpoints" / f"{name}.hit"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(os.getpid()))
    while True:  # wait for the kill -9 the test is about to send
        time.sleep(0.05)
