"""Virtual Token Counter (Sheng et al., OSDI'24): serve the backlogged client with the least service.

Counters rise at admission (prompt) and per generated token, divided by the client's weight. A client
that becomes backlogged is lifted to the smallest counter among the backlogged clients (or the last
client to leave the queue), so idling never banks credit. LCF is the same without the lift.
"""

from __future__ import annotations

from collections.abc import Callable

from replica_agent.config import EngineConfig
from replica_agent.scheduler.policy import Policy, WaitingQueue, arrival_key
from replica_agent.sequence import Sequence


class VTCPolicy(Policy):
    name = "vtc"
    lift = True

    def __init__(self, config: EngineConfig) -> None:
        super().__init__(config)
        self.counter: dict[str, float] = {}

    def on_arrival(self, seq: Sequence, waiting: WaitingQueue, client_active: bool) -> None:
        client = seq.client_id
        self.counter.setdefault(client, 0.0)
        if not self.lift or waiting.count(client):
            return
        if len(waiting):
            ref = list(waiting.queues)
        else:
            ref = [waiting.last_left] if waiting.last_left is not None else []
        if ref:
            floor = min(self.counter.get(c, 0.0) for c in ref)
            self.counter[client] = max(self.counter[client], floor)

    def select(self, waiting: WaitingQueue, prefix_len: Callable[[Sequence], int]) -> Sequence | None:
        best, best_key = None, None
        for client, queue in waiting.queues.items():
            key = (self.counter.get(client, 0.0), *arrival_key(queue[0]))
            if best_key is None or key < best_key:
                best, best_key = queue[0], key
        return best

    def on_admit(self, seq: Sequence, service: float) -> None:
        self._charge(seq.client_id, service)

    def on_decode(self, client_id: str, service: float) -> None:
        self._charge(client_id, service)

    def _charge(self, client_id: str, service: float) -> None:
        self.counter[client_id] = self.counter.get(client_id, 0.0) + service / self.config.weight(client_id)

    def snapshot(self) -> dict[str, dict[str, float]]:
        return {"counter": dict(self.counter)}


class LCFPolicy(VTCPolicy):
    """Least counter first: VTC without the lift (a baseline that lets an idle client bank credit)."""

    name = "lcf"
    lift = False
