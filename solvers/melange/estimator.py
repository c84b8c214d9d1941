"""Roofline estimate of a throughput profile, for users who cannot profile their own GPUs.

A continuous-batching server (vLLM-style, prefill steps stall decoding) is modelled in steady state at
request rate `rate` for requests of `input_len` prompt and `output_len` generated tokens:

* decode step with `b` running requests: `t_d(b) = max((W + b·kv·ctx) / BW, (2·P·b + 4·L·h·b·ctx) / F)`
  (memory-bandwidth bound: weights plus the KV cache read once per step; compute bound at large batches),
  with `ctx = input_len + output_len / 2` the mean context length, plus any fixed CPU time per step;
* a prefill step for the `n` prompts that arrived during the previous prefill + decode cycle (at least 1,
  `n = rate·(t_p + t_d)`): `t_p = max(W / BW, n·(2·P·I + 2·L·h·I²) / F)` (weights read once per step, compute
  bound for long prompts); prefills take a fraction `f_p = rate · t_p / n` of the GPU's time, which stretches
  every decode step by `1 / (1 − f_p)` (amortised prefill of new requests);
* Little's law: requests in decode `b = rate · (O − 1) · t_d(b) / (1 − f_p)`, solved exactly per branch of
  the max; all in-flight requests hold `I + O` tokens of KV cache, capped by GPU memory and `max_batch`;
* mean TPOT (Mélange's SLO metric, latency / generated tokens) = `(TTFT + (O − 1)·t_d/(1 − f_p)) / O` with
  `TTFT = t_p + t_d / 2`.

The profile entry is the largest rate whose mean TPOT (and TTFT, if given) meets the SLO, at the bucket's
upper edge like Mélange; 0 when the weights or one request do not fit. `W`, `BW`, `F` use fixed efficiency
fractions (`Efficiency`), never per-bucket fits: see docs/gpu-mix-profiles.md for where they come from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from solvers.melange.errors import ProblemError
from solvers.melange.profile import ThroughputProfile
from solvers.melange.values import edges, number

DTYPE_BYTES = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
HEAD_DIM = 128  # Llama family: hidden = 128 · heads
LLAMA_VOCAB = 32000
MELANGE_EDGES = (25, 100, 250, 500, 1000, 2000)  # Mélange's 6 input × 6 output bucket upper edges
GB = 1e9
MAX_PREFILL_BATCH = 4096  # prompts per prefill step; beyond this the server is simply overloaded


@dataclass(frozen=True)
class ModelShape:
    """What the roofline needs from a decoder-only transformer."""

    params: float
    layers: int
    hidden: int
    kv_heads: int
    weight_bytes: float = 2.0  # bytes per parameter
    kv_bytes: float = 2.0  # bytes per cached K/V element
    head_dim: int = HEAD_DIM

    @property
    def weights_bytes(self) -> float:
        return self.params * self.weight_bytes

    @property
    def kv_bytes_per_token(self) -> float:
        return 2 * self.layers * self.kv_heads * self.head_dim * self.kv_bytes


def dtype_bytes(dtype: str, field: str = "dtype") -> float:
    """Bytes per element of a named dtype; unknown names are an input error."""
    try:
        return DTYPE_BYTES[dtype.lower()]
    except KeyError:
        raise ProblemError("unknown dtype", field=field, value=dtype,
                           fix=f"use one of {', '.join(DTYPE_BYTES)}") from None


def llama_shape(params: float, *, layers: int | None = None, hidden: int | None = None,
                kv_heads: int | None = None, dtype: str = "fp16", kv_dtype: str | None = None) -> ModelShape:
    """A Llama-proportioned shape for `params` (hidden = 128·layers, MHA), unless layers/hidden/kv_heads
    are given.

    Llama layers hold ~12·h² parameters plus 2·vocab·h of embeddings; for 7e9 this gives Llama-2-7B's 32×4096.
    """
    p = number(params, "model_params", minimum=1e6)
    if hidden is None:
        if layers is None:
            layers = min(range(1, 513), key=lambda n: abs(_llama_params(n, HEAD_DIM * n) - p))
        hidden = HEAD_DIM * layers
    elif layers is None:
        layers = max(1, round((p - 2 * LLAMA_VOCAB * hidden) / (12 * hidden * hidden)))
    for name, v in (("layers", layers), ("hidden", hidden)):
        if v < 1:
            raise ProblemError("must be a positive integer", field=name, value=v)
    if hidden % HEAD_DIM:
        raise ProblemError(f"must be a multiple of the head size {HEAD_DIM}", field="hidden", value=hidden)
    heads = hidden // HEAD_DIM
    kv = heads if kv_heads is None else kv_heads
    if not 1 <= kv <= heads or heads % kv:
        raise ProblemError(f"must divide the number of attention heads ({heads})", field="kv_heads", value=kv)
    wb = dtype_bytes(dtype)
    kvb = wb if kv_dtype is None else dtype_bytes(kv_dtype, "kv_dtype")
    return ModelShape(params=p, layers=layers, hidden=hidden, kv_heads=kv, weight_bytes=wb,
                      kv_bytes=kvb)


def _llama_params(layers: int, hidden: int) -> float:
    return 12 * layers * hidden * hidden + 2 * LLAMA_VOCAB * hidden


@dataclass(frozen=True)
class GpuNumbers:
    """One GPU's datasheet numbers: memory (GB), memory bandwidth (GB/s), dense fp16/bf16 TFLOP/s."""

    memory_gb: float
    mem_bw_gbps: float
    tflops: float


