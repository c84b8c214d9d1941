"""The endpoint profiler against a real HTTP server on 127.0.0.1 whose latency model is known.

The fake server batches like a continuous-batching engine: every step emits one token for each running
request and takes `STEP_A + STEP_B·running + PREFILL·(new prompt tokens)` seconds. A burst of N requests
therefore finishes after `prefill + O·step(N)`, which the tests predict.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from skyctl.errors import Failure, UserError
from skyctl.gpu_mix.profile_client import Point, SweepConfig, arrival_offsets, choose, run_sweep

STEP_A, STEP_B, PREFILL = 0.008, 0.002, 0.00008  # seconds; per running request; per new prompt token
N = 8
CONTEXT = 4096  # longer prompt + output is refused with HTTP 400, like vLLM


@dataclass
class _Req:
    prompt_len: int
    max_tokens: int
    out: asyncio.Queue = field(default_factory=asyncio.Queue)
    sent: int = 0


class FakeEngine:
    """One asyncio task stepping all running requests together."""

    def __init__(self) -> None:
        self.new: list[_Req] = []
        self.running: list[_Req] = []
        self.wake = asyncio.Event()
        self.seen: list[dict] = []

    async def run(self) -> None:
        while True:
            if not self.new and not self.running:
                self.wake.clear()
                await self.wake.wait()
            fresh, self.new = self.new, []
            self.running += fresh
            prefill = PREFILL * sum(r.prompt_len for r in fresh)
            await asyncio.sleep(STEP_A + STEP_B * len(self.running) + prefill)
            for r in self.running:
                r.sent += 1
                r.out.put_nowait(r.sent >= r.max_tokens)
            self.running = [r for r in self.running if r.sent < r.max_tokens]

    async def completions(self, request: Request) -> StreamingResponse | JSONResponse:
        body = await request.json()
        self.seen.append(body)
        if body.get("model") not in (None, "fake-7b"):
            return JSONResponse({"error": {"message": "model not found"}}, status_code=404)
        prompt = body["prompt"]
        n_in = len(prompt) if isinstance(prompt, list) else len(prompt.split())
        if n_in + int(body["max_tokens"]) > CONTEXT:
            return JSONResponse({"error": {"message": "maximum context length exceeded"}}, status_code=400)
        req = _Req(prompt_len=n_in, max_tokens=int(body["max_tokens"]))
        self.new.append(req)
        self.wake.set()

        async def stream() -> AsyncIterator[str]:
            while True:
                last = await req.out.get()
                choice = {"index": 0, "text": "x", "finish_reason": "length" if last else None}
                yield f"data: {json.dumps({'choices': [choice]})}\n\n"
                if last:
                    yield "data: [DONE]\n\n"
                    return

        return StreamingResponse(stream(), media_type="text/event-stream")


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, FakeEngine]]:
    engine = FakeEngine()

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(engine.run())
        yield
        task.cancel()

    app = Starlette(routes=[Route("/v1/completions", engine.completions, methods=["POST"])],
                    lifespan=lifespan)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if srv.started:
            break
        threading.Event().wait(0.01)
    yield f"http://127.0.0.1:{port}", engine
    srv.should_exit = True
    thread.join(timeout=5)
    sock.close()


def burst_prediction(input_len: int, output_len: int, slo_ms: float) -> float:
    """Throughput of N simultaneous requests on the fake engine, or 0 when their mean TPOT misses the SLO."""
    makespan = PREFILL * N * input_len + output_len * (STEP_A + STEP_B * N)
    return N / makespan if makespan / output_len * 1e3 <= slo_ms else 0.0


def test_burst_sweep_matches_the_known_latency_model(server) -> None:
    url, _ = server
    cfg = SweepConfig(endpoint=url, input_edges=(16, 512), output_edges=(8, 32), slo_tpot_ms=60.0,
                      rates=(10_000.0,), requests_per_point=N, max_seconds=30, model="fake-7b")
    res = run_sweep(cfg)
    table = res.table()
    for r, i in enumerate(cfg.input_edges):
        for c, o in enumerate(cfg.output_edges):
            want = burst_prediction(i, o, cfg.slo_tpot_ms)
            if want == 0:
                assert table[r][c] == 0, (i, o)
            else:
                # timers only overshoot and a loaded box adds latency: allow slower, not faster
                assert 0.5 * want <= table[r][c] <= 1.15 * want, (i, o, table[r][c], want)
    assert table[1][0] == 0  # 512-token prompts: their prefill pushes TPOT to ~65 ms at 8 output tokens
    assert table[0][0] > table[0][1] > table[1][1] > 0  # longer requests are served at lower req/s
    assert res.unmeasured == []


def test_rate_sweep_keeps_the_highest_slo_passing_rate(server) -> None:
    url, engine = server
    # at 10 req/s a request mostly runs alone (~11 ms per token); a burst of 8 sees ~25 ms, over the 18 ms SLO
    cfg = SweepConfig(endpoint=url, input_edges=(16,), output_edges=(8,), slo_tpot_ms=18.0,
                      rates=(10.0, 10_000.0), requests_per_point=N, max_seconds=30, token_ids=True)
    res = run_sweep(cfg)
    (bucket,) = res.buckets
    assert [p.rate for p in bucket.points] == [10.0, 10_000.0]
    assert bucket.points[1].mean_tpot_ms > 18.0 >= bucket.points[0].mean_tpot_ms
    assert bucket.chosen_rate == 10.0
    assert 4.0 < bucket.throughput < 25.0
    sent = engine.seen[-1]
    assert sent["max_tokens"] == 8 and sent["ignore_eos"] is True and sent["stream"] is True
    assert isinstance(sent["prompt"], list) and len(sent["prompt"]) == 16 and "model" not in sent
    assert all(0 < t < 256 for t in sent["prompt"])  # valid even for byte-level vocabularies
    assert len({tuple(b["prompt"][:2]) for b in engine.seen[-16:]}) == 16  # no shared prefix to cache


def test_budget_bounds_the_sweep_and_reports_unmeasured_buckets(server) -> None:
    url, _ = server
    cfg = SweepConfig(endpoint=url, input_edges=(16, 32), output_edges=(2000, 4000), slo_tpot_ms=50.0,
                      rates=(1.0,), requests_per_point=2, max_seconds=1.5)
    res = run_sweep(cfg)
    assert res.seconds < 5.0
    assert res.unmeasured == [(16, 2000), (16, 4000), (32, 2000), (32, 4000)]
    assert res.table() == [[0.0, 0.0], [0.0, 0.0]]


def test_buckets_the_server_refuses_are_zero_and_the_sweep_goes_on(server) -> None:
    url, _ = server
    cfg = SweepConfig(endpoint=url, input_edges=(16, 4090), output_edges=(8,), slo_tpot_ms=1000.0,
                      rates=(10_000.0,), requests_per_point=2, max_seconds=30)
    res = run_sweep(cfg)
    assert res.table()[0][0] > 0 and res.table()[1][0] == 0
    assert res.buckets[1].measured and res.buckets[1].points[0].failed == 2
    assert res.unmeasured == []


def test_unreachable_endpoint_is_a_failure() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    cfg = SweepConfig(endpoint=f"http://127.0.0.1:{port}", input_edges=(16,), output_edges=(8,),
                      slo_tpot_ms=100.0)
    with pytest.raises(Failure, match="cannot profile"):
        run_sweep(cfg)


def test_refused_model_is_a_user_error(server) -> None:
    url, _ = server
    cfg = SweepConfig(endpoint=url, input_edges=(16,), output_edges=(8,), slo_tpot_ms=100.0, model="nope")
    with pytest.raises(UserError, match="model not found"):
        run_sweep(cfg)


@pytest.mark.parametrize("change", [{"endpoint": "127.0.0.1:8000"}, {"slo_tpot_ms": 0.0},
                                    {"rates": (1.0, -2.0)}, {"requests_per_point": 0},
                                    {"input_edges": (0, 16)}])
def test_bad_arguments_are_user_errors(change: dict) -> None:
    base = {"endpoint": "http://127.0.0.1:9", "input_edges": (16,), "output_edges": (8,),
            "slo_tpot_ms": 100.0}
    with pytest.raises(UserError):
        run_sweep(SweepConfig(**{**base, **change}))


def _p(rate: float, tput: float, tpot: float, failed: int = 0) -> Point:
    return Point(rate=rate, throughput=tput, mean_tpot_ms=tpot, mean_ttft_ms=10.0, failed=failed)


def test_choose_follows_the_aibrix_rule() -> None:
    slo = 100.0
    # highest passing rate whose throughput kept up with the offered rate
    assert choose([_p(1, 1.0, 20), _p(2, 1.9, 30), _p(4, 3.0, 60), _p(8, 3.1, 150)], slo, None) == (2, 1.9)
    # nothing kept up: the lowest passing rate
    assert choose([_p(4, 2.0, 50), _p(8, 2.5, 90)], slo, None) == (4, 2.0)
    # nothing passes, or a request failed: 0
    assert choose([_p(1, 1.0, 120)], slo, None) == (None, 0.0)
    assert choose([_p(1, 1.0, 20, failed=1)], slo, None) == (None, 0.0)
    # a TTFT SLO disqualifies points too
    assert choose([_p(1, 1.0, 20)], slo, 5.0) == (None, 0.0)


def test_arrivals_are_poisson_with_the_requested_rate() -> None:
    offs = arrival_offsets(20_000, 8.0, random.Random(1))
    gaps = [b - a for a, b in itertools.pairwise(offs)]
    assert offs[0] == 0.0 and all(g >= 0 for g in gaps)
    assert sum(gaps) / len(gaps) == pytest.approx(1 / 8.0, rel=0.03)
