"""Injectable time: serve logic asks a `Clock`, never `time.time()`, so tests and `serve simulate` run the
real controller code on a virtual clock."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (or since the start of a simulation)."""

    def sleep(self, seconds: float) -> None:
        """Wait; a virtual clock just moves forward."""


class RealClock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class VirtualClock:
    """Time that moves only when told (`advance`, or `sleep` from the code under test); thread-safe."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._t

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} s)")
        with self._lock:
            self._t += seconds
            return self._t


REAL_CLOCK = RealClock()
