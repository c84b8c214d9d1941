"""Bucket policies: names, T_even arithmetic, the TTL source rule, and the cheapest source."""

from __future__ import annotations

import pytest
from bucket_support import DAY, GB, REGIONS, TablePrices

from skyctl.errors import UserError
from skyctl.store.policy import (
    TEVICT_MIN_READS,
    Candidate,
    Policy,
    ReadHistory,
    cheapest_source,
    read_history,
    t_even_s,
)

A, B, C = REGIONS


def test_t_even_matches_the_reference_arithmetic() -> None:
    prices = TablePrices(storage={A: 0.02, B: 0.023, C: 0.0})
    assert t_even_s(prices, A, B) / DAY == pytest.approx(26.087, abs=1e-3)  # R1: 0.02 / 0.023 months
    assert t_even_s(prices, A, C) == -1  # free storage: keep forever


def test_ttl_is_sized_against_a_source_that_outlives_it() -> None:
    p = Policy("t-even", TablePrices(), tuple(REGIONS))
    now = 0.0
    base_c = Candidate(C, None)  # permanent, but C -> A costs 0.12: T_even 180 days
    assert p.ttl(A, [base_c], now) == pytest.approx(180 * DAY)
    assert p.ttl(A, [base_c, Candidate(B, now + 40 * DAY)], now) == pytest.approx(30 * DAY)
    # B would be gone before a 30-day TTL runs out: do not count on it.
    assert p.ttl(A, [base_c, Candidate(B, now + 10 * DAY)], now) == pytest.approx(180 * DAY)
    # A later permanent candidate replaces the first.
    assert p.ttl(A, [Candidate(B, now + 10 * DAY), base_c], now) == pytest.approx(180 * DAY)


def test_lone_copy_uses_the_median_egress_into_its_region() -> None:
    p = Policy("t-even", TablePrices(), tuple(REGIONS))
    assert p.lone_ttl(A) == pytest.approx(0.07 / 0.02 * 30 * DAY)
    assert Policy("fixed-ttl", TablePrices(), tuple(REGIONS), 60.0).lone_ttl(A) == 60.0
    assert Policy("always-store", TablePrices(), tuple(REGIONS)).lone_ttl(A) == -1


def test_only_always_evict_skips_the_copy() -> None:
    names = ("t-evict", "t-even", "fixed-ttl", "always-store", "always-evict")
    assert [Policy(n, TablePrices(), ()).copies_on_read for n in names] == [True] * 4 + [False]


def test_cheapest_source_prefers_local_then_lowest_egress() -> None:
    prices = TablePrices()
    assert cheapest_source(prices, [C, B], A) == B
    assert cheapest_source(prices, [C, A], A) == A


@pytest.mark.parametrize(("name", "ttl", "needle"), [
    ("teven", None, "did you mean 't-even'"),
    ("fixed-ttl", None, "--ttl"),
    ("fixed-ttl", -5.0, "positive"),
    ("t-even", 60.0, "only applies"),
])
def test_policy_check_refuses_bad_settings(name: str, ttl: float | None, needle: str) -> None:
    with pytest.raises(UserError, match=needle):
        Policy.check(name, ttl)


def test_t_evict_picks_the_reference_ttl() -> None:
    """Reference R4: hist {1 h: 10 GB, 5 h: 4 GB, 40 h: 6 GB}, last 5 GB, N 0.024, s 0.001 $/GB-h
    (T_even 24 h): the cheapest TTL is 5 h; with fewer than 1000 reads it is T_even / 2 = 12 h."""
    prices = TablePrices(storage={A: 0.72, B: 0.72}, egress={(A, B): 0.024, (B, A): 0.024})
    hist = [0.0] * 41
    hist[1], hist[5], hist[40] = 10.0, 4.0, 6.0
    learned = ReadHistory(tuple(hist), 5.0, TEVICT_MIN_READS)
    assert Policy("t-evict", prices, (A, B), history={B: learned}).pair_ttl(A, B) == pytest.approx(5 * 3600)
    cold = ReadHistory(tuple(hist), 5.0, TEVICT_MIN_READS - 1)
    assert Policy("t-evict", prices, (A, B), history={B: cold}).pair_ttl(A, B) == pytest.approx(12 * 3600)
    assert Policy("t-evict", prices, (A, B)).pair_ttl(A, B) == pytest.approx(12 * 3600)


def test_read_history_buckets_gaps_by_the_hour() -> None:
    h = read_history([(1, GB, 0.0), (2, 2 * GB, 10.0), (1, GB, 3600.0), (1, GB, 3600.0),
                      (2, 2 * GB, 5 * 3600.0)])
    assert h.reads == 5 and h.last_gb == 3.0
    assert h.hist[1] == 2.0 and h.hist[5] == 2.0 and sum(h.hist) == 4.0  # a 0 s gap counts as bucket 1
