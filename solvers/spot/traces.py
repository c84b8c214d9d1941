"""Spot capacity traces: load the SkyServe/Can't-Be-Late JSON format and cut simulation windows from it.

One file per zone, `{"metadata": {"gap_seconds": G}, "data": [n0, n1, ...]}`, where value i is the largest
number of spot replicas that can be alive in that zone during [i*G, (i+1)*G). A folder holds one file per
zone, named `<zone>_<gpu>_<count>.json`. Simulation runs on fixed ticks (30 s in the paper): tick j sees
the value covering time j*tick, so a 300 s gap repeats each value 10 times and a 195 s gap (AWS 3 upstream)
is resampled exactly instead of rounded to 6 repeats. Zones of unequal length are cut to the shortest
(AWS 2), as the artifact's offsets never read past it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from solvers.melange.errors import ProblemError

TICK_SECONDS = 30.0
# Names the paper uses -> folders of the SpotHedge artifact data (relative to a data root).
PAPER_TRACES = {"aws1": "AWS1", "aws2": "AWS2", "aws3": "AWS3", "gcp1": "GCP1"}
_FILE = re.compile(r"(?P<zone>.+?)_(?P<gpu>[a-z0-9]+(?:_\d+gb)?)_(?P<count>\d+)$")


@dataclass(frozen=True)
class SpotTrace:
    """Per-zone spot capacity at the trace's own resolution (`gap_seconds` per point)."""

    zones: tuple[str, ...]
    capacity: np.ndarray  # int, shape (zones, points)
    gap_seconds: float
    source: str
    instance: tuple[str, int] | None = None  # (gpu, count) from the file names, e.g. ("V100", 1)

    @property
    def seconds(self) -> float:
        return self.capacity.shape[1] * self.gap_seconds

    def ticks(self, tick_seconds: float = TICK_SECONDS) -> np.ndarray:
        """Capacity per zone per tick, shape (zones, ticks): tick j reads the point covering j*tick."""
        n = int(self.seconds // tick_seconds)
        index = (np.arange(n) * tick_seconds // self.gap_seconds).astype(np.int64)
        return self.capacity[:, index]

    def windows(self, n_ticks: int, repeats: int, seed: int,
                tick_seconds: float = TICK_SECONDS) -> list[tuple[int, np.ndarray]]:
        """`repeats` windows of `n_ticks` from seeded random start ticks: [(offset, (zones, n_ticks))]."""
        ticks = self.ticks(tick_seconds)
        return [(o, ticks[:, o:o + n_ticks]) for o in window_offsets(ticks.shape[1], n_ticks, repeats, seed)]


def window_offsets(total_ticks: int, n_ticks: int, repeats: int, seed: int) -> list[int]:
    """Start ticks drawn uniformly from [0, total - n) as the artifact does (numpy, seeded)."""
    if n_ticks > total_ticks:
        raise ProblemError("window is longer than the trace", field="hours", value=n_ticks,
                           fix=f"ask for at most {total_ticks} ticks of this trace")
    if repeats < 1:
        raise ProblemError("must be >= 1", field="repeats", value=repeats)
    rng = np.random.default_rng(seed)
    return [int(x) for x in rng.integers(0, max(total_ticks - n_ticks, 1), size=repeats)]


def load_trace(path: str | Path, *, gap_seconds: float | None = None,
               available_means: int | None = None) -> SpotTrace:
    """A trace from a folder of zone files or one file (one zone).

    `gap_seconds` overrides the files' metadata (AWS 3: 300 in the artifact, 195 upstream).
    `available_means`: for 0/1 availability traces, the capacity a 1 stands for (the artifact's loader
    reads its 9-zone AWS 3 trace with 1 = unlimited); None keeps the values as they are.
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix == ".json")
        if not files:
            raise ProblemError("no .json zone files in this folder", field="trace", value=str(p),
                               fix="point at a folder of <zone>_<gpu>_<count>.json files")
    elif p.is_file():
        files = [p]
    else:
        raise ProblemError("no such trace file or folder", field="trace", value=str(p),
                           fix=f"use a path, or one of {', '.join(PAPER_TRACES)}")
    zones, series, gaps, instances = [], [], set(), set()
    for f in files:
        data, gap = _read(f)
        m = _FILE.match(f.stem)
        zones.append(m["zone"] if m else f.stem)
        instances.add((m["gpu"].upper().replace("_", "-"), int(m["count"])) if m else None)
        series.append(data)
        gaps.add(gap)
    if gap_seconds is None:
        if len(gaps) > 1:
            raise ProblemError("zone files disagree on gap_seconds", field="gap_seconds", value=sorted(gaps),
                               fix="pass gap_seconds explicitly")
        gap_seconds = gaps.pop()
    if gap_seconds <= 0:
        raise ProblemError("must be > 0", field="gap_seconds", value=gap_seconds)
    n = min(len(s) for s in series)
    capacity = np.array([s[:n] for s in series], dtype=np.int64)
    if available_means is not None:
        if capacity.max() > 1:
            raise ProblemError("available_means applies to 0/1 traces only", field="available_means",
                               value=available_means, fix="leave it out for multi-node traces")
        capacity = capacity * int(available_means)
    instance = instances.pop() if len(instances) == 1 else None
    return SpotTrace(tuple(zones), capacity, float(gap_seconds), str(p), instance)


def paper_trace_dir(name: str, data_root: str | Path) -> Path:
    """`aws1` -> `<data_root>/AWS1`; a name outside the paper's four is a ProblemError with the choices."""
    folder = PAPER_TRACES.get(name.lower())
    if folder is None:
        raise ProblemError("unknown trace name", field="trace", value=name,
                           fix=f"use one of {', '.join(PAPER_TRACES)} or a path")
    return Path(data_root) / folder


def _read(f: Path) -> tuple[list[int], float]:
    try:
        doc = json.loads(f.read_text())
        data, gap = doc["data"], float(doc["metadata"]["gap_seconds"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ProblemError(f"not a spot trace file ({type(e).__name__}: {e})", field="trace", value=str(f),
                           fix='expected {"metadata": {"gap_seconds": G}, "data": [...]}') from e
    if not data or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in data):
        raise ProblemError("data must be a non-empty list of integers >= 0", field="trace", value=str(f))
    return data, gap
