"""Measure a throughput profile from a running OpenAI-compatible server, the way Mélange profiles GPUs.

For each bucket (prompt and output length at the bucket's upper edges) the sweep sends
`requests_per_point` streaming completions with Poisson arrivals at each rate, measures per-request TTFT and
TPOT (latency / generated tokens, Mélange's SLO metric) and the achieved throughput, then keeps one number
per bucket with AIBrix's public rule (`choose`). The whole sweep is bounded by `max_seconds`, shared fairly
between buckets; a bucket that got no complete point is reported as unmeasured. A request the server answers
with an HTTP error (e.g. a prompt beyond its context length) fails its point, so that bucket can end up 0;
a point where no request could even connect aborts the sweep, since the server is gone.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlparse

import httpx

from skyctl.errors import Failure, UserError

MELANGE_RATES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)  # the released benchmark-launcher.sh sweep
ID_LOW, ID_SPAN, ID_FILL = 3, 245, 100  # token ids for --token-ids prompts: 3..247 (no special ids 0-2)
PREFER_FRACTION = 0.9  # AIBrix: prefer rates whose measured throughput is >= 90% of the offered rate


@dataclass(frozen=True)
class SweepConfig:
    """What to measure and within which bounds."""

    endpoint: str
    input_edges: tuple[int, ...]
    output_edges: tuple[int, ...]
    slo_tpot_ms: float
    slo_ttft_ms: float | None = None
    rates: tuple[float, ...] = MELANGE_RATES
    requests_per_point: int = 10
    max_seconds: float = 3600.0
    model: str | None = None
    token_ids: bool = False
    seed: int = 0


@dataclass(frozen=True)
class RequestResult:
    ok: bool
    ttft_s: float = 0.0
    latency_s: float = 0.0
    tokens: int = 0
    error: str | None = None
    transport: bool = False  # the connection failed, as opposed to an HTTP error answer

    @property
    def tpot_s(self) -> float:
        return self.latency_s / max(self.tokens, 1)


@dataclass(frozen=True)
class Point:
    """One (bucket, rate) measurement."""

    rate: float
    throughput: float  # completed req/s over the point's wall time
    mean_tpot_ms: float
    mean_ttft_ms: float
    failed: int  # requests that errored; any failure disqualifies the point

    def meets(self, slo_tpot_ms: float, slo_ttft_ms: float | None) -> bool:
        return self.failed == 0 and self.mean_tpot_ms <= slo_tpot_ms and (
            slo_ttft_ms is None or self.mean_ttft_ms <= slo_ttft_ms)


@dataclass(frozen=True)
class BucketResult:
    input_len: int
    output_len: int
    points: tuple[Point, ...]
    chosen_rate: float | None
    throughput: float
    measured: bool  # False when the time budget ran out before any point of this bucket completed


@dataclass
class SweepResult:
    config: SweepConfig
    buckets: list[BucketResult] = field(default_factory=list)
    seconds: float = 0.0

    def table(self) -> list[list[float]]:
        """req/s per [input bucket][output bucket], four significant digits; unmeasured buckets are 0."""
        by = {(b.input_len, b.output_len): b.throughput for b in self.buckets}
        return [[float(f"{by.get((i, o), 0.0):.4g}") for o in self.config.output_edges]
                for i in self.config.input_edges]

    @property
    def unmeasured(self) -> list[tuple[int, int]]:
        done = {(b.input_len, b.output_len) for b in self.buckets if b.measured}
        cfg = self.config
        return [(i, o) for i in cfg.input_edges for o in cfg.output_edges if (i, o) not in done]


def choose(points: Sequence[Point], slo_tpot_ms: float,
           slo_ttft_ms: float | None) -> tuple[float | None, float]:
    """AIBrix's gen_profile rule: among SLO-passing rates prefer those whose throughput is >= 0.9x offered and
    take the highest; else the lowest passing rate; record its measured throughput, or 0 if none passes."""
    passing = sorted((p for p in points if p.meets(slo_tpot_ms, slo_ttft_ms)), key=lambda p: p.rate)
    if not passing:
        return None, 0.0
    preferred = [p for p in passing if p.throughput >= PREFER_FRACTION * p.rate]
    pick = preferred[-1] if preferred else passing[0]
    return pick.rate, pick.throughput


def arrival_offsets(n: int, rate: float, rng: random.Random) -> list[float]:
    """Poisson arrivals: cumulative exponential gaps, the first request at t=0."""
    t, out = 0.0, []
    for _ in range(n):
        out.append(t)
        t += rng.expovariate(rate)
    return out


def check_config(cfg: SweepConfig) -> None:
    """Reject bad arguments before any request is sent (UserError -> exit 2)."""
    url = urlparse(cfg.endpoint)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise UserError("must be an http(s) URL of an OpenAI-compatible server", field="--endpoint",
                        value=cfg.endpoint, fix="e.g. http://127.0.0.1:8000")
    checks = [("--slo-tpot-ms", cfg.slo_tpot_ms), ("--max-seconds", cfg.max_seconds),
              ("--requests-per-point", cfg.requests_per_point), *(("--rates", r) for r in cfg.rates),
              *(("--input-edges", e) for e in cfg.input_edges),
              *(("--output-edges", e) for e in cfg.output_edges)]
    if cfg.slo_ttft_ms is not None:
        checks.append(("--slo-ttft-ms", cfg.slo_ttft_ms))
    for name, value in checks:
        if not value > 0:
            raise UserError("must be positive", field=name, value=value)
    if not cfg.rates:
        raise UserError("name at least one request rate", field="--rates", fix="e.g. --rates 1,2,4,8,16,32")


class _Client:
    """Streams one completion and times it."""

    def __init__(self, cfg: SweepConfig, http: httpx.AsyncClient) -> None:
        self.cfg, self.http = cfg, http
        self.url = cfg.endpoint.rstrip("/") + "/v1/completions"
        self.sent = 0

    def body(self, input_len: int, output_len: int, nonce: int) -> dict:
        """A prompt of `input_len` tokens whose start differs per request, so prefix caches cannot help.

        Text prompts repeat "hi " like Mélange's benchmark; token-id prompts are exact lengths, with ids below
        256 so that even byte-level vocabularies accept them (two varying ids: 60,000 distinct starts).
        """
        if self.cfg.token_ids:
            head = [ID_LOW + nonce % ID_SPAN, ID_LOW + nonce // ID_SPAN % ID_SPAN]
            prompt: str | list[int] = (head + [ID_FILL] * input_len)[:input_len]
        else:
            prompt = f"{nonce} " + "hi " * (input_len - 1)
        body = {"prompt": prompt, "max_tokens": output_len, "temperature": 0.0, "stream": True,
                "ignore_eos": True}
        if self.cfg.model:
            body["model"] = self.cfg.model
        return body

    async def send(self, input_len: int, output_len: int) -> RequestResult:
        self.sent += 1
        nonce = self.sent
        start = time.perf_counter()
        first: float | None = None
        chunks, finish, usage = 0, None, None
        try:
            async with self.http.stream("POST", self.url, json=self.body(input_len, output_len, nonce)) as r:
                if r.status_code != 200:
                    text = (await r.aread()).decode(errors="replace")[:200]
                    return RequestResult(ok=False, error=f"HTTP {r.status_code}: {text}")
                async for line in r.aiter_lines():
                    if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                        continue
                    data = json.loads(line[5:])
                    usage = data.get("usage") or usage
                    for choice in data.get("choices") or []:
                        if choice.get("text"):
                            chunks += 1
                            first = first if first is not None else time.perf_counter()
                        finish = choice.get("finish_reason") or finish
        except httpx.TransportError as e:  # nothing listening, reset, timed out: the server, not the bucket
            return RequestResult(ok=False, error=f"{type(e).__name__}: {e}", transport=True)
        except (httpx.HTTPError, json.JSONDecodeError) as e:
            return RequestResult(ok=False, error=f"{type(e).__name__}: {e}")
        end = time.perf_counter()
        if usage and usage.get("completion_tokens"):
            tokens = int(usage["completion_tokens"])
        else:  # "length" means exactly max_tokens came back; otherwise each chunk is at least one token
            tokens = output_len if finish == "length" else chunks
        if first is None or tokens == 0:
            return RequestResult(ok=False, error="the server streamed no tokens")
        return RequestResult(ok=True, ttft_s=first - start, latency_s=end - start, tokens=tokens)


async def _point(client: _Client, input_len: int, output_len: int, rate: float, n: int,
                 rng: random.Random) -> Point:
    offsets = arrival_offsets(n, rate, rng)
    start = time.perf_counter()

    async def one(at: float) -> RequestResult:
        await asyncio.sleep(max(0.0, start + at - time.perf_counter()))
        return await client.send(input_len, output_len)

    results = await asyncio.gather(*(one(at) for at in offsets))
    wall = time.perf_counter() - start
    if all(r.transport for r in results):
        raise Failure(f"{client.cfg.endpoint} stopped answering during the sweep: {results[0].error}")
    ok = [r for r in results if r.ok]
    return Point(rate=rate, throughput=len(ok) / wall if wall > 0 else 0.0,
                 mean_tpot_ms=statistics.fmean(r.tpot_s for r in ok) * 1e3 if ok else float("inf"),
                 mean_ttft_ms=statistics.fmean(r.ttft_s for r in ok) * 1e3 if ok else float("inf"),
                 failed=len(results) - len(ok))


async def check_reachable(cfg: SweepConfig) -> None:
    """One tiny request before the sweep: an unreachable or refusing server is one clear error line,
    not a profile of zeros."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as http:
        try:
            r = await asyncio.wait_for(_Client(cfg, http).send(1, 1), timeout=60.0)
        except TimeoutError:
            raise Failure(f"cannot profile {cfg.endpoint}: no answer to a 1-token completion in 60 s"
                          ) from None
    if r.ok:
        return
    if r.error and r.error.startswith("HTTP 4"):
        raise UserError(f"the server refused a completion request: {r.error}", field="--endpoint",
                        value=cfg.endpoint, fix="check --model and that the server speaks /v1/completions")
    raise Failure(f"cannot profile {cfg.endpoint}: {r.error}")


