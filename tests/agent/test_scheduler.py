"""Scheduler and policy behaviour: budgets, seats, admission modes, preemption and policy order."""

from __future__ import annotations

import pytest
from fake_runner import ClientLoad, drive, make_engine

from replica_agent.config import ConfigError, EngineConfig
from replica_agent.sampling import SamplingParams
from replica_agent.scheduler.policy import WaitingQueue
from replica_agent.scheduler.vtc import VTCPolicy
from replica_agent.sequence import Sequence, SequenceStatus

GREEDY = SamplingParams(temperature=0, max_tokens=8)


def seq(seq_id: int, client: str, prompt_len: int = 4, arrival: float = 0.0) -> Sequence:
    return Sequence(seq_id, f"r{seq_id}", client, list(range(1, prompt_len + 1)), prompt_len, GREEDY,
                    arrival=arrival)


def test_chunked_prefill_respects_token_budget_and_seat_limit():
    engine, runner = make_engine(block_size=4, num_blocks=128, max_num_seqs=3, max_batched_tokens=16,
                                 max_model_len=128)
    for i in range(6):
        engine.add_request(list(range(10 * i, 10 * i + 37)), GREEDY, f"c{i}")
    engine.step()
    first = engine.scheduler.running[0]
    assert first.num_computed_tokens == 16  # a 37-token prompt is prefilled in chunks of the budget
    while engine.has_unfinished():
        engine.step()
        assert len(engine.scheduler.running) <= 3
    assert max(runner.step_tokens) <= 16
    assert runner.tokens_computed == 6 * 37 + 6 * 7  # the last output token is never fed back


def test_decode_goes_before_new_prefill():
    engine, runner = make_engine(block_size=4, num_blocks=128, max_num_seqs=4, max_batched_tokens=8,
                                 max_model_len=128)
    engine.add_request(list(range(1, 6)), SamplingParams(temperature=0, max_tokens=20))
    engine.step()  # prefill (5 tokens)
    engine.add_request(list(range(100, 140)), GREEDY, "other")
    engine.step()
    assert runner.step_tokens[-1] == 8 and engine.scheduler.running[1].num_computed_tokens == 7


def test_conservative_admission_never_preempts_where_optimistic_does():
    loads = {"A": ClientLoad(every=1, prompt_len=12, max_tokens=40), "B": ClientLoad(every=2, prompt_len=30,
                                                                                       max_tokens=20)}
    cfg = dict(block_size=4, num_blocks=40, max_num_seqs=8, max_batched_tokens=64, max_model_len=128)
    optimistic, _ = make_engine(**cfg)
    drive(optimistic, loads, steps=300, check=True)
    conservative, _ = make_engine(admission="conservative", **cfg)
    drive(conservative, loads, steps=300, check=True)
    assert optimistic.stats().preemptions > 0
    assert conservative.stats().preemptions == 0
    assert conservative.stats().generated_tokens > 0


def test_preemption_takes_the_newest_and_requeues_it_first():
    engine, _ = make_engine(block_size=2, num_blocks=12, max_num_seqs=4, max_batched_tokens=64,
                            max_model_len=64, watermark_blocks=0)
    long = SamplingParams(temperature=0, max_tokens=16)
    old = engine.add_request([1, 2, 3], long, "a")
    new = engine.add_request([4, 5, 6], long, "b")
    while not engine.stats().preemptions:
        engine.step()
    waiting = engine.scheduler.waiting
    victim = engine.requests[new][0]
    assert victim.status is SequenceStatus.WAITING and victim.num_preemptions == 1
    assert waiting.queues["b"][0] is victim and not victim.block_table
    assert engine.requests[old][0].status is SequenceStatus.RUNNING


