"""Where a service's local files live: `$SKYCTL_HOME/serve/<name>/` holds the controller and load-balancer
logs and the controller lock (one controller per service per machine)."""

from __future__ import annotations

from pathlib import Path

from skyctl.home import skyctl_home


def service_dir(name: str) -> Path:
    path = skyctl_home() / "serve" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def controller_log(name: str) -> Path:
    return service_dir(name) / "controller.log"


def load_balancer_log(name: str) -> Path:
    return service_dir(name) / "load_balancer.log"


def controller_lock(name: str) -> Path:
    return service_dir(name) / "controller.lock"
