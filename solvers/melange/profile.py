"""Throughput profiles: per GPU type, the max req/s one GPU sustains per request-size bucket within an SLO.

File format `skyctl/profile-v1` (YAML or JSON, parsed by the caller into a dict):
`kind`, `model`, `source`, `slo: {tpot_ms, ttft_ms}`, `input_edges` (rows), `output_edges` (columns),
`gpus: {NAME: [[req/s, ...], ...]}` where 0 means the GPU cannot serve that bucket within the SLO.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from solvers.melange.errors import ProblemError
from solvers.melange.values import edges, matrix, number

KIND = "skyctl/profile-v1"


@dataclass(frozen=True)
class ThroughputProfile:
    """A validated profile; `tputs[gpu][input_bucket][output_bucket]` in requests per second."""

    model: str
    source: str
    slo_tpot_ms: float | None
    slo_ttft_ms: float | None
    input_edges: tuple[float, ...]
    output_edges: tuple[float, ...]
    tputs: dict[str, tuple[tuple[float, ...], ...]]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.input_edges), len(self.output_edges)

    @classmethod
    def from_dict(cls, d: Any, origin: str = "profile") -> ThroughputProfile:
        """Validate a parsed profile file; errors name the GPU, row (input bucket) and column (output bucket).

        `origin` prefixes field paths so that a message points into the right file or config section.
        """
        if not isinstance(d, dict):
            raise ProblemError("a profile must be a mapping", field=origin, value=type(d).__name__,
                               fix=f"start the file with 'kind: {KIND}'")
        if d.get("kind") != KIND:
            raise ProblemError(f"unknown profile kind, expected {KIND!r}", field=f"{origin}.kind",
                               value=d.get("kind"))
        slo = d.get("slo") or {}
        if not isinstance(slo, dict):
            raise ProblemError("must be a mapping like {tpot_ms: 120, ttft_ms: null}", field=f"{origin}.slo",
                               value=slo)
        ins = edges(d.get("input_edges"), f"{origin}.input_edges")
        outs = edges(d.get("output_edges"), f"{origin}.output_edges")
        gpus = d.get("gpus")
        if not isinstance(gpus, dict) or not gpus:
            raise ProblemError("must map each GPU name to its throughput table", field=f"{origin}.gpus",
                               value=gpus)
        tputs = {
            str(name): matrix(table, f"{origin}.gpus.{name}", (len(ins), len(outs)),
                              expected_from=f"{origin}.input_edges/output_edges")
            for name, table in gpus.items()
        }
        return cls(
            model=str(d.get("model", "")),
            source=str(d.get("source", "")),
            slo_tpot_ms=_optional(slo.get("tpot_ms"), f"{origin}.slo.tpot_ms"),
            slo_ttft_ms=_optional(slo.get("ttft_ms"), f"{origin}.slo.ttft_ms"),
            input_edges=ins,
            output_edges=outs,
            tputs=tputs,
        )

    def to_dict(self) -> dict[str, Any]:
        """The file form (plain lists and floats), ready for yaml/json dumping."""
        return {
            "kind": KIND,
            "model": self.model,
            "source": self.source,
            "slo": {"tpot_ms": self.slo_tpot_ms, "ttft_ms": self.slo_ttft_ms},
            "input_edges": [_plain(e) for e in self.input_edges],
            "output_edges": [_plain(e) for e in self.output_edges],
            "gpus": {name: [list(row) for row in table] for name, table in self.tputs.items()},
        }


def _optional(value: Any, field: str) -> float | None:
    return None if value is None else number(value, field, allow_equal=False)


def _plain(x: float) -> float | int:
    """Edges are token counts: write 25 rather than 25.0 when they are whole."""
    return int(x) if float(x).is_integer() else x
