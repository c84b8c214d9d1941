"""Bounded exponential backoff with full jitter for `TransientError`, shared by every cloud provider.

Clouds throttle (AWS `RequestLimitExceeded`, GCP 429, Azure 429) and sometimes answer 5xx; the same call
usually succeeds a little later. Retrying here, inside the provider call, keeps the controller's logic
free of per-cloud retry loops, and the bound (attempts and total delay) keeps a dead endpoint from
stalling a reconcile pass. Full jitter (a uniform draw up to the exponential cap) spreads the retries of
many replicas so they do not hit the API in lockstep. A server's `Retry-After` is honoured as a floor.

Only `TransientError` is retried: capacity, quota, auth and user errors are answers, not accidents.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from providers.base import TransientError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry: at most `attempts` calls in all, delays capped at `max_delay` each and at
    `max_total` together (the last error is raised once either bound is reached)."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_total: float = 30.0

    def delay(self, attempt: int, rng: random.Random | None = None,
              retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based): uniform in
        [0, min(max_delay, base_delay * 2**(attempt-1))], never below the server's `retry_after`."""
        cap = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        draw = (rng or random).uniform(0.0, cap)
        return min(self.max_delay, max(draw, retry_after or 0.0))


DEFAULT_POLICY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=1)


def call_with_retry(fn: Callable[[], T], *, policy: RetryPolicy = DEFAULT_POLICY,
                    sleep: Callable[[float], None] = time.sleep,
                    rng: random.Random | None = None,
                    on_retry: Callable[[int, TransientError, float], None] | None = None) -> T:
    """Call `fn()`; on `TransientError` wait a jittered backoff and call again, within the policy's bounds.

    `sleep` and `rng` are injectable so tests run without waiting and deterministically; `on_retry(attempt,
    error, delay)` lets a caller log or count retries.
    """
    waited = 0.0
    attempt = 1
    while True:
        try:
            return fn()
        except TransientError as err:
            if attempt >= policy.attempts:
                raise
            delay = policy.delay(attempt, rng, err.retry_after)
            if waited + delay > policy.max_total:
                raise
            if on_retry is not None:
                on_retry(attempt, err, delay)
            sleep(delay)
            waited += delay
            attempt += 1