ProgressFn = Callable[[int, int, str], None]  # (points done, points total, what is running)


async def sweep(cfg: SweepConfig, progress: ProgressFn | None = None) -> SweepResult:
    """The full sweep; rates run in increasing order and a bucket stops at its first SLO-failing rate."""
    check_config(cfg)
    t0 = time.perf_counter()
    deadline = t0 + cfg.max_seconds
    await check_reachable(cfg)
    buckets = [(i, o) for i in cfg.input_edges for o in cfg.output_edges]
    rates = sorted(cfg.rates)
    total = len(buckets) * len(rates)
    result = SweepResult(config=cfg)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=cfg.requests_per_point)
    async with httpx.AsyncClient(timeout=httpx.Timeout(None, connect=5.0), limits=limits) as http:
        client = _Client(cfg, http)
        for b, (i, o) in enumerate(buckets):
            # an equal share of what is left, so one slow bucket cannot starve the others
            bucket_deadline = time.perf_counter() + (deadline - time.perf_counter()) / (len(buckets) - b)
            points: list[Point] = []
            for k, rate in enumerate(rates):
                if progress:
                    progress(b * len(rates) + k, total, f"in {i} / out {o} tokens @ {rate:g} req/s")
                rng = random.Random(f"{cfg.seed}:{i}:{o}:{rate}")
                try:
                    p = await asyncio.wait_for(_point(client, i, o, rate, cfg.requests_per_point, rng),
                                               timeout=max(0.0, bucket_deadline - time.perf_counter()))
                except TimeoutError:
                    break
                points.append(p)
                if not p.meets(cfg.slo_tpot_ms, cfg.slo_ttft_ms):
                    break
            rate, tput = choose(points, cfg.slo_tpot_ms, cfg.slo_ttft_ms)
            result.buckets.append(BucketResult(i, o, tuple(points), rate, tput, measured=bool(points)))
    if progress:
        progress(total, total, "done")
    result.seconds = time.perf_counter() - t0
    return result


def run_sweep(cfg: SweepConfig, progress: ProgressFn | None = None) -> SweepResult:
    """Synchronous entry for the CLI."""
    return asyncio.run(sweep(cfg, progress))
