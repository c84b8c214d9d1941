"""LLMEngine: requests in, tokens out, one `step()` = schedule -> runner.execute -> postprocess.

The engine owns stop rules (EOS, stop token ids, max_tokens, max_model_len), the service ledger
(what each client was actually served, counted at the step its tokens were computed) and the
snapshot that /metrics exports. The runner owns the KV tensors and the per-sequence generators.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from replica_agent.config import EngineConfig
from replica_agent.memory.manager import cdiv
from replica_agent.sampling import SamplingParams
from replica_agent.scheduler.scheduler import ScheduledBatch, ScheduledSeq, Scheduler
from replica_agent.sequence import Sequence, SequenceStatus

__all__ = ["EngineStats", "InvalidRequestError", "LLMEngine", "QueueFullError", "RequestOutput", "Runner",
           "ScheduledBatch", "ScheduledSeq", "ServiceLedger"]


class QueueFullError(RuntimeError):
    """The waiting queue holds config.max_waiting requests; the server answers 429/503 + Retry-After."""

    def __init__(self, waiting: int, retry_after_s: float = 1.0) -> None:
        super().__init__(f"waiting queue is full ({waiting} requests); retry in {retry_after_s:g}s")
        self.retry_after_s = retry_after_s


class InvalidRequestError(ValueError):
    """A request the engine can never serve (empty prompt, too long for the model or the KV pool)."""


class Runner(Protocol):
    eos_token_id: int | None

    def execute(self, batch: ScheduledBatch) -> list[int]: ...

    def release(self, seq_id: int) -> None: ...


@dataclass(slots=True)
class RequestOutput:
    request_id: str
    seq_index: int
    new_token_ids: list[int]
    finished: bool
    finish_reason: str | None


@dataclass
class ServiceLedger:
    """W_c: w_p * prompt tokens + w_q * generated tokens per client, at the step they are computed."""

    service: dict[str, float] = field(default_factory=dict)

    def charge(self, client_id: str, amount: float) -> None:
        if amount:
            self.service[client_id] = self.service.get(client_id, 0.0) + amount


@dataclass
class EngineStats:
    step: int
    num_waiting: int
    num_running: int
    waiting_per_client: dict[str, int]
    running_per_client: dict[str, int]
    service_per_client: dict[str, float]
    policy_state: dict[str, dict[str, float]]
    kv_blocks_total: int
    kv_blocks_free: int
    kv_blocks_evictable: int
    prefix_query_tokens: int
    prefix_hit_tokens: int
    preemptions: int
    prompt_tokens: int
    generated_tokens: int


class LLMEngine:
    def __init__(self, config: EngineConfig, runner: Runner,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.runner = runner
        self.clock = clock
        self.scheduler = Scheduler(config)
        self.kv = self.scheduler.kv
        self.ledger = ServiceLedger()
        self.requests: dict[str, list[Sequence]] = {}
        self.step_count = 0
        self.prompt_tokens = 0
        self.generated_tokens = 0
        self._seq_ids = itertools.count()
        self._request_ids = itertools.count()

    # ---- requests --------------------------------------------------------------------------------
    def add_request(self, prompt_token_ids: list[int], sampling: SamplingParams, client_id: str = "default",
                    request_id: str | None = None) -> str:
        cfg, prompt = self.config, list(prompt_token_ids)
        if not prompt:
            raise InvalidRequestError("prompt is empty: send at least one token")
        if len(prompt) >= cfg.max_model_len:
            raise InvalidRequestError(f"prompt has {len(prompt)} tokens but max_model_len is "
                                      f"{cfg.max_model_len}: shorten the prompt")
        final = min(len(prompt) + sampling.max_tokens, cfg.max_model_len)
        if cdiv(final, cfg.block_size) * sampling.n + cfg.watermark_blocks > cfg.num_blocks:
            raise InvalidRequestError(f"{len(prompt)} prompt + {sampling.max_tokens} new tokens x "
                                      f"n={sampling.n} cannot fit in {cfg.num_blocks} KV blocks: "
                                      "lower max_tokens or n")
        if len(self.scheduler.waiting) >= cfg.max_waiting:
            raise QueueFullError(len(self.scheduler.waiting))
        if request_id is None:
            request_id = f"req-{next(self._request_ids)}"
        elif request_id in self.requests:
            raise InvalidRequestError(f"request_id {request_id!r} is already in flight: use a fresh id")
        arrival = self.clock()
        seqs = []
        for i in range(sampling.n):
            seeded = sampling.seed is not None and i > 0
            params = replace(sampling, seed=sampling.seed + i) if seeded else sampling
            seqs.append(Sequence(next(self._seq_ids), request_id, client_id, list(prompt), len(prompt),
                                 params, arrival=arrival, seq_index=i))
        self.requests[request_id] = seqs
        self.prompt_tokens += len(prompt)
        self.scheduler.add(seqs[0], seqs[1:])
        return request_id

    def abort(self, request_id: str, reason: str = "abort") -> None:
        """Free the request's blocks at once; the service already charged stays charged."""
        for seq in self.requests.pop(request_id, []):
            if not seq.is_finished:
                self.scheduler.finish(seq, SequenceStatus.ABORTED, reason)
                self.runner.release(seq.seq_id)

    def has_unfinished(self) -> bool:
        return bool(self.requests)

    # ---- one step --------------------------------------------------------------------------------------
    def step(self) -> list[RequestOutput]:
        sched, cfg = self.scheduler, self.config
        batch = sched.schedule()
        tokens = iter(self.runner.execute(batch) if batch.entries else ())
        outputs, done = [], []
        for entry in batch.entries:
            seq = entry.seq
            seq.num_computed_tokens = entry.start + entry.num_tokens
            self._charge_prompt(seq, entry)
            self.kv.commit(seq)
            if not entry.sample:
                continue
            token = next(tokens)
            seq.token_ids.append(token)
            self.generated_tokens += 1
            self.ledger.charge(seq.client_id, cfg.w_q)
            sched.policy.on_decode(seq.client_id, cfg.w_q)
            if seq.first_token_step is None:
                seq.first_token_step = self.step_count
            if seq.seq_id in sched.siblings:
                sched.fork_siblings(seq)
            reason = self._stop_reason(seq, token)
            outputs.append(RequestOutput(seq.request_id, seq.seq_index, [token], reason is not None, reason))
            if reason is not None:
                done.append((seq, reason))
        for seq, reason in done:
            sched.finish(seq, SequenceStatus.FINISHED, reason)
            self.runner.release(seq.seq_id)
            group = self.requests.get(seq.request_id, [])
            if all(s.is_finished for s in group):
                self.requests.pop(seq.request_id, None)
        self.step_count += 1
        return outputs

    def _charge_prompt(self, seq: Sequence, entry: ScheduledSeq) -> None:
        """Ledger the prompt tokens computed (or hit) for the first time; recompute is never recharged."""
        end = min(entry.start + entry.num_tokens, seq.num_prompt_tokens)
        if not self.config.charge_cached_tokens:
            seq.num_charged_tokens = max(seq.num_charged_tokens, min(entry.start, seq.num_prompt_tokens))
        if end > seq.num_charged_tokens:
            self.ledger.charge(seq.client_id, self.config.w_p * (end - seq.num_charged_tokens))
            seq.num_charged_tokens = end

    def _stop_reason(self, seq: Sequence, token: int) -> str | None:
        sp = seq.sampling
        if not sp.ignore_eos and token == self.runner.eos_token_id:
            return "stop"
        if token in sp.stop_token_ids:
            return "stop"
        if seq.num_output_tokens >= sp.max_tokens or seq.num_tokens >= self.config.max_model_len:
            return "length"
        return None

    # ---- conveniences -------------------------------------------------------------------------------
    def generate(self, prompts: list[list[int]], sampling: SamplingParams | list[SamplingParams],
                 client_ids: list[str] | None = None) -> list[list[int]]:
        """Run prompts to completion offline (n = 1 each); returns the generated ids in prompt order."""
        params = sampling if isinstance(sampling, list) else [sampling] * len(prompts)
        clients = client_ids or ["default"] * len(prompts)
        ids = [self.add_request(p, sp, c) for p, sp, c in zip(prompts, params, clients, strict=True)]
        seqs = [self.requests[rid][0] for rid in ids]
        while self.has_unfinished():
            self.step()
        return [s.output_token_ids for s in seqs]

    def stats(self) -> EngineStats:
        sched, kv = self.scheduler, self.kv
        return EngineStats(
            step=self.step_count, num_waiting=len(sched.waiting), num_running=len(sched.running),
            waiting_per_client={c: len(q) for c, q in sched.waiting.queues.items()},
            running_per_client=dict(sched.running_per_client),
            service_per_client=dict(self.ledger.service), policy_state=sched.policy.snapshot(),
            kv_blocks_total=kv.pool.num_blocks, kv_blocks_free=kv.num_free,
            kv_blocks_evictable=kv.num_evictable, prefix_query_tokens=kv.prefix_query_tokens,
            prefix_hit_tokens=kv.prefix_hit_tokens, preemptions=sched.preemptions,
            prompt_tokens=self.prompt_tokens, generated_tokens=self.generated_tokens)

    def check_invariants(self) -> None:
        """Memory invariants over every live sequence (tests call this after each step)."""
        live = [s for seqs in self.requests.values() for s in seqs if s.block_table]
        self.kv.check_invariants(live)
        cached_ok = all(0 <= len(s.block_table) * self.config.block_size - s.num_computed_tokens
                        < self.config.block_size for s in self.scheduler.running)
        assert cached_ok, "a running sequence holds a block or more of slack"
