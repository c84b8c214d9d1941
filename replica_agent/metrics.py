"""Prometheus exposition for the agent: engine state read from `EngineStats`, latencies as histograms.

Engine numbers are not mirrored into prometheus_client counters (which could drift from the engine):
a custom collector renders the very `EngineStats` snapshot taken on the engine thread, so
`agent_client_service_total` equals the engine's ledger exactly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from replica_agent.engine import EngineStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PER_CLIENT_POLICY_STATE = {"counter": "VTC virtual token counter", "deficit": "DLPM deficit"}


def _per_client(kind: type[Metric], name: str, doc: str, values: dict[str, float]) -> Metric:
    family = kind(name, doc, labels=["client"])
    for client, value in sorted(values.items()):
        family.add_metric([client], value)
    return family


class EngineCollector:
    """Yields the metrics of one EngineStats snapshot (set by `AgentMetrics.render`)."""

    def __init__(self) -> None:
        self.stats: EngineStats | None = None

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        if s is None:
            return
        yield _per_client(CounterMetricFamily, "agent_client_service",
                          "Service delivered per client (w_p*prompt + w_q*output tokens); the ledger",
                          s.service_per_client)
        yield _per_client(GaugeMetricFamily, "agent_client_waiting", "Waiting requests per client",
                          s.waiting_per_client)
        yield _per_client(GaugeMetricFamily, "agent_client_running", "Running sequences per client",
                          s.running_per_client)
        for key, values in sorted(s.policy_state.items()):
            if key in PER_CLIENT_POLICY_STATE:
                doc = PER_CLIENT_POLICY_STATE[key]
                yield _per_client(GaugeMetricFamily, f"agent_client_{key}", doc, values)
            else:
                family = GaugeMetricFamily(f"agent_policy_{key}", f"Scheduler policy state {key}",
                                           labels=["key"])
                for k, v in sorted(values.items()):
                    family.add_metric([k], v)
                yield family
        gauges = {
            "agent_kv_blocks_total": ("KV cache blocks in the pool", s.kv_blocks_total),
            "agent_kv_blocks_free": ("KV blocks free (holding nothing)", s.kv_blocks_free),
            "agent_kv_blocks_evictable": ("KV blocks cached with no user (evictable)", s.kv_blocks_evictable),
            "agent_kv_blocks_used": ("KV blocks held by live sequences",
                                     s.kv_blocks_total - s.kv_blocks_free - s.kv_blocks_evictable),
            "agent_free_blocks": ("Blocks an admission may take (free + evictable), for a router",
                                  s.kv_blocks_free + s.kv_blocks_evictable),
            "agent_queue_len": ("Waiting requests", s.num_waiting),
            "agent_running": ("Running sequences", s.num_running),
        }
        for name, (doc, value) in gauges.items():
            yield GaugeMetricFamily(name, doc, value=value)
        counters = {
            "agent_engine_steps": ("Engine steps run", s.step),
            "agent_prefix_query_tokens": ("Prompt tokens looked up in the prefix cache",
                                          s.prefix_query_tokens),
            "agent_prefix_hit_tokens": ("Prompt tokens served from the prefix cache", s.prefix_hit_tokens),
            "agent_preemptions": ("Sequences preempted (recompute)", s.preemptions),
            "agent_prompt_tokens": ("Prompt tokens received", s.prompt_tokens),
            "agent_generated_tokens": ("Tokens generated", s.generated_tokens),
        }
        for name, (doc, value) in counters.items():
            yield CounterMetricFamily(name, doc, value=value)


class AgentMetrics:
    """The agent's registry: engine snapshot collector plus latency histograms fed by the server."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._engine = EngineCollector()
        self.registry.register(self._engine)
        self._lock = threading.Lock()
        self.ttft = Histogram("agent_ttft_seconds", "Time from request arrival to its first token",
                              buckets=LATENCY_BUCKETS, registry=self.registry)
        self.itl = Histogram("agent_itl_seconds", "Time between consecutive tokens of a sequence",
                             buckets=LATENCY_BUCKETS, registry=self.registry)
        self.step = Histogram("agent_step_seconds", "Wall time of one engine step (schedule+forward+post)",
                              buckets=LATENCY_BUCKETS, registry=self.registry)
        self.abort_delay = Histogram("agent_abort_delay_steps",
                                     "Engine steps between a client disconnect and its blocks being freed",
                                     buckets=(0, 1, 2, 4, 8, 16, 64), registry=self.registry)
        self.rejected = Counter("agent_requests_rejected", "Requests refused because the queue was full",
                                registry=self.registry)

    def render(self, stats: EngineStats) -> bytes:
        with self._lock:
            self._engine.stats = stats
            return generate_latest(self.registry)
