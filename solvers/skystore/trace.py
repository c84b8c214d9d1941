"""A request trace as parallel numpy arrays, parsed once and shared by every policy run.

Objects and regions are dense integer ids so that the simulator's hot loop touches only ints and
floats. A GET of an object that was never written is taken as the object's creation in the reader's
region (the object existed before the trace began), so every policy and the offline optimum see the
same writes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Trace:
    """`t` seconds (sorted), `write` bool, `region`/`obj` int ids, `size` bytes; names index the ids."""

    t: np.ndarray
    write: np.ndarray
    region: np.ndarray
    obj: np.ndarray
    size: np.ndarray
    regions: tuple[str, ...]
    n_objects: int

    def __len__(self) -> int:
        return len(self.t)

    @property
    def n_reads(self) -> int:
        return int((~self.write).sum())


def make_trace(t, write, region, obj, size, regions, n_objects: int | None = None) -> Trace:
    """Build a trace from sequences; sorts stably by time and turns first-touch GETs into writes."""
    t = np.asarray(t, dtype=np.float64)
    order = np.argsort(t, kind="stable")
    t = t[order]
    write = np.asarray(write, dtype=bool)[order].copy()
    region = np.asarray(region, dtype=np.int64)[order]
    obj = np.asarray(obj, dtype=np.int64)[order]
    size = np.asarray(size, dtype=np.int64)[order]
    n_obj = int(obj.max()) + 1 if n_objects is None and len(obj) else (n_objects or 0)
    if len(obj):
        _, first = np.unique(obj, return_index=True)
        write[first] = True
    return Trace(t, write, region, obj, size, tuple(regions), n_obj)


def next_read_same_region(trace: Trace) -> np.ndarray:
    """For each request, the time of the next GET of the same object from the same region, or inf if
    the object is written (invalidating every replica) before that read or it never comes."""
    n = len(trace)
    out = np.full(n, np.inf)
    t, write = trace.t.tolist(), trace.write.tolist()
    region, obj = trace.region.tolist(), trace.obj.tolist()
    nxt: dict[int, float] = {}  # (obj, region) key -> time of next read, reset by writes
    next_write: dict[int, float] = {}
    shift = max(len(trace.regions), 1)
    for i in range(n - 1, -1, -1):
        o = obj[i]
        key = o * shift + region[i]
        cand = nxt.get(key, np.inf)
        out[i] = cand if cand < next_write.get(o, np.inf) else np.inf
        if write[i]:
            next_write[o] = t[i]
        else:
            nxt[key] = t[i]
    return out
