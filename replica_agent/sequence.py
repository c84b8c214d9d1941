"""One sequence (a request, or one of its n samples) and its lifecycle state."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from replica_agent.sampling import SamplingParams


class SequenceStatus(Enum):
    WAITING = "waiting"  # queued, or preempted back to the queue (recompute)
    RUNNING = "running"
    FINISHED = "finished"
    ABORTED = "aborted"


@dataclass(eq=False)
class Sequence:
    seq_id: int
    request_id: str
    client_id: str
    token_ids: list[int]  # prompt + generated so far
    num_prompt_tokens: int
    sampling: SamplingParams
    arrival: float = 0.0  # step index or seconds; only used for ordering
    status: SequenceStatus = SequenceStatus.WAITING
    num_computed_tokens: int = 0  # tokens whose KV is in the cache (prefix hits count)
    num_cached_tokens: int = 0  # of the prompt, served from the prefix cache at admission
    block_table: list[int] = field(default_factory=list)
    finish_reason: str | None = None  # "stop" | "length" | "abort"
    seq_index: int = 0  # which of the request's n samples this is
    num_charged_tokens: int = 0  # tokens already charged to the client (recompute is never recharged)
    first_token_step: int | None = None  # engine step that produced the first output token
    num_preemptions: int = 0

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def output_token_ids(self) -> list[int]:
        return self.token_ids[self.num_prompt_tokens:]

    @property
    def num_output_tokens(self) -> int:
        return len(self.token_ids) - self.num_prompt_tokens

    @property
    def is_finished(self) -> bool:
        return self.status in (SequenceStatus.FINISHED, SequenceStatus.ABORTED)
