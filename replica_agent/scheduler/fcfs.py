"""First come, first served: the oldest waiting request goes first (the S-LoRA baseline)."""

from __future__ import annotations

from replica_agent.scheduler.policy import Policy


class FCFSPolicy(Policy):
    name = "fcfs"
