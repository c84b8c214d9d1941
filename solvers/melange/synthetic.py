"""Random but plausible Mélange instances, for benchmarks and property tests (seeded, reproducible).

GPU types differ in speed (0.3x-4x a base table), memory (long inputs are ineligible on small GPUs) and price
(roughly speed^0.6-1.1, +-40%, rounded to cents, so many mixes are near-ties as with real price lists). The
throughput falls with input and output length like a real profile; one type can serve every bucket.
"""

from __future__ import annotations

import numpy as np

from solvers.melange.problem import GpuType, Problem


def random_problem(n_types: int, n_buckets: int, slice_factor: int, seed: int, rate: float = 64.0) -> Problem:
    """`n_buckets` = input buckets x output buckets (6 output buckets when it divides, else 5)."""
    rng = np.random.default_rng(seed)
    n_out = 6 if n_buckets % 6 == 0 else 5
    n_in = max(1, n_buckets // n_out)
    ins, outs = np.geomspace(25, 16000, n_in), np.geomspace(25, 2000, n_out)
    base = 2000.0 / (ins[:, None] / 10 + outs[None, :] * 3)
    speed = rng.uniform(0.3, 4.0, n_types)
    price = np.round(speed ** rng.uniform(0.6, 1.1, n_types) * rng.uniform(0.6, 1.4, n_types), 2)
    mem = rng.choice([16, 24, 48, 80], n_types)
    big = int(np.argmax(mem))
    gpus = []
    for j in range(n_types):
        long_context = 1 + (ins[:, None] / 4000) ** (speed[j] - 1.5)  # fast GPUs degrade less
        t = base * speed[j] * rng.uniform(0.7, 1.3, (n_in, n_out)) * long_context
        if j != big:
            t[ins > mem[j] * 250] = 0.0
        gpus.append(GpuType(f"G{j}", max(float(price[j]), 0.01), tuple(map(tuple, np.round(t, 3).tolist()))))
    p = rng.dirichlet(np.full(n_in * n_out, 0.5)).reshape(n_in, n_out)
    return Problem(tuple(gpus), tuple(map(tuple, (p * rate).tolist())), slice_factor)