def test_vtc_lift_uses_queued_clients_or_the_last_to_leave():
    policy, q = VTCPolicy(EngineConfig(policy="vtc")), WaitingQueue()
    policy.counter.update({"a": 100.0, "b": 40.0, "c": 0.0})
    q.push(seq(1, "a"))
    q.push(seq(2, "b"))
    fresh = seq(3, "c")
    policy.on_arrival(fresh, q, client_active=False)
    assert policy.counter["c"] == 40.0  # lifted to the smallest queued counter
    q.remove(q.queues["a"][0])
    q.remove(q.queues["b"][0])  # queue now empty; "b" left last
    policy.counter["d"] = 5.0
    policy.on_arrival(seq(4, "d"), q, client_active=False)
    assert policy.counter["d"] == 40.0
    policy.counter["e"] = 90.0
    policy.on_arrival(seq(5, "e"), q, client_active=False)
    assert policy.counter["e"] == 90.0  # the lift never lowers a counter


def test_vtc_does_not_skip_the_client_whose_turn_it_is():
    engine, _ = make_engine(policy="vtc", block_size=4, num_blocks=20, max_num_seqs=8, max_batched_tokens=256,
                            max_model_len=80)
    engine.add_request(list(range(1, 41)), SamplingParams(temperature=0, max_tokens=30), "big")
    engine.step()  # "big" holds 10+ blocks and its counter rose
    engine.add_request(list(range(100, 160)), GREEDY, "heavy")  # needs 15 blocks: does not fit
    engine.add_request([7, 7], GREEDY, "heavy")
    engine.add_request([5, 5], GREEDY, "tiny")  # would fit, but "heavy" has the smaller counter
    engine.step()
    assert engine.stats().waiting_per_client == {"heavy": 2, "tiny": 1}


def test_lpm_prefers_the_longest_cached_prefix():
    engine, _ = make_engine(policy="lpm", block_size=4, num_blocks=64, max_num_seqs=1, max_batched_tokens=256)
    warm = list(range(1, 25))
    engine.generate([[*warm, 99]], GREEDY)
    cold = engine.add_request(list(range(500, 525)), GREEDY, "x")
    hot = engine.add_request([*warm, 42], GREEDY, "y")
    engine.step()
    assert [s.request_id for s in engine.scheduler.running] == [hot]
    assert engine.requests[hot][0].num_cached_tokens == 24 and cold in engine.requests


def test_dlpm_refills_deficits_and_resets_idle_clients():
    engine, _ = make_engine(policy="dlpm", quantum=10.0, block_size=4, num_blocks=64, max_num_seqs=1,
                            max_batched_tokens=256)
    engine.add_request([1, 2, 3, 4, 5], SamplingParams(temperature=0, max_tokens=2), "a")
    engine.step()
    deficit = engine.stats().policy_state["deficit"]
    assert deficit["a"] == pytest.approx(10.0 - 5.0 - 2.0)  # one refill, prompt charge, one token
    while engine.has_unfinished():
        engine.step()
    engine.scheduler.policy.deficit["a"] = -50.0
    engine.add_request([1, 2, 3], GREEDY, "a")  # "a" was idle: it may not carry debt or credit
    assert engine.scheduler.policy.deficit["a"] == 0.0


def test_dlpm_runs_same_prefix_streaks_of_about_one_quantum():
    """Each request costs 8+1 prompt + 2 (one token) = 11 service; a quantum of 20 buys two in a row."""
    order = {}
    for policy in ("dlpm", "vtc"):
        engine, _ = make_engine(policy=policy, quantum=20.0, block_size=4, num_blocks=128, max_num_seqs=1,
                                max_batched_tokens=256)
        one = SamplingParams(temperature=0, max_tokens=1)
        client_of = {engine.add_request([ord(c)] * 8 + [i], one, c): c for c in "ab" for i in range(4)}
        admitted = []
        while engine.has_unfinished():
            admitted += [client_of[out.request_id] for out in engine.step()]
        order[policy] = "".join(admitted)
    assert order["dlpm"] == "aabbaabb"
    assert order["vtc"] == "abababab"


BAD_VALUES = [("block_size", 0), ("policy", "lottery"), ("admission", "maybe"), ("quantum", -1.0),
              ("watermark_blocks", 5000)]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ConfigError) as err:
        EngineConfig(**{field: value})
    assert err.value.field == field and repr(value) in str(err.value)


def test_config_rejects_non_positive_client_weight():
    with pytest.raises(ConfigError, match=r"client_weights\[x\]"):
        EngineConfig(client_weights={"x": 0.0})