@dataclass(frozen=True)
class Efficiency:
    """Fixed fractions of the datasheet a real server reaches; the same for every GPU and bucket.

    bandwidth: achieved/peak memory bandwidth of decode kernels; compute: model FLOP utilisation of
    prefill; memory_utilization and max_batch: vLLM's defaults (gpu_memory_utilization, max_num_seqs);
    step_overhead_ms: CPU time per engine step (scheduling, sampling), 0 for an engine that hides it.
    """

    bandwidth: float = 0.8
    compute: float = 0.5
    memory_utilization: float = 0.9
    max_batch: int = 256
    step_overhead_ms: float = 0.0

    def describe(self) -> str:
        overhead = f", step overhead {self.step_overhead_ms:g} ms" if self.step_overhead_ms else ""
        return (f"bandwidth efficiency {self.bandwidth:g}, compute efficiency {self.compute:g}, "
                f"memory utilisation {self.memory_utilization:g}, max batch {self.max_batch}{overhead}")


@dataclass(frozen=True)
class ServerPoint:
    """The modelled steady state at one request rate."""

    rate: float
    tpot_s: float  # mean (TTFT + decode time) / output tokens
    ttft_s: float
    in_flight: float  # mean requests holding KV cache


# max_rate's scan: RATE_GRID steps spanning RATE_RANGE (a factor) below the prefill-bound top rate, each
# 26% above the last; an infeasible gap narrower than a step can be stepped over. The range reaches far
# down because the top can be far from what decode allows: a 1-token prompt on a slow GPU prefills
# thousands of prompts/s while decode meets a tight TPOT only below 0.01 req/s (hypothesis found 0 there).
RATE_GRID = 120
RATE_RANGE = 1e12


class Roofline:
    """The per-(model, GPU) constants of the model, so a bucket sweep does the arithmetic once."""

    def __init__(self, model: ModelShape, gpu: GpuNumbers, eff: Efficiency) -> None:
        self.model, self.eff = model, eff
        self.bw = gpu.mem_bw_gbps * GB * eff.bandwidth  # bytes/s
        self.flops = gpu.tflops * 1e12 * eff.compute  # FLOP/s
        self.overhead = eff.step_overhead_ms / 1e3
        self.kv_capacity = gpu.memory_gb * GB * eff.memory_utilization - model.weights_bytes  # bytes

    def prefill_s(self, input_len: float, batch: float = 1.0) -> float:
        """One prefill step for `batch` prompts: weights are read once, FLOPs grow with the prompts."""
        m = self.model
        compute = (2 * m.params * input_len + 2 * m.layers * m.hidden * input_len**2) / self.flops
        return max(m.weights_bytes / self.bw, batch * compute) + self.overhead

    def point(self, input_len: float, output_len: float, rate: float) -> ServerPoint | None:
        """Steady state at `rate` req/s, or None when the server cannot keep up (the queue would grow)."""
        n = self._prefill_batch(input_len, output_len, rate)
        if n is None:
            return None
        m = self.model
        t_p = self.prefill_s(input_len, n)
        f_p = rate * t_p / n
        t_d = self._decode_s(input_len, output_len, rate, f_p)
        if t_d is None:
            return None
        ttft = t_p + t_d / 2
        latency = ttft + max(output_len - 1, 0) * t_d / (1 - f_p)
        in_flight = rate * latency
        if max(in_flight, 1.0) > self.eff.max_batch:
            return None
        if max(in_flight, 1.0) * (input_len + output_len) * m.kv_bytes_per_token > self.kv_capacity:
            return None
        return ServerPoint(rate=rate, tpot_s=latency / output_len, ttft_s=ttft, in_flight=in_flight)

    def _decode_s(self, input_len: float, output_len: float, rate: float, f_p: float) -> float | None:
        """Decode step time when prefills take a fraction `f_p` of the GPU, or None if decoding falls behind.

        t_d(b) = max over (memory, compute) of a + c·b; the decode batch is the fixed point b = k·t_d(b),
        which for a max of lines with k·c < 1 is the largest of the per-line fixed points k·a / (1 − k·c).
        """
        if f_p >= 1.0:
            return None
        m = self.model
        ctx = input_len + output_len / 2
        lines = ((m.weights_bytes / self.bw + self.overhead, m.kv_bytes_per_token * ctx / self.bw),
                 (self.overhead, (2 * m.params + 4 * m.layers * m.hidden * ctx) / self.flops))
        k = rate * max(output_len - 1, 0) / (1 - f_p)
        if any(k * c >= 1.0 for _, c in lines):
            return None
        b = max(max(k * a / (1 - k * c) for a, c in lines), 1.0)
        return max(a + c * b for a, c in lines)

    def _prefill_batch(self, input_len: float, output_len: float, rate: float) -> float | None:
        """Prompts per prefill step: those that arrived during the last prefill + decode cycle, at least 1.

        The excess arrivals per cycle, rate·(t_p(n) + t_d(n)) − n, fall as n grows, so bisect for its root;
        None when no batch size keeps up.
        """

        def excess(n: float) -> float:
            t_p = self.prefill_s(input_len, n)
            t_d = self._decode_s(input_len, output_len, rate, rate * t_p / n)
            return math.inf if t_d is None else rate * (t_p + t_d) - n

        if excess(1.0) <= 0:
            return 1.0
        lo, hi = 1.0, 2.0
        while excess(hi) > 0:
            lo, hi = hi, hi * 2
            if hi > MAX_PREFILL_BATCH:
                return None
        for _ in range(20):  # to 1e-6 of the bracket: ample for a batch size
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if excess(mid) > 0 else (lo, mid)
        return hi

    def max_rate(self, input_len: float, output_len: float, slo_tpot_ms: float,
                 slo_ttft_ms: float | None = None) -> float:
        """The rate up to which every load meets the SLO: where it first fails, going up from zero.

        Feasible rates need not be one interval: past a gap, bigger prefill batches read the weights once
        for more prompts and TPOT can dip under the SLO again in a thin band. A server cannot be held in
        such a band, so the profile stops at the first failure: a geometric scan up from the bottom finds
        it, then a bisection between the last good and first failing grid points (a bisection over the
        whole range stopped at an arbitrary edge and was not monotone in the GPU's specs)."""

        def ok(rate: float) -> bool:
            p = self.point(input_len, output_len, rate)
            return p is not None and p.tpot_s * 1e3 <= slo_tpot_ms and (
                slo_ttft_ms is None or p.ttft_s * 1e3 <= slo_ttft_ms)

        top = 1.0 / (self.prefill_s(input_len, 1e9) / 1e9)  # prompts/s the prefill FLOPs allow
        step = RATE_RANGE ** (1.0 / RATE_GRID)
        lo = top / RATE_RANGE
        if not ok(lo):
            return 0.0
        hi = lo * step
        while hi < top and ok(hi):
            lo, hi = hi, hi * step
        if hi >= top:
            if ok(top):
                return top
            hi = top
        for _ in range(30):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if ok(mid) else (lo, mid)
        return lo


