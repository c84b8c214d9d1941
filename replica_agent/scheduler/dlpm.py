"""Deficit longest-prefix-match (Cao et al., arXiv 2501.14312): DRR deficits with LPM order.

Each client spends a deficit as it is served (prompt at admission, then per generated token).
Admission walks the waiting requests in LPM order and takes the first whose client still has a
positive deficit, so same-prefix streaks run for about one quantum before the turn passes. When no
waiting client has credit, every waiting client is refilled by weight x quantum, as many rounds at
once as it takes for one of them to turn positive. An idle client's deficit resets to 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from replica_agent.config import EngineConfig
from replica_agent.scheduler.policy import Policy, WaitingQueue, lpm_order
from replica_agent.sequence import Sequence

DEFAULT_QUANTUM_PROMPTS = 8  # default quantum = this many mean prompts' worth of prefill service


class DLPMPolicy(Policy):
    name = "dlpm"

    def __init__(self, config: EngineConfig) -> None:
        super().__init__(config)
        self.deficit: dict[str, float] = {}
        self.rounds = 0
        self._prompt_tokens = 0
        self._prompts = 0

    @property
    def quantum(self) -> float:
        if self.config.quantum is not None:
            return self.config.quantum
        mean_prompt = self._prompt_tokens / self._prompts if self._prompts else 1.0
        return max(1e-9, DEFAULT_QUANTUM_PROMPTS * self.config.w_p * mean_prompt)

    def on_arrival(self, seq: Sequence, waiting: WaitingQueue, client_active: bool) -> None:
        self._prompt_tokens += seq.num_prompt_tokens
        self._prompts += 1
        if not client_active:
            self.deficit[seq.client_id] = 0.0

    def select(self, waiting: WaitingQueue, prefix_len: Callable[[Sequence], int]) -> Sequence | None:
        order = lpm_order(waiting, prefix_len)
        if not order:
            return None
        for seq in order:
            if self.deficit.get(seq.client_id, 0.0) > 0:
                return seq
        # New round(s): refill every waiting client until one of them has credit.
        quantum = self.quantum
        clients = list(waiting.queues)
        rounds = min(math.floor(-self.deficit.get(c, 0.0) / (quantum * self.config.weight(c))) + 1
                     for c in clients)
        self.rounds += rounds
        for c in clients:
            self.deficit[c] = self.deficit.get(c, 0.0) + rounds * quantum * self.config.weight(c)
        return next(s for s in order if self.deficit[s.client_id] > 0)

    def on_admit(self, seq: Sequence, service: float) -> None:
        self.deficit[seq.client_id] = self.deficit.get(seq.client_id, 0.0) - service

    def on_decode(self, client_id: str, service: float) -> None:
        self.deficit[client_id] = self.deficit.get(client_id, 0.0) - service

    def snapshot(self) -> dict[str, dict[str, float]]:
        return {"deficit": dict(self.deficit), "quantum": {"value": self.quantum}}
