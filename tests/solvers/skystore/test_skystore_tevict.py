"""R4: T_evict's TTL choice; R5: replica source and TTL refresh; the decayed-window variant."""

import numpy as np
import pytest

from solvers.skystore import policies as P
from solvers.skystore.costmodel import GB, HOUR_S, MONTH_S, Prices
from solvers.skystore.simulator import simulate
from solvers.skystore.tevict import TEvictLearner, choose_ttl_hours, ttl_costs
from solvers.skystore.trace import make_trace

HIST = np.zeros(41)
HIST[[1, 5, 40]] = [10, 4, 6]
N, S = 0.024, 0.001  # T_even = 24 h


def test_r4_costs_and_choice():
    costs = ttl_costs(HIST, 5.0, N, S, 23)
    assert costs[:6] == pytest.approx([0.48, 0.261, 0.276, 0.291, 0.306, 0.2234], abs=1e-9)
    assert np.diff(costs[5:]) == pytest.approx([0.011] * 18)
    assert costs[23] == pytest.approx(0.4214)
    assert choose_ttl_hours(HIST, 5.0, N, S, 24.0) == 5


def test_ties_go_to_the_larger_ttl():
    # one GB re-read within the first hour; N equals the hit's 0.6 h of storage: cost(0) == cost(1)
    h = np.zeros(3)
    h[1] = 1.0
    s = 0.01
    n = (1.0 - 0.4) * 1.0 * s
    assert ttl_costs(h, 0.0, n, s, 1)[0] == ttl_costs(h, 0.0, n, s, 1)[1]
    assert choose_ttl_hours(h, 0.0, n, s, 10.0) == 1


def _learner_for_r4(min_reads):
    """One destination (region 1) with S = 0.001 $/GB-h and N(0->1) = 0.024 (T_even = 24 h)."""
    s_month = S * MONTH_S / HOUR_S
    p = Prices(("src", "dst"), (s_month, s_month), ((0.0, N), (N, 0.0)), (0.0, 0.0), (0.0, 0.0))
    lr = TEvictLearner(p, 1.0, min_reads=min_reads)
    lr.hist[1][1], lr.hist[1][5], lr.hist[1][-1] = 10.0, 4.0, 6.0  # 40 h: past T_even, clamped
    lr.last_gb[1] = 5.0
    return lr


def test_learner_uses_histogram_after_enough_reads():
    lr = _learner_for_r4(1000)
    lr.reads[1] = 1000
    assert lr.ttl(0, 1, now=0.0) == 5 * HOUR_S


def test_learner_falls_back_to_half_t_even():
    lr = _learner_for_r4(1000)
    lr.reads[1] = 999
    assert lr.ttl(0, 1, now=0.0) == pytest.approx(12 * HOUR_S)


def test_learner_recomputes_every_12h_only():
    lr = _learner_for_r4(1)
    lr.reads[1] = 1
    assert lr.ttl(0, 1, 0.0) == 5 * HOUR_S
    lr.hist[1][-1] = 0.0  # without the long gaps the best TTL is the largest candidate (5 h bucket)
    assert lr.ttl(0, 1, 11 * HOUR_S) == 5 * HOUR_S  # cached
    lr.hist[1][1] = 0.0
    lr.hist[1][23] = 100.0
    assert lr.ttl(0, 1, 12 * HOUR_S) == 23 * HOUR_S  # recomputed


def test_observe_buckets_gaps_by_size():
    lr = _learner_for_r4(1)
    lr.hist[1] = [0.0] * len(lr.hist[1])
    lr.last_gb[1] = 0.0
    lr.observe(7, 1, 2**30, 0.0)
    lr.observe(7, 1, 2**30, 4.5 * HOUR_S)  # gap 4.5 h -> bucket 5
    lr.observe(7, 1, 2**30, 4.5 * HOUR_S)  # gap 0 -> bucket 1
    assert lr.hist[1][5] == 1.0 and lr.hist[1][1] == 1.0
    assert lr.last_gb[1] == 1.0 and lr.reads[1] == 3


def test_decayed_histogram_follows_a_workload_shift():
    """10 h gaps, then 30 min gaps: the decayed learner shortens its TTL, the cumulative one lags."""
    s_month = S * MONTH_S / HOUR_S
    p = Prices(("src", "dst"), (s_month, s_month), ((0.0, N), (N, 0.0)), (0.0, 0.0), (0.0, 0.0))
    cum, dec = TEvictLearner(p, 1.0, min_reads=1), TEvictLearner(p, 1.0, min_reads=1, half_life_s=6 * HOUR_S)
    for lr in (cum, dec):
        for k in range(200):  # phase 1: each object re-read after 10 h
            lr.observe(k, 1, 2**30, k * 0.2 * HOUR_S)
            lr.observe(k, 1, 2**30, k * 0.2 * HOUR_S + 10 * HOUR_S)
        lr.ttl(0, 1, 50 * HOUR_S)
        for k in range(200, 260):  # phase 2: each object re-read after 30 min, four times
            for j in range(5):
                lr.observe(k, 1, 2**30, 60 * HOUR_S + k * 0.01 * HOUR_S + j * 0.5 * HOUR_S)
    assert cum.ttl(0, 1, 80 * HOUR_S) == 10 * HOUR_S
    assert dec.ttl(0, 1, 80 * HOUR_S) == 1 * HOUR_S


# R5, with the shipped list prices of these regions
R5 = Prices(("aws:us-east-1", "gcp:us-west1", "aws:us-west-2"), (0.023, 0.02, 0.023),
            ((0.0, 0.09, 0.02), (0.12, 0.0, 0.12), (0.02, 0.09, 0.0)), (0.0,) * 3, (0.0,) * 3)


def _r5_trace(times, regions):
    n = len(times)
    return make_trace(times, [1] + [0] * (n - 1), regions, [0] * n, [2**30] * n, R5.names)


def test_read_from_cheapest_replica():
    # PUT in gcp (base), GET in us-west-2 (replica), GET in us-east-1: served by us-west-2 at 0.02
    tr = _r5_trace([0, 60, 120], [1, 2, 0])
    r = simulate(tr, R5, P.AlwaysStore(R5, 1))
    assert r.network_cost == pytest.approx(0.12 + 0.02)


def test_local_hit_refreshes_expiry():
    # fixed TTL 1 h: reads in us-west-2 at 0:10, 1:00, 1:50 are two hits (each refreshes the expiry)
    tr = _r5_trace([0, 600, 3600, 6600], [1, 2, 2, 2])
    r = simulate(tr, R5, P.FixedTTL(R5, 1, 1))
    assert (r.hits, r.misses) == (2, 1)
    assert r.network_cost == pytest.approx(0.12)
    # the replica would live until 1:50 + 1 h; storage is charged to the end of the trace (1:50)
    assert r.storage_cost == pytest.approx(6600 / MONTH_S * 0.02 + (6600 - 600) / MONTH_S * 0.023)


def test_expired_replica_is_never_served():
    # us-west-2's 1 h replica has expired at 2 h, so us-east-1 must read from gcp at 0.12
    tr = _r5_trace([0, 60, 2 * 3600 + 60], [1, 2, 0])
    r = simulate(tr, R5, P.FixedTTL(R5, 1, 1))
    assert r.network_cost == pytest.approx(0.12 + 0.12)
    assert r.storage_cost == pytest.approx((2 * 3600 + 60) / MONTH_S * 0.02 + 3600 / MONTH_S * 0.023)


def test_gb_is_binary():
    assert GB == 2**30
