"""What a scheduling policy may do: order the waiting requests and keep its own service account.

Policies never touch memory. The scheduler asks `select()` for the next candidate, admits it if it
fits (and stops otherwise: no skipping past the request whose turn it is), then reports the service
it charged through `on_admit` and `on_decode`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from replica_agent.config import EngineConfig
from replica_agent.sequence import Sequence

LPM_SCAN_PER_CLIENT = 16  # LPM looks this deep into each client's queue (bounds the per-step cost)


class WaitingQueue:
    """One FIFO per client; clients without waiting requests are not kept, so scans stay O(active)."""

    def __init__(self) -> None:
        self.queues: dict[str, deque[Sequence]] = {}
        self.last_left: str | None = None  # the last client whose queue emptied (VTC's lift reference)
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def count(self, client_id: str) -> int:
        q = self.queues.get(client_id)
        return len(q) if q else 0

    def push(self, seq: Sequence, front: bool = False) -> None:
        q = self.queues.setdefault(seq.client_id, deque())
        if front:
            q.appendleft(seq)
        else:
            q.append(seq)
        self._len += 1

    def remove(self, seq: Sequence) -> None:
        q = self.queues[seq.client_id]
        if q[0] is seq:
            q.popleft()
        else:
            q.remove(seq)
        self._len -= 1
        if not q:
            del self.queues[seq.client_id]
            self.last_left = seq.client_id

    def heads(self) -> Iterator[Sequence]:
        return (q[0] for q in self.queues.values())

    def candidates(self, depth: int) -> Iterator[Sequence]:
        for q in self.queues.values():
            for i, seq in enumerate(q):
                if i >= depth:
                    break
                yield seq

    def __iter__(self) -> Iterator[Sequence]:
        for q in self.queues.values():
            yield from q


def arrival_key(seq: Sequence) -> tuple[float, int]:
    return (seq.arrival, seq.seq_id)


class Policy:
    """Base policy: FCFS order, no service account. Subclasses override what they need."""

    name = "fcfs"

    def __init__(self, config: EngineConfig) -> None:
        self.config = config

    def on_arrival(self, seq: Sequence, waiting: WaitingQueue, client_active: bool) -> None:
        """Called before a new request joins `waiting`; client_active = it has waiting or running work."""

    def select(self, waiting: WaitingQueue, prefix_len: Callable[[Sequence], int]) -> Sequence | None:
        """The request whose turn it is, or None if no request may be admitted now."""
        return min(waiting.heads(), key=arrival_key, default=None)

    def on_admit(self, seq: Sequence, service: float) -> None:
        """seq was admitted; `service` is its prompt charge (0 when re-admitted after preemption)."""

    def on_decode(self, client_id: str, service: float) -> None:
        """A token was generated for client_id, worth `service`."""

    def snapshot(self) -> dict[str, dict[str, float]]:
        return {}


def lpm_order(waiting: WaitingQueue, prefix_len: Callable[[Sequence], int]) -> list[Sequence]:
    """Waiting requests by cached-prefix length, longest first, then by arrival."""
    cands = list(waiting.candidates(LPM_SCAN_PER_CLIENT))
    cands.sort(key=lambda s: (-prefix_len(s), s.arrival, s.seq_id))
    return cands


def make_policy(config: EngineConfig) -> Policy:
    from replica_agent.scheduler.dlpm import DLPMPolicy
    from replica_agent.scheduler.fcfs import FCFSPolicy
    from replica_agent.scheduler.lpm import LPMPolicy
    from replica_agent.scheduler.vtc import LCFPolicy, VTCPolicy

    table = {"fcfs": FCFSPolicy, "lpm": LPMPolicy, "vtc": VTCPolicy, "lcf": LCFPolicy, "dlpm": DLPMPolicy}
    return table[config.policy](config)
