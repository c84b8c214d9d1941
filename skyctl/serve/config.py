"""The controller's timing and limits (SkyServe's defaults, brief §8), overridable per process from
`SKYCTL_SERVE_<FIELD>` environment variables so tests and the simulator can run with short intervals."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any

from skyctl.errors import UserError

ENV_PREFIX = "SKYCTL_SERVE_"
# Intervals that divide or pace the loop: zero would spin or divide by zero.
_POSITIVE = frozenset({"tick_seconds", "decision_interval_seconds", "qps_window_seconds"})


def _default_max_launches() -> int:
    return 2 * (os.cpu_count() or 1)


@dataclass(frozen=True)
class ControllerConfig:
    tick_seconds: float = 1.0
    probe_interval_seconds: float = 10.0  # READY / NOT_READY replicas
    starting_probe_interval_seconds: float = 2.0  # STARTING replicas: notice READY quickly
    probe_failure_timeout_seconds: float = 180.0  # NOT_READY this long -> FAILED_PROBING
    drain_seconds: float = 120.0  # a READY replica chosen for scale-down serves this long before terminate
    launch_retries: int = 3  # TransientError retries of one launch before FAILED_PROVISION
    launch_backoff_seconds: float = 10.0  # first retry delay; doubles per attempt
    launch_backoff_max_seconds: float = 120.0
    max_concurrent_launches: int = _default_max_launches()
    launch_threads: int = 0  # 0: launches run inside the tick (deterministic); >0: a thread pool
    cleanup_retry_seconds: float = 10.0  # FAILED_CLEANUP: terminate is retried this often
    decision_interval_seconds: float = 20.0  # autoscaler decisions (a quarter of it at target 0)
    qps_window_seconds: float = 60.0  # request counts averaged over this window for the autoscaler
    lb_check_seconds: float = 2.0  # how often the controller process checks the load balancer is alive

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> ControllerConfig:
        """Defaults, then `SKYCTL_SERVE_<FIELD>` (e.g. `SKYCTL_SERVE_DRAIN_SECONDS=0`), then `overrides`."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            kind = int if f.type in ("int", int) else float
            try:
                value = kind(raw)
            except ValueError:
                raise UserError("not a number", field=ENV_PREFIX + f.name.upper(), value=raw,
                                fix=f"set it to a{'n integer' if kind is int else ' number'}") from None
            if value < 0 or (value == 0 and f.name in _POSITIVE):
                bound = "> 0" if f.name in _POSITIVE else ">= 0"
                raise UserError(f"must be {bound}", field=ENV_PREFIX + f.name.upper(), value=raw,
                                fix=f"set a value {bound} or unset it")
            values[f.name] = value
        return replace(cls(), **{**values, **overrides})
