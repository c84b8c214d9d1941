"""Load-balancer overhead: the proxy against calling the replica directly, in the same run.

Three processes on 127.0.0.1: an upstream (raw ASGI under uvicorn: `/json` a small JSON body, `/sse` an
SSE stream of --chunks events), the load balancer (`LoadBalancerApp`, least_load, over that one
upstream) and this client. Reported:
- added latency: sequential requests, direct and via the LB interleaved one by one, p50/p99 of the whole
  response (JSON) and of the whole stream (SSE);
- requests/s at saturation: --clients concurrent clients for --seconds, direct vs via the LB.

    python bench/lb_overhead.py [--requests 400] [--clients 32] [--seconds 5] [--chunks 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def upstream_app(chunks: int):  # type: ignore[no-untyped-def]
    payload = json.dumps({"id": "cmpl-1", "object": "text_completion",
                          "choices": [{"text": "hello world", "index": 0}]}).encode()

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        if scope["path"] == "/sse":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream")]})
            for i in range(chunks):
                await send({"type": "http.response.body", "body": b'data: {"t": %d}\n\n' % i,
                            "more_body": True})
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
        else:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(payload)).encode())]})
            await send({"type": "http.response.body", "body": payload})
    return app


def run_role(role: str, port: int, arg: str) -> None:
    import uvicorn

    if role == "upstream":
        app = upstream_app(int(arg))
    else:
        from skyctl.serve.load_balancer.policies import Backend, LeastLoad
        from skyctl.serve.load_balancer.proxy import LoadBalancerApp

        policy = LeastLoad()
        policy.set_backends([Backend(arg, 1)])
        app = LoadBalancerApp(policy)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def spawn(role: str, arg: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--role", role, "--port", str(port), "--arg", arg])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/json", timeout=1)
            return proc, url
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"{role} did not start") from None
            time.sleep(0.05)


async def one(client: httpx.AsyncClient, url: str) -> float:
    start = time.perf_counter()
    async with client.stream("POST", url, json={"prompt": "hi", "max_tokens": 8}) as r:
        async for _ in r.aiter_raw():
            pass
        assert r.status_code == 200
    return time.perf_counter() - start


async def latencies(direct: str, lb: str, path: str, n: int) -> tuple[list[float], list[float]]:
    out_d, out_l = [], []
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(20):  # warm both connection pools
            await one(client, direct + path)
            await one(client, lb + path)
        for _ in range(n):
            out_d.append(await one(client, direct + path))
            out_l.append(await one(client, lb + path))
    return out_d, out_l


async def saturation(url: str, clients: int, seconds: float) -> float:
    done = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                await one(client, url)
                done += 1
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return done / (time.perf_counter() - start)


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--chunks", type=int, default=32)
    parser.add_argument("--role", choices=["upstream", "lb"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--arg", default="")
    args = parser.parse_args()
    if args.role:
        run_role(args.role, args.port, args.arg)
        return
    up, direct = spawn("upstream", str(args.chunks))
    lb, via = spawn("lb", direct)
    results = {"machine": f"{os.cpu_count()} CPUs", "chunks": args.chunks, "clients": args.clients}
    try:
        for name, path in (("json", "/json"), ("sse", "/sse")):
            d, l_ = asyncio.run(latencies(direct, via, path, args.requests))
            pairs = [b - a for a, b in zip(d, l_, strict=True)]
            results[name] = {
                "direct_p50_ms": pct(d, 0.5), "direct_p99_ms": pct(d, 0.99),
                "lb_p50_ms": pct(l_, 0.5), "lb_p99_ms": pct(l_, 0.99),
                "added_p50_ms": pct(l_, 0.5) - pct(d, 0.5), "added_p99_ms": pct(l_, 0.99) - pct(d, 0.99),
                "added_median_of_pairs_ms": statistics.median(pairs) * 1000,
                "direct_rps": asyncio.run(saturation(direct + path, args.clients, args.seconds)),
                "lb_rps": asyncio.run(saturation(via + path, args.clients, args.seconds)),
            }
            results[name]["rps_ratio"] = results[name]["lb_rps"] / results[name]["direct_rps"]
            results[name] = {k: round(v, 2) for k, v in results[name].items()}
    finally:
        for proc in (lb, up):
            proc.terminate()
            proc.wait(timeout=10)
    print(json.dumps(results, indent=1, default=str).replace("\n  ", " "))


if __name__ == "__main__":
    main()
