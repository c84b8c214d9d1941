"""The original Mélange config, taken unchanged so that its users can run their files as they are.

`{"gpu_info": {NAME: {"cost": $/h, "tputs": [[...]]}}, "workload_distribution": [[...]],
  "total_request_rate": req/s, "slice_factor": s}`; tables are [input bucket][output bucket]. GPU names are
kept as given (inline prices, no catalog). Also accepted: a per-GPU `max_count` (as a popular fork adds).
"""

from __future__ import annotations

from typing import Any

from skyctl.errors import UserError, did_you_mean
from skyctl.gpu_mix.config import GpuChoice, MixInput
from solvers.melange.values import matrix, number, whole

KEYS = ("gpu_info", "workload_distribution", "total_request_rate", "slice_factor")
DEFAULT_SLICE_FACTOR = 8  # the paper's value, when a file leaves it out


def parse(doc: dict[str, Any], source: str) -> MixInput:
    for key in doc:
        if key not in KEYS:
            raise UserError("unknown key in a Mélange config", field=key, source=source,
                            fix=did_you_mean(key, KEYS) or f"the keys are {', '.join(KEYS)}")
    dist = matrix(doc.get("workload_distribution"), "workload_distribution")
    shape = (len(dist), len(dist[0]))
    info = doc["gpu_info"]
    if not isinstance(info, dict) or not info:
        raise UserError("must map GPU names to {cost, tputs}", field="gpu_info", source=source)
    gpus = []
    for name, spec in info.items():
        if not isinstance(spec, dict):
            raise UserError("must be a mapping {cost, tputs}", field=f"gpu_info.{name}", source=source)
        cap = spec.get("max_count")
        gpus.append(GpuChoice(
            name=str(name),
            price=number(spec.get("cost"), f"gpu_info.{name}.cost"),
            tputs=matrix(spec.get("tputs"), f"gpu_info.{name}.tputs", shape,
                         expected_from=f"workload_distribution ({shape[0]}x{shape[1]})"),
            max_count=None if cap is None else whole(cap, f"gpu_info.{name}.max_count"),
        ))
    rate = number(doc.get("total_request_rate"), "total_request_rate", allow_equal=False)
    s = whole(doc.get("slice_factor", DEFAULT_SLICE_FACTOR), "slice_factor", minimum=1)
    return MixInput(source=source, format="melange", gpus=tuple(gpus), fractions=dist, total_rate=rate,
                    slice_factor=s, profile="inline (gpu_info)")
