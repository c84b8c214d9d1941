"""Per-request sampling parameters, shared by the engine (stop rules) and the runner (sampling)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SamplingParams:
    temperature: float = 1.0  # 0 = greedy
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    max_tokens: int = 16
    stop_token_ids: tuple[int, ...] = ()
    ignore_eos: bool = False
    seed: int | None = None
    n: int = 1

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature={self.temperature!r} is invalid: use a value >= 0 (0 = greedy)")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p={self.top_p!r} is invalid: use a value in (0, 1]")
        if self.top_k < 0:
            raise ValueError(f"top_k={self.top_k!r} is invalid: use an integer >= 0 (0 = off)")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens={self.max_tokens!r} is invalid: use an integer >= 1")
        if self.n < 1:
            raise ValueError(f"n={self.n!r} is invalid: use an integer >= 1")
        self.stop_token_ids = tuple(self.stop_token_ids)
