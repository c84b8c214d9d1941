"""Shared fixtures of the virtual-bucket tests: explicit prices, a virtual clock, a store per backend,
and moto's S3 server on 127.0.0.1 (started once per session, stopped at exit)."""

from __future__ import annotations

import atexit
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from skyctl.state.db import get_engine
from skyctl.store.backends.local import LocalBackend
from skyctl.store.service import Store

GB = 2**30
DAY = 86400.0
# Three regions: A and B on one cloud (0.02 $/GB between them), C elsewhere (0.09 from A/B, 0.12 out).
REGIONS = ["aws:us-east-1", "aws:us-west-2", "gcp:us-west1"]
EGRESS = {("aws:us-east-1", "aws:us-west-2"): 0.02, ("aws:us-west-2", "aws:us-east-1"): 0.02,
          ("aws:us-east-1", "gcp:us-west1"): 0.09, ("aws:us-west-2", "gcp:us-west1"): 0.09,
          ("gcp:us-west1", "aws:us-east-1"): 0.12, ("gcp:us-west1", "aws:us-west-2"): 0.12}
STORAGE = {"aws:us-east-1": 0.02, "aws:us-west-2": 0.02, "gcp:us-west1": 0.02}


@dataclass
class TablePrices:
    """Explicit price fixture with the interface of skyctl.store.pricing.Pricing."""

    storage: dict[str, float] = field(default_factory=lambda: dict(STORAGE))
    egress: dict[tuple[str, str], float] = field(default_factory=lambda: dict(EGRESS))

    def storage_gb_month(self, region: str) -> float:
        return self.storage[region]

    def egress_gb(self, src: str, dst: str) -> float:
        return 0.0 if src == dst else self.egress[(src, dst)]

    def get_request(self, region: str) -> float:
        return 4e-7

    def put_request(self, region: str) -> float:
        return 5e-6

    def regions(self) -> list[str]:
        return list(self.storage)


class Clock:
    """A virtual clock: tests move time instead of sleeping."""

    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


_MOTO_VAR = "SKYCTL_TEST_MOTO_URL"  # inherited by subprocesses, so they use the same server


def moto_endpoint() -> str:
    """One moto S3 server for the whole test session, on a free port of 127.0.0.1."""
    if _MOTO_VAR not in os.environ:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        os.environ[_MOTO_VAR] = f"http://{host}:{port}"
        atexit.register(server.stop)
    return os.environ[_MOTO_VAR]


def s3_env() -> dict[str, str]:
    """What a process needs to reach the test server (tests set these with monkeypatch)."""
    return {"AWS_ENDPOINT_URL": moto_endpoint(), "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def make_store(home: Path, backend: str, clock: Clock | None = None, grace_s: float = 3600.0) -> Store:
    """A store on a real SQLite file under `home`; the local backend roots in `home` too."""
    def backend_for(kind: str, vbucket: str):
        if kind == "local":
            return LocalBackend(vbucket, root=home / "buckets")
        from skyctl.store.backends.s3 import S3Backend

        return S3Backend(vbucket, endpoint_url=moto_endpoint())

    engine = get_engine(f"sqlite:///{home / 'state.db'}")
    return Store(engine=engine, clock=clock or Clock(), prices=TablePrices(), backend_for=backend_for,
                 grace_s=grace_s)


def fresh_name() -> str:
    """Bucket names are global on the shared moto server, so every test makes its own."""
    return f"vb-{uuid.uuid4().hex[:12]}"