def estimate_table(model: ModelShape, gpu: GpuNumbers, eff: Efficiency, input_edges: Sequence[float],
                   output_edges: Sequence[float], slo_tpot_ms: float,
                   slo_ttft_ms: float | None = None) -> list[list[float]]:
    """Max req/s per [input bucket][output bucket], each bucket evaluated at its upper edge."""
    roof = Roofline(model, gpu, eff)
    return [[_sig(roof.max_rate(i, o, slo_tpot_ms, slo_ttft_ms)) for o in output_edges] for i in input_edges]


def estimate_profile(model_name: str, model: ModelShape, gpus: Mapping[str, GpuNumbers], *,
                     slo_tpot_ms: float, slo_ttft_ms: float | None = None,
                     input_edges: Sequence[float] = MELANGE_EDGES,
                     output_edges: Sequence[float] = MELANGE_EDGES,
                     eff: Efficiency | None = None,
                     spec_source: str = "GPU datasheet numbers") -> ThroughputProfile:
    """A full profile whose `source` says plainly that it is an estimate and with which constants."""
    eff = eff or Efficiency()
    slo = number(slo_tpot_ms, "slo_tpot_ms", allow_equal=False)
    ttft = None if slo_ttft_ms is None else number(slo_ttft_ms, "slo_ttft_ms", allow_equal=False)
    ins, outs = edges(list(input_edges), "input_edges"), edges(list(output_edges), "output_edges")
    if not gpus:
        raise ProblemError("name at least one GPU", field="gpus", value=list(gpus))
    for name, g in gpus.items():
        for attr in ("memory_gb", "mem_bw_gbps", "tflops"):
            number(getattr(g, attr), f"gpus.{name}.{attr}", allow_equal=False)
    tputs = {name: tuple(tuple(row) for row in estimate_table(model, g, eff, ins, outs, slo, ttft))
             for name, g in gpus.items()}
    source = (f"estimate: roofline from {spec_source} (not measured); {eff.describe()}; "
              f"{model.layers} layers, hidden {model.hidden}, {model.kv_heads} KV heads, "
              f"{model.weight_bytes:g} B/param")
    return ThroughputProfile(model=model_name, source=source, slo_tpot_ms=slo, slo_ttft_ms=ttft,
                             input_edges=ins, output_edges=outs, tputs=tputs)


def _sig(x: float) -> float:
    """Four significant digits: a profile is an estimate, more digits would only suggest false precision."""
    return 0.0 if x <= 0 or not math.isfinite(x) else float(f"{x:.4g}")
