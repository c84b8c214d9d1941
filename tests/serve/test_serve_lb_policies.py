"""Load-balancing policies as pure classes: distributions and in-flight accounting under churn."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from skyctl.errors import UserError
from skyctl.serve.load_balancer.policies import (
    Backend,
    InstanceAwareLeastLoad,
    LeastLoad,
    RoundRobin,
    make_policy,
)

A, B, C = (Backend(f"http://10.0.0.{i}:8000", i) for i in (1, 2, 3))


def spread(policy, n: int) -> Counter:
    """Endpoints of n requests that each finish before the next starts."""
    out = Counter()
    for _ in range(n):
        lease = policy.acquire()
        out[lease.backend.endpoint] += 1
        lease.release()
    return out


def test_round_robin_is_even_and_follows_set_changes() -> None:
    rr = RoundRobin()
    rr.set_backends([A, B, C])
    assert spread(rr, 300) == {A.endpoint: 100, B.endpoint: 100, C.endpoint: 100}
    rr.set_backends([A, C])
    assert spread(rr, 100) == {A.endpoint: 50, C.endpoint: 50}


def test_least_load_picks_the_least_busy_and_spreads_ties() -> None:
    ll = LeastLoad()
    ll.set_backends([A, B, C])
    held = [ll.acquire() for _ in range(6)]
    assert Counter(lease.backend.endpoint for lease in held) == {A.endpoint: 2, B.endpoint: 2, C.endpoint: 2}
    for lease in held:
        if lease.backend == A:
            lease.release()
    assert ll.acquire().backend == A  # A has 0 in flight, B and C have 2
    idle = LeastLoad()
    idle.set_backends([A, B])
    assert spread(idle, 10) == {A.endpoint: 5, B.endpoint: 5}


def test_instance_aware_divides_load_by_capacity() -> None:
    big, small = Backend("http://h100:1", 1, weight=10.0), Backend("http://l4:1", 2, weight=2.0)
    ia = InstanceAwareLeastLoad()
    ia.set_backends([small, big])
    held = Counter(ia.acquire().backend.endpoint for _ in range(60))
    assert abs(held[big.endpoint] - 50) <= 1 and abs(held[small.endpoint] - 10) <= 1
    assert ia.inflight(big.endpoint) == held[big.endpoint]


def test_release_is_idempotent_and_counts_never_go_negative() -> None:
    ll = LeastLoad()
    ll.set_backends([A])
    lease = ll.acquire()
    lease.release()
    lease.release()
    assert ll.inflight(A.endpoint) == 0


def test_counter_survives_replica_leaving_and_coming_back() -> None:
    ll = LeastLoad()
    ll.set_backends([A, B])
    on_a = [ll.acquire(avoid=[B.endpoint]) for _ in range(3)]
    assert ll.inflight(A.endpoint) == 3
    ll.set_backends([B])  # A leaves with 3 in flight
    assert ll.inflight(A.endpoint) == 3
    on_a[0].release()
    ll.set_backends([A, B])  # A is back before its requests finished: its own counter continues
    assert ll.inflight(A.endpoint) == 2
    assert ll.acquire().backend == B
    for lease in on_a:
        lease.release()
    ll.set_backends([B])
    assert ll.inflight(A.endpoint) == 0


@pytest.mark.parametrize("cls", [RoundRobin, LeastLoad, InstanceAwareLeastLoad])
def test_random_churn_keeps_counts_equal_to_open_leases(cls) -> None:
    rng = random.Random(7)
    pool = [Backend(f"http://r{i}:1", i, weight=rng.choice([1.0, 2.0, 5.0])) for i in range(6)]
    policy = cls()
    open_leases = []
    for _ in range(3000):
        op = rng.random()
        if op < 0.45:
            lease = policy.acquire(avoid=[b.endpoint for b in rng.sample(pool, 2)])
            if lease is not None:
                assert lease.backend in policy.backends
                open_leases.append(lease)
        elif op < 0.9 and open_leases:
            open_leases.pop(rng.randrange(len(open_leases))).release()
        else:
            policy.set_backends(rng.sample(pool, rng.randint(0, len(pool))))
        expected = Counter(lease.backend.endpoint for lease in open_leases)
        for b in pool:
            assert policy.inflight(b.endpoint) == expected[b.endpoint] >= 0
    for lease in open_leases:
        lease.release()
    assert all(policy.inflight(b.endpoint) == 0 for b in pool)


def test_avoid_prefers_other_replicas_but_falls_back() -> None:
    rr = RoundRobin()
    rr.set_backends([A, B])
    assert {rr.acquire(avoid=[A.endpoint]).backend for _ in range(4)} == {B}
    assert rr.acquire(avoid=[A.endpoint, B.endpoint]).backend in (A, B)
    assert RoundRobin().acquire() is None


def test_unknown_policy_names_the_field_and_suggests() -> None:
    assert make_policy("round_robin").name == "round_robin"
    with pytest.raises(UserError) as err:
        make_policy("least_loaded")
    assert "service.load_balancing_policy" in str(err.value) and "least_load" in str(err.value)
