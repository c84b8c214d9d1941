"""Engine configuration: memory geometry, batching limits and the scheduling policy.

Device, dtype and model path belong to the runner/server config; the engine only needs to know
how many KV blocks exist and how it may fill a step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

POLICIES = ("fcfs", "lpm", "vtc", "dlpm", "lcf")
ADMISSION_MODES = ("optimistic", "conservative")


class ConfigError(ValueError):
    """A bad configuration value; the message names the field, the value and the fix."""

    def __init__(self, field_name: str, value: object, fix: str) -> None:
        super().__init__(f"engine config {field_name}={value!r} is invalid: {fix}")
        self.field = field_name
        self.value = value
        self.fix = fix


@dataclass(slots=True)
class EngineConfig:
    block_size: int = 16
    num_blocks: int = 1024
    max_num_seqs: int = 64
    max_batched_tokens: int = 2048
    max_model_len: int = 2048
    policy: str = "fcfs"
    w_p: float = 1.0  # service weight of one prompt (prefill) token
    w_q: float = 2.0  # service weight of one generated (decode) token
    client_weights: dict[str, float] = field(default_factory=dict)  # missing clients weigh 1.0
    quantum: float | None = None  # DLPM refill; None = 8 * w_p * mean prompt length seen so far
    charge_cached_tokens: bool = True  # charge prompt tokens served from the prefix cache
    admission: str = "optimistic"  # "conservative" = admit only if every request can finish
    watermark_blocks: int = 1  # blocks kept free at admission so running decodes rarely preempt
    enable_prefix_caching: bool = True
    max_waiting: int = 1024  # add_request raises QueueFullError beyond this many waiting requests

    def __post_init__(self) -> None:
        for name in ("block_size", "num_blocks", "max_num_seqs", "max_batched_tokens", "max_model_len",
                     "max_waiting"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(name, value, "use a positive integer")
        if self.watermark_blocks < 0 or self.watermark_blocks >= self.num_blocks:
            raise ConfigError("watermark_blocks", self.watermark_blocks,
                              f"use an integer in [0, num_blocks={self.num_blocks})")
        if self.policy not in POLICIES:
            raise ConfigError("policy", self.policy, f"use one of {', '.join(POLICIES)}")
        if self.admission not in ADMISSION_MODES:
            raise ConfigError("admission", self.admission, f"use one of {', '.join(ADMISSION_MODES)}")
        if self.w_p < 0 or self.w_q < 0 or self.w_p + self.w_q == 0:
            raise ConfigError("w_p/w_q", (self.w_p, self.w_q), "use non-negative weights, not both zero")
        for client, weight in self.client_weights.items():
            if not weight > 0:
                raise ConfigError(f"client_weights[{client}]", weight, "use a positive weight")
        if self.quantum is not None and not self.quantum > 0:
            raise ConfigError("quantum", self.quantum, "use a positive service amount or leave it unset")

    def weight(self, client_id: str) -> float:
        return self.client_weights.get(client_id, 1.0)
