"""The engine thread: the only thread that touches the engine (and so torch).

Async handlers never call the engine directly. They post commands (add, abort, snapshot) on a
thread-safe queue; the thread runs them between steps, loops `engine.step()` while work exists and
sleeps on the queue when idle. Each request's outputs go to the sink the handler registered, which
forwards them into its asyncio queue with `loop.call_soon_threadsafe`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from replica_agent.engine import LLMEngine, QueueFullError, RequestOutput
from replica_agent.metrics import AgentMetrics
from replica_agent.sampling import SamplingParams

log = logging.getLogger("replica_agent")
Sink = Callable[[RequestOutput | Exception], None]


@dataclass
class _Tracked:
    sink: Sink
    arrival: float
    last_token: dict[int, float] = field(default_factory=dict)  # seq_index -> time of its last token


class EngineWorker:
    def __init__(self, engine: LLMEngine, metrics: AgentMetrics) -> None:
        self.engine = engine
        self.metrics = metrics
        self._commands: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._tracked: dict[str, _Tracked] = {}
        self._thread = threading.Thread(target=self._run, name="engine", daemon=True)

    # ---- called from any thread ----------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._commands.put(None)
        self._thread.join(timeout_s)

    def _call(self, fn: Callable[[], Any]) -> Future:
        fut: Future = Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except Exception as exc:  # handed to the caller, who maps it to an HTTP status
                fut.set_exception(exc)
        self._commands.put(run)
        return fut

    def submit(self, prompt_ids: list[int], sampling: SamplingParams, client_id: str, sink: Sink) -> Future:
        """Future of the request id; fails with the engine's QueueFullError / InvalidRequestError."""
        arrival = time.monotonic()

        def add() -> str:
            try:
                rid = self.engine.add_request(prompt_ids, sampling, client_id)
            except QueueFullError:
                self.metrics.rejected.inc()
                raise
            self._tracked[rid] = _Tracked(sink, arrival)
            return rid
        return self._call(add)

    def abort(self, request_id: str, reason: str = "abort", disconnected: bool = False) -> None:
        noticed = self.engine.step_count

        def run() -> None:
            if self._tracked.pop(request_id, None) is None:
                return  # already finished
            self.engine.abort(request_id, reason)
            if disconnected:
                self.metrics.abort_delay.observe(self.engine.step_count - noticed)
        self._commands.put(run)

    def stats(self) -> Future:
        return self._call(self.engine.stats)

    # ---- the engine thread ---------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            while True:  # run every pending command; block for one only when there is no work
                try:
                    cmd = self._commands.get(block=not self.engine.has_unfinished())
                except queue.Empty:
                    break
                if cmd is None:
                    return
                try:
                    cmd()
                except Exception:  # keep serving: a failed command must not take the engine thread down
                    log.exception("engine command failed")
            self._step()

    def _step(self) -> None:
        if not self.engine.has_unfinished():
            return
        start = time.monotonic()
        try:
            outputs = self.engine.step()
        except Exception as exc:  # a bug must fail the requests in flight, not hang their clients
            log.exception("engine step failed; aborting %d requests", len(self._tracked))
            for rid, tracked in list(self._tracked.items()):
                self.engine.abort(rid)
                tracked.sink(exc)
            self._tracked.clear()
            return
        now = time.monotonic()
        self.metrics.step.observe(now - start)
        for out in outputs:
            tracked = self._tracked.get(out.request_id)
            if tracked is None:
                continue
            last = tracked.last_token.get(out.seq_index)
            if last is None:
                self.metrics.ttft.observe(now - tracked.arrival)
            else:
                self.metrics.itl.observe(now - last)
            tracked.last_token[out.seq_index] = now
            tracked.sink(out)
            if out.finished and out.request_id not in self.engine.requests:
                del self._tracked[out.request_id]

