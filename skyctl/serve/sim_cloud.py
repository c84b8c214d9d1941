"""The simulated cloud as the controller meets it: `SimCloud` gives every sim instance an endpoint
(`sim://<id>`), and `SimProber` answers readiness probes from the provider's `ready()` instead of HTTP.

The controller probes only replicas with an endpoint, so a sim instance needs one; the prober then asks
the provider whether the cold start is over (RUNNING = READY), through the ordinary `Prober` interface.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from providers.base import Instance, LaunchSpec
from providers.sim import SimProvider
from skyctl.serve.prober import ProbeResult, ProbeTarget

SCHEME = "sim://"


class SimCloud(SimProvider):
    """SimProvider whose instances carry a `sim://<id>` endpoint."""

    def launch(self, spec: LaunchSpec) -> Instance:
        return _addressed(super().launch(spec))

    def list(self, service: str | None = None) -> list[Instance]:
        return [_addressed(i) for i in super().list(service)]

    def status(self, ids: Iterable[str]) -> dict[str, Instance]:
        return {k: _addressed(i) for k, i in super().status(ids).items()}


def _addressed(inst: Instance) -> Instance:
    inst.endpoint = SCHEME + inst.id  # the provider hands out copies: this one is ours to change
    return inst


class SimProber:
    """A replica is ready when the simulated provider says its cold start is over."""

    def __init__(self, provider: SimProvider) -> None:
        self.provider = provider

    def probe(self, targets: Sequence[ProbeTarget]) -> dict[int, ProbeResult]:
        out = {}
        for t in targets:
            ok = t.endpoint.startswith(SCHEME) and self.provider.ready(t.endpoint[len(SCHEME):])
            out[t.replica_id] = ProbeResult(ok, "sim: ready" if ok else "sim: cold start")
        return out
