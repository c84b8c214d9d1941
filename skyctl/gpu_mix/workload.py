"""The workload of a skyctl gpu-mix config: an inline histogram, or a request-size CSV that we bucket.

Buckets use the profile's UPPER edges: a request of length L falls in the first bucket whose edge is >= L
(the profile measured that bucket at its upper edge, the conservative side). Lengths above the last edge are
an error by default, because silently serving them at the last bucket's throughput under-provisions; set
`workload.overflow: last_bucket` to count them there anyway.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import io
from pathlib import Path

from skyctl.errors import UserError

OVERFLOW = ("error", "last_bucket")
Histogram = tuple[tuple[float, ...], ...]


def bucket_requests(path: Path, input_edges: tuple[float, ...], output_edges: tuple[float, ...],
                    overflow: str = "error") -> tuple[Histogram, int]:
    """Fractions per [input][output] bucket from a CSV of `input_len,output_len` rows (.gz ok); and the
    number of requests read. A first line that is not numeric is taken as a header."""
    if overflow not in OVERFLOW:
        raise UserError(f"must be one of {', '.join(OVERFLOW)}", field="workload.overflow", value=overflow)
    counts = [[0] * len(output_edges) for _ in input_edges]
    over: list[tuple[int, float, float]] = []
    n = 0
    for lineno, inp, out in _rows(path):
        i = bisect.bisect_left(input_edges, inp)
        k = bisect.bisect_left(output_edges, out)
        if i == len(input_edges) or k == len(output_edges):
            over.append((lineno, inp, out))
            if overflow == "error":
                continue
            i, k = min(i, len(input_edges) - 1), min(k, len(output_edges) - 1)
        counts[i][k] += 1
        n += 1
    if over and overflow == "error":
        line, inp, out = over[0]
        raise UserError(
            f"{len(over)} request(s) are longer than the last bucket edge (input {input_edges[-1]:g}, "
            f"output {output_edges[-1]:g} tokens), first at line {line}: {inp:g},{out:g}",
            source=str(path), field="workload.requests",
            fix="profile a larger last bucket, filter the file, or set workload.overflow: last_bucket")
    if n == 0:
        raise UserError("no requests in the file", source=str(path), field="workload.requests",
                        fix="give one `input_len,output_len` row per request")
    return tuple(tuple(c / n for c in row) for row in counts), n


def _rows(path: Path):
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError("request-size file not found", field="workload.requests", value=str(path),
                        fix="paths are relative to the config file's folder") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise UserError(f"corrupt gzip file: {e}", source=str(path)) from None
    text = io.StringIO(raw.decode("utf-8", errors="replace"))
    for lineno, row in enumerate(csv.reader(text), start=1):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 2:
            raise UserError(f"line {lineno}: expected `input_len,output_len`", source=str(path), value=row)
        try:
            inp, out = float(row[0]), float(row[1])
        except ValueError:
            if lineno == 1:
                continue  # header
            raise UserError(f"line {lineno}: token lengths must be numbers", source=str(path),
                            value=",".join(row)) from None
        if inp < 0 or out < 0 or inp != inp or out != out:
            raise UserError(f"line {lineno}: token lengths must be >= 0", source=str(path),
                            value=",".join(row))
        yield lineno, inp, out
