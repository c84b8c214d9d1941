"""The controller process: `python -m skyctl.serve.controller NAME`.

It takes the service's controller lock (a second controller exits at once), records its pid, keeps the
load balancer alive, and ticks on the real clock until the service is down or SIGTERM arrives; on SIGTERM
it finishes the current tick and exits, leaving replicas and the load balancer running.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import sys
import threading
import time

from providers import local_process as proc
from skyctl.clock import REAL_CLOCK
from skyctl.serve import paths
from skyctl.serve.config import ControllerConfig
from skyctl.serve.controller import Controller
from skyctl.serve.controller_process import ensure_load_balancer
from skyctl.state import read_session, write_session
from skyctl.state import serve_repo as repo

log = logging.getLogger("skyctl.serve.controller")


def run(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m skyctl.serve.controller NAME", file=sys.stderr)
        return 2
    name = args[0]
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format=f"%(asctime)s %(levelname)s controller[{name}] %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe otherwise
    # Held open (and the flock with it) until the process ends; the kernel releases it even on kill -9.
    lock = open(paths.controller_lock(name), "a")  # noqa: SIM115
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.info("another controller of %s is running; exiting", name)
        return 0
    with write_session() as s:
        svc = repo.live_service(s, name)
        if svc is None:
            log.error("no live service named %s", name)
            return 1
        pid = os.getpid()
        repo.update_service(s, svc.id, controller_pid=pid,  # type: ignore[arg-type]
                            controller_start_time=proc.start_time(pid))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    config = ControllerConfig.from_env()
    controller = Controller(svc.id, clock=REAL_CLOCK, config=config)  # type: ignore[arg-type]
    log.info("controller of %s (service %d) started, pid %d", name, svc.id, pid)
    try:
        loop(controller, config, stop)
    finally:
        controller.close()
    log.info("controller of %s exiting", name)
    return 0


def loop(controller: Controller, config: ControllerConfig, stop: threading.Event) -> None:
    next_lb_check = 0.0
    while not stop.is_set():
        started = time.monotonic()
        if started >= next_lb_check:
            next_lb_check = started + config.lb_check_seconds
            try:
                ensure_load_balancer(controller.service_id)
            except Exception:  # a failed LB start is retried; the tick must go on
                log.exception("starting the load balancer failed")
        try:
            if not controller.tick():
                return
        except Exception:  # log and keep ticking: the next tick re-reads everything from the database
            log.exception("tick failed")
        stop.wait(max(0.0, config.tick_seconds - (time.monotonic() - started)))
    with read_session() as s:
        svc = repo.service_by_id(s, controller.service_id)
    log.info("SIGTERM: stopping after the tick; service status %s", svc.status if svc else "gone")
