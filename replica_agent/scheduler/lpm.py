"""Longest prefix match (SGLang's cache-aware order): most cached tokens first; unfair by design."""

from __future__ import annotations

from collections.abc import Callable

from replica_agent.scheduler.policy import Policy, WaitingQueue, lpm_order
from replica_agent.sequence import Sequence


class LPMPolicy(Policy):
    name = "lpm"

    def select(self, waiting: WaitingQueue, prefix_len: Callable[[Sequence], int]) -> Sequence | None:
        order = lpm_order(waiting, prefix_len)
        return order[0] if order else None
