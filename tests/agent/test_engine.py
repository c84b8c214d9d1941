"""LLMEngine API: requests, stop rules, aborts, back-pressure, the service ledger and stats."""

from __future__ import annotations

import pytest
from fake_runner import FakeRunner, make_engine

from replica_agent.config import EngineConfig
from replica_agent.engine import InvalidRequestError, LLMEngine, QueueFullError
from replica_agent.sampling import SamplingParams

GREEDY = SamplingParams(temperature=0, max_tokens=8)


def finish_all(engine) -> dict[str, list]:
    outs: dict[str, list] = {}
    while engine.has_unfinished():
        for out in engine.step():
            outs.setdefault(out.request_id, []).append(out)
    return outs


def test_stop_rules_eos_stop_ids_length_and_model_len():
    config = EngineConfig(block_size=4, num_blocks=64, max_model_len=20)
    runner = FakeRunner(64, 4, eos_token_id=0, eos_at={"eos": 3, "ignored": 2})
    engine = LLMEngine(config, runner)
    engine.add_request([1, 2, 3], SamplingParams(temperature=0, max_tokens=10), request_id="eos")
    engine.add_request([1, 2, 3], SamplingParams(temperature=0, max_tokens=5, ignore_eos=True),
                       request_id="ignored")
    engine.add_request([1, 2, 3], SamplingParams(temperature=0, max_tokens=50), request_id="long")
    outs = finish_all(engine)
    assert [o.new_token_ids[0] for o in outs["eos"]][-1] == 0 and len(outs["eos"]) == 3
    assert outs["eos"][-1].finish_reason == "stop" and not any(o.finished for o in outs["eos"][:-1])
    assert len(outs["ignored"]) == 5 and outs["ignored"][-1].finish_reason == "length"
    assert len(outs["long"]) == 20 - 3 and outs["long"][-1].finish_reason == "length"  # max_model_len
    third = outs["long"][2].new_token_ids[0]
    engine.add_request([1, 2, 3], SamplingParams(temperature=0, max_tokens=50, stop_token_ids=(third,)),
                       request_id="stopid")
    stopped = finish_all(engine)["stopid"]
    assert len(stopped) == 3 and stopped[-1].finish_reason == "stop"
    assert runner.released >= {s for s in range(4)}


def test_abort_frees_blocks_at_once_and_keeps_the_charge():
    engine, runner = make_engine(block_size=4, num_blocks=32, max_model_len=128)
    rid = engine.add_request(list(range(1, 30)), SamplingParams(temperature=0, max_tokens=50), "a")
    for _ in range(3):
        engine.step()
    charged = engine.stats().service_per_client["a"]
    assert charged == 29 * 1.0 + 3 * 2.0
    engine.abort(rid, reason="stop")
    kv = engine.kv
    assert kv.num_free + kv.num_evictable == kv.pool.num_blocks and not engine.has_unfinished()
    assert engine.stats().service_per_client["a"] == charged
    assert runner.released == {0}
    engine.abort(rid)  # unknown / already gone: a no-op
    engine.abort("never-existed")
    assert engine.step() == []


def test_abort_of_a_waiting_request_and_of_pending_samples():
    engine, _ = make_engine(block_size=4, num_blocks=64, max_num_seqs=2, max_model_len=128)
    first = engine.add_request([1, 2, 3], SamplingParams(temperature=1, max_tokens=20, n=2, seed=3))
    queued = engine.add_request([4, 5, 6], GREEDY)
    engine.abort(first)  # parent waiting, its sample pending: both go
    engine.abort(queued)
    assert len(engine.scheduler.waiting) == 0 and engine.scheduler.reserved_seats == 0
    assert not engine.has_unfinished() and engine.step() == []


def test_queue_full_raises_with_retry_after():
    engine, _ = make_engine(max_waiting=3)
    for _ in range(3):
        engine.add_request([1, 2], GREEDY)
    with pytest.raises(QueueFullError) as err:
        engine.add_request([1, 2], GREEDY)
    assert err.value.retry_after_s > 0
    engine.step()  # admission drains the queue, so new requests are accepted again
    engine.add_request([1, 2], GREEDY)


@pytest.mark.parametrize(("prompt", "params", "match"), [
    ([], GREEDY, "empty"),
    (list(range(300)), GREEDY, "max_model_len"),
    ([1, 2], SamplingParams(max_tokens=200, n=4), "KV blocks"),
])
def test_requests_that_can_never_run_are_rejected(prompt, params, match):
    engine, _ = make_engine(block_size=4, num_blocks=64, max_model_len=256)
    with pytest.raises(InvalidRequestError, match=match):
        engine.add_request(prompt, params)


def test_duplicate_request_id_is_rejected():
    engine, _ = make_engine()
    engine.add_request([1], GREEDY, request_id="x")
    with pytest.raises(InvalidRequestError, match="already in flight"):
        engine.add_request([1], GREEDY, request_id="x")


def test_ledger_equals_weighted_prompt_and_output_tokens():
    engine, _ = make_engine(block_size=4, num_blocks=128, max_model_len=128, w_p=1.0, w_q=2.0)
    prompts = [list(range(1, 20)), [*range(1, 20), 7], list(range(50, 61))]
    outs = engine.generate(prompts, GREEDY, client_ids=["a", "a", "b"])
    service = engine.stats().service_per_client
    assert service == {"a": 19 + 20 + 2 * 16.0, "b": 11 + 2 * 8.0}  # cache hits are charged by default
    assert [len(o) for o in outs] == [8, 8, 8]


def test_uncharged_cache_hits_stay_out_of_the_ledger():
    engine, _ = make_engine(block_size=4, num_blocks=128, max_model_len=128, charge_cached_tokens=False)
    engine.generate([list(range(1, 20))], GREEDY, client_ids=["a"])
    engine.generate([[*range(1, 20), 7]], GREEDY, client_ids=["a"])
    assert engine.stats().prefix_hit_tokens == 16
    assert engine.stats().service_per_client["a"] == 19 + (20 - 16) + 2 * 16.0


def test_stats_snapshot_is_consistent():
    engine, _ = make_engine(policy="vtc", block_size=4, num_blocks=64, max_num_seqs=2, max_model_len=128)
    for client in ("a", "b", "b"):
        engine.add_request(list(range(1, 10)), SamplingParams(temperature=0, max_tokens=4), client)
    engine.step()
    s = engine.stats()
    assert s.num_running == 2 and s.num_waiting == 1
    assert s.running_per_client == {"a": 1, "b": 1} and s.waiting_per_client == {"b": 1}
    assert set(s.policy_state["counter"]) == {"a", "b"}
    assert s.kv_blocks_free + s.kv_blocks_evictable <= s.kv_blocks_total
    assert s.prompt_tokens == 27 and s.generated_tokens == 2 and s.step == 1
    finish_all(engine)
    s = engine.stats()
    assert s.generated_tokens == 12 and s.kv_blocks_free + s.kv_blocks_evictable == s.kv_blocks_total


def test_parallel_samples_report_their_index():
    engine, _ = make_engine(block_size=4, num_blocks=64, max_model_len=64)
    rid = engine.add_request([1, 2, 3, 4, 5], SamplingParams(temperature=1.0, max_tokens=4, n=3, seed=9))
    outs = finish_all(engine)[rid]
    assert sorted({o.seq_index for o in outs}) == [0, 1, 2]
    assert sum(o.finished for o in outs) == 3
