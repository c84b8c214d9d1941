"""R2: one 1 GB object, base region A, GETs from B at days 1, 11 and 51, horizon day 60."""

import pytest

from solvers.skystore import policies as P
from solvers.skystore.costmodel import Prices, uniform_prices
from solvers.skystore.optimum import optimum
from solvers.skystore.simulator import simulate
from solvers.skystore.trace import make_trace, next_read_same_region

DAY = 86400.0
GIB = 2**30
PRICES = uniform_prices(["A", "B"], storage=0.02, egress=0.02)
TRACE = make_trace([0, DAY, 11 * DAY, 51 * DAY], [1, 0, 0, 0], [0, 1, 1, 1], [0] * 4, [GIB] * 4, ["A", "B"])
BASE_A = 0.04  # 60 days of the base copy


def _run(policy, prices=PRICES):
    return simulate(TRACE, prices, policy, horizon=60 * DAY)


@pytest.mark.parametrize(("make", "total", "hits", "misses"), [
    (lambda p: P.AlwaysEvict(p, 1), 0.100, 0, 3),
    (lambda p: P.AlwaysStore(p, 1), 0.099333, 2, 1),
    (lambda p: P.ReplicateAll(p, 1), 0.100, 3, 0),
    (lambda p: P.TEven(p, 1), 0.112667, 1, 2),
    (lambda p: P.FixedTTL(p, 1, 12), 0.101, 0, 3),
    (lambda p: P.Clairvoyant(p, 1, next_read_same_region(TRACE)), 0.086667, 1, 2),
])
def test_policy_totals(make, total, hits, misses):
    r = _run(make(PRICES))
    assert r.total_cost == pytest.approx(total, abs=1e-6)
    assert (r.hits, r.misses) == (hits, misses)
    assert r.request_cost == 0


def test_exact_optimum_and_competitive_ratio():
    opt = optimum(TRACE, PRICES, horizon=60 * DAY)
    assert opt.total_cost == pytest.approx(0.086667, abs=1e-6)
    assert opt.network_cost == pytest.approx(0.04)
    teven = _run(P.TEven(PRICES, 1)).total_cost
    ratio = (teven - BASE_A) / (opt.total_cost - BASE_A)
    assert ratio == pytest.approx(1.557, abs=1e-3)
    assert ratio <= 2


def test_request_charges_add_gets_and_puts():
    get, put = 4e-7, 5e-6
    p = Prices(PRICES.names, PRICES.storage, PRICES.egress, (get, get), (put, put))
    r = _run(P.AlwaysStore(p, 1), p)
    assert r.request_cost == pytest.approx(3 * get + 2 * put)  # PUT in A, PUT of B's replica
    assert r.total_cost == pytest.approx(0.099333 + 3 * get + 2 * put, abs=1e-6)
    assert optimum(TRACE, p, horizon=60 * DAY).request_cost == pytest.approx(3 * get + 2 * put)
