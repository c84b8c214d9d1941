"""Throughput of `skyctl store` virtual buckets: put, remote get (with copy) and local-hit get, on the
local backend and on S3 (moto's server on 127.0.0.1), against the bare backend doing the same byte moves
without any metadata (the baseline).

    python bench/store_buckets.py [--quick]

Prints a Markdown section for docs/benchmarks.md. Timings on a shared machine are noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from skyctl.state import dispose_engines, get_engine
from skyctl.store import buckets, objects, reads
from skyctl.store.backends import Backend
from skyctl.store.backends.local import LocalBackend
from skyctl.store.policy import DEFAULT_POLICY
from skyctl.store.pricing import load_pricing
from skyctl.store.service import Store

A, B = "aws:us-east-1", "aws:us-west-2"


def _moto() -> str:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for k, v in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
        os.environ.setdefault(k, v)
    return f"http://{host}:{port}"


def _backend_factory(kind: str, root: Path, endpoint: str | None) -> Callable[[str, str], Backend]:
    def make(_kind: str, vbucket: str) -> Backend:
        if kind == "local":
            return LocalBackend(vbucket, root=root)
        from skyctl.store.backends.s3 import S3Backend

        return S3Backend(vbucket, endpoint_url=endpoint)

    return make


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def run(kind: str, size: int, n: int, home: Path, endpoint: str | None) -> dict[str, float]:
    """Median ms per operation: store put/get-remote/get-hit and bare backend put/get of the same bytes."""
    store = Store(engine=get_engine(f"sqlite:///{home / f'{kind}-{size}.db'}"), prices=load_pricing(),
                  backend_for=_backend_factory(kind, home / "buckets", endpoint))
    name = f"bench-{kind}-{size}-{os.getpid()}"
    buckets.make_bucket(store, name, f"{A},{B}", backend=kind)
    src = home / "payload"
    src.write_bytes(os.urandom(size))
    out = home / "out"
    t: dict[str, list[float]] = {k: [] for k in ("put", "get_remote", "get_hit", "bare_put", "bare_get")}
    bare = store.backend_for(kind, name)
    for i in range(n):
        t0 = time.perf_counter()
        objects.put(store, src, f"{name}/obj{i}", A)
        t1 = time.perf_counter()
        reads.get(store, f"{name}/obj{i}", out, B)  # remote: reads A, leaves a copy in B
        t2 = time.perf_counter()
        reads.get(store, f"{name}/obj{i}", out, B)  # local hit in B
        t3 = time.perf_counter()
        bare.put_file(A, f"bare{i}", src, now=0.0)
        t4 = time.perf_counter()
        bare.get_file(A, f"bare{i}", out)
        t5 = time.perf_counter()
        for k, dt in zip(t, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            t[k].append(dt)
    return {k: _median_ms(v) for k, v in t.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (about 30 s)")
    args = ap.parse_args(argv)
    n = 8 if args.quick else 30
    sizes = [64 << 10, 4 << 20]
    endpoint = _moto()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SKYCTL_HOME"] = tmp
        for size in sizes:
            res = {kind: run(kind, size, n, Path(tmp), endpoint if kind == "s3" else None)
                   for kind in ("local", "s3")}
            rows.append((size, res))
        dispose_engines()
    print("## Virtual buckets: put/get latency, local vs moto S3 (bench/store_buckets.py)\n")
    print(f"Median ms per operation over {n} objects per size (bucket policy: {DEFAULT_POLICY}, the "
          "default); `bare` is the backend alone moving the same "
          "bytes with no metadata (the baseline), so `store/bare` is the cost of the write-ahead metadata "
          "(SQLite WAL, fsync per commit) and the sha256. Remote get = read from A, copy into B, "
          "write OUT.\n")
    print("| size | backend | put | bare put | put / bare | remote get (copy) | local-hit get | bare get "
          "| hit / bare |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size, res in rows:
        for kind, r in res.items():
            print(f"| {size >> 10} KiB | {kind} | {r['put']:.1f} | {r['bare_put']:.1f} | "
                  f"{r['put'] / r['bare_put']:.2f} | {r['get_remote']:.1f} | {r['get_hit']:.1f} | "
                  f"{r['bare_get']:.1f} | {r['get_hit'] / r['bare_get']:.2f} |")
    print()
    for size, res in rows:
        ratio = res["s3"]["put"] / res["local"]["put"]
        get_ratio = res["s3"]["get_remote"] / res["local"]["get_remote"]
        print(f"- {size >> 10} KiB: moto S3 / local = {ratio:.2f}x for put, {get_ratio:.2f}x for remote get.")
    print(f"\nMachine: {platform.machine()}, {os.cpu_count()} cores, no GPU, shared with other engineers' "
          "jobs (timings are noisy; trust the ratios).")
    print(f"Command: `python bench/store_buckets.py{' --quick' if args.quick else ''}` "
          f"(Python {sys.version.split()[0]}).\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
