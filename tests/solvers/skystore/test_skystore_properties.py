"""R3: ski-rental bounds and accounting identities, on random traces (hypothesis)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solvers.skystore import policies as P
from solvers.skystore.costmodel import GB, MONTH_S, Prices
from solvers.skystore.optimum import optimum
from solvers.skystore.simulator import simulate
from solvers.skystore.trace import make_trace, next_read_same_region

DAY = 86400.0
S_MONTH, N = 0.02, 0.02
PAIR = Prices(("A", "B"), (S_MONTH, S_MONTH), ((0.0, N), (N, 0.0)), (0.0, 0.0), (0.0, 0.0))
THREE = Prices(("A", "B", "C"), (0.023, 0.0196, 0.02),
               ((0.0, 0.09, 0.09), (0.0875, 0.0, 0.0875), (0.12, 0.12, 0.0)), (0.0,) * 3, (0.0,) * 3)

gaps = st.lists(st.floats(min_value=0.0, max_value=80.0), min_size=1, max_size=25)


def _pair_trace(gap_days, size):
    times = [0.0]
    for g in gap_days:
        times.append(times[-1] + g * DAY)
    n = len(times)
    return make_trace(times, [1] + [0] * (n - 1), [0] + [1] * (n - 1), [0] * n, [size] * n, ["A", "B"])


def _all_policies(prices, trace):
    return [P.AlwaysStore(prices, 1), P.AlwaysEvict(prices, 1), P.ReplicateAll(prices, 1), P.TEven(prices, 1),
            P.FixedTTL(prices, 1, 12), P.FixedTTL(prices, 1, 1000), P.LRU(prices, 1, 3 * 2**30),
            P.EWMA(prices, 1), P.TEvict(prices, 1, min_reads=3),
            P.TEvict(prices, 1, half_life_h=24, min_reads=3),
            P.Clairvoyant(prices, 1, next_read_same_region(trace))]


@settings(max_examples=60, deadline=None)
@given(gaps, st.integers(min_value=1, max_value=4 * 2**30), st.floats(min_value=0, max_value=50))
def test_single_pair_bounds(gap_days, size, tail_days):
    trace = _pair_trace(gap_days, size)
    horizon = float(trace.t[-1]) + tail_days * DAY
    opt = optimum(trace, PAIR, horizon=horizon).total_cost
    for pol in _all_policies(PAIR, trace):
        assert opt <= simulate(trace, PAIR, pol, horizon=horizon).total_cost + 1e-9, pol.name
    teven = simulate(trace, PAIR, P.TEven(PAIR, 1), horizon=horizon).total_cost
    assert teven <= 2 * opt + N * size / GB + 1e-9
    # the clairvoyant rule is exact with one permanent source and one reader region
    clair = simulate(trace, PAIR, P.Clairvoyant(PAIR, 1, next_read_same_region(trace)), horizon=horizon)
    assert clair.total_cost == pytest.approx(opt, rel=1e-9, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(gaps, st.integers(min_value=1, max_value=2**31))
def test_always_evict_pays_every_remote_get(gap_days, size):
    trace = _pair_trace(gap_days, size)
    r = simulate(trace, PAIR, P.AlwaysEvict(PAIR, 1))
    assert r.network_cost == pytest.approx(len(gap_days) * N * size / GB)
    assert r.misses == len(gap_days) and r.hits == 0


events = st.lists(st.tuples(st.floats(min_value=0, max_value=20), st.booleans(), st.integers(0, 2),
                            st.integers(0, 3)), min_size=1, max_size=30)


def _multi_trace(evs):
    t, w, r, o = [], [], [], []
    now = 0.0
    for gap, write, region, obj in evs:
        now += gap * DAY
        t.append(now)
        w.append(write)
        r.append(region)
        o.append(obj)
    sizes = [(k + 1) * 2**29 for k in o]
    return make_trace(t, w, r, o, sizes, ["A", "B", "C"], n_objects=4)


@settings(max_examples=60, deadline=None)
@given(events, st.booleans())
def test_exact_optimum_is_a_lower_bound_with_writes(evs, base):
    trace = _multi_trace(evs)
    opt = optimum(trace, THREE, base=base).total_cost
    for pol in _all_policies(THREE, trace):
        assert opt <= simulate(trace, THREE, pol, base=base).total_cost + 1e-9, pol.name


@settings(max_examples=40, deadline=None)
@given(events)
def test_replicate_all_pushes_every_write(evs):
    trace = _multi_trace(evs)
    r = simulate(trace, THREE, P.ReplicateAll(THREE, 1))
    pushes = sum(sum(THREE.egress[w][d] for d in range(3)) * s / GB
                 for w, s, is_w in zip(trace.region, trace.size, trace.write, strict=True) if is_w)
    assert r.network_cost == pytest.approx(pushes)
    assert r.misses == 0


def _version_lives(trace):
    """(region of the write, size, lifetime in seconds) of every version."""
    end = float(trace.t[-1])
    out = []
    for i in range(len(trace)):
        if trace.write[i]:
            o = trace.obj[i]
            later = [trace.t[j] for j in range(i + 1, len(trace)) if trace.obj[j] == o and trace.write[j]]
            out.append((int(trace.region[i]), int(trace.size[i]), (later[0] if later else end) - trace.t[i]))
    return out


@settings(max_examples=40, deadline=None)
@given(events)
def test_base_copies_are_never_deleted(evs):
    trace = _multi_trace(evs)
    floor = sum(s / GB * THREE.storage[w] / MONTH_S * life for w, s, life in _version_lives(trace))
    for pol in (P.AlwaysEvict(THREE, 1), P.FixedTTL(THREE, 1, 1), P.TEvict(THREE, 1)):
        assert simulate(trace, THREE, pol, base=True).storage_cost >= floor - 1e-12


@settings(max_examples=40, deadline=None)
@given(events)
def test_no_base_mode_keeps_a_copy_at_every_moment(evs):
    trace = _multi_trace(evs)
    cheapest = min(THREE.storage)
    floor = sum(s / GB * cheapest / MONTH_S * life for _, s, life in _version_lives(trace))
    for pol in (P.AlwaysEvict(THREE, 1), P.FixedTTL(THREE, 1, 1), P.TEven(THREE, 1), P.TEvict(THREE, 1)):
        r = simulate(trace, THREE, pol, base=False)
        assert r.storage_cost >= floor - 1e-12
