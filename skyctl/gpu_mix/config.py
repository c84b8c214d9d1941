"""Load a gpu-mix config file: the original Mélange JSON/YAML, or skyctl's own YAML; detect which.

Both become a `MixInput` (GPU types with prices and throughput tables, the workload histogram, the rate and
the solve settings) that `service.solve_file` turns into a solver `Problem`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from skyctl.errors import UserError, did_you_mean
from skyctl.gpu_mix.profile_io import user_error
from solvers.melange.errors import ProblemError

Table = tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class GpuChoice:
    """One GPU type offered to the solver; `name` is what the output shows (e.g. `A10G:spot`)."""

    name: str
    price: float  # $/h per GPU
    tputs: Table
    max_count: int | None = None
    spot: bool = False
    price_source: str = "inline"


@dataclass(frozen=True)
class MixInput:
    source: str
    format: str  # "melange" or "skyctl"
    gpus: tuple[GpuChoice, ...]
    fractions: Table
    total_rate: float
    slice_factor: int
    input_edges: tuple[float, ...] | None = None
    output_edges: tuple[float, ...] | None = None
    min_on_demand_fraction: float = 0.0
    headroom: float = 0.0
    poisson_z: float | None = None
    profile: str | None = None  # where the throughput tables came from
    requests: int | None = None  # request-size rows bucketed, when the workload was a file

    def with_caps(self, caps: dict[str, int]) -> MixInput:
        """Per-type maximum counts from the command line, on top of the file's."""
        known = {g.name: g for g in self.gpus}
        for name in caps:
            if name not in known:
                raise UserError("no such GPU type in the config", field="--cap", value=name,
                                fix=did_you_mean(name, known) or f"choose from {', '.join(known)}")
        return replace(self, gpus=tuple(replace(g, max_count=caps.get(g.name, g.max_count))
                                        for g in self.gpus))


def read_document(path: Path) -> Any:
    """The parsed file (JSON by extension, YAML otherwise), with one-line errors."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("config file not found", field="CONFIG", value=str(path)) from None
    except OSError as e:
        raise UserError(f"cannot read the config file: {e.strerror}", field="CONFIG",
                        value=str(path)) from None
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
        raise UserError(f"not valid {kind}: {str(e).splitlines()[0]}", source=str(path)) from None


def load_config(path: Path) -> MixInput:
    """Detect the format (`gpu_info` = Mélange, `workload` = skyctl) and parse it."""
    from skyctl.gpu_mix import melange_format, skyctl_format

    doc = read_document(path)
    if not isinstance(doc, dict):
        raise UserError("a config must be a mapping", source=str(path),
                        fix="use Mélange's {gpu_info, workload_distribution, ...} "
                            "or skyctl's {workload, gpus, ...}")
    try:
        if "gpu_info" in doc:
            return melange_format.parse(doc, str(path))
        if "workload" in doc:
            return skyctl_format.parse(doc, path)
    except ProblemError as e:
        raise user_error(e, source=str(path)) from None
    raise UserError("cannot tell the config format", source=str(path),
                    fix="a Mélange config has `gpu_info`; a skyctl config has `workload` and `gpus`")
