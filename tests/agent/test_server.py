"""S1-S3: the OpenAI-compatible server over a real uvicorn on 127.0.0.1, driven with httpx."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from replica_agent.config import EngineConfig
from replica_agent.model.loader import LoadedModel
from replica_agent.server.app import ServedModel, Server
from replica_agent.tokenizer import ByteTokenizer

PROMPT_IDS = [5, 77, 300, 12, 9, 401, 33, 250, 7]


def make_server(agent_model, **overrides) -> Server:
    config = EngineConfig(**{"block_size": 16, "num_blocks": 256, "max_model_len": 256, **overrides})
    served = ServedModel.build(LoadedModel(agent_model, ByteTokenizer(), "test-model", False), config)
    return Server(served)


@pytest.fixture(scope="module")
def server(agent_model, serve_app):
    srv = make_server(agent_model)
    with serve_app(srv.app()) as base:
        srv.base = base
        yield srv


def sse_events(text: str) -> list[str]:
    """The data payloads of an SSE body, checking the framing on the way."""
    assert text.endswith("\n\n")
    frames = text.split("\n\n")[:-1]
    assert all(f.startswith("data: ") for f in frames), frames
    payloads = [f[len("data: "):] for f in frames]
    assert payloads[-1] == "[DONE]" and "[DONE]" not in payloads[:-1]
    return payloads[:-1]


def metrics(base: str) -> dict[str, dict[tuple, float]]:
    text = httpx.get(base + "/metrics").text
    out: dict[str, dict[tuple, float]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def scalar(m: dict, name: str) -> float:
    return m[name][()]


def complete(base: str, **body) -> httpx.Response:
    return httpx.post(base + "/v1/completions", json={"temperature": 0, **body}, timeout=30)


def stream_text(base: str, path: str = "/v1/completions", **body) -> tuple[str, list[dict]]:
    r = httpx.post(base + path, json={"temperature": 0, "stream": True, **body}, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    chunks = [json.loads(p) for p in sse_events(r.text)]
    key = (lambda c: c["delta"].get("content", "")) if "chat" in path else (lambda c: c["text"])
    return "".join(key(c) for ch in chunks for c in ch["choices"]), chunks


def test_health_models_and_binding(server):
    assert httpx.get(server.base + "/health").json() == {"status": "ok"}
    assert server.base.startswith("http://127.0.0.1:")
    card = httpx.get(server.base + "/v1/models").json()["data"][0]
    assert card["id"] == "test-model" and card["max_model_len"] == 256 and card["random_weights"] is False


def test_stream_and_plain_return_the_same_tokens(server):
    """S1: same greedy text streamed or not; usage counts; SSE ends with one finish chunk and [DONE]."""
    plain = complete(server.base, prompt=PROMPT_IDS, max_tokens=20).json()
    assert plain["object"] == "text_completion" and plain["choices"][0]["finish_reason"] == "length"
    assert plain["usage"] == {"prompt_tokens": len(PROMPT_IDS), "completion_tokens": 20,
                              "total_tokens": len(PROMPT_IDS) + 20}
    text, chunks = stream_text(server.base, prompt=PROMPT_IDS, max_tokens=20)
    assert text == plain["choices"][0]["text"]
    assert len(chunks) == 20  # one frame per token, even while a partial UTF-8 character is held back
    reasons = [c["finish_reason"] for ch in chunks for c in ch["choices"]]
    assert reasons[-1] == "length" and set(reasons[:-1]) <= {None}
    assert all(ch["object"] == "text_completion" and ch["id"] == chunks[0]["id"] for ch in chunks)


def test_text_prompt_seeded_sampling_and_usage_chunk(server):
    body = dict(prompt="héllo wörld", max_tokens=12, temperature=1.0, seed=7)
    plain = complete(server.base, **body).json()
    assert plain["usage"]["prompt_tokens"] == len(ByteTokenizer().encode("héllo wörld"))
    text, chunks = stream_text(server.base, **body, stream_options={"include_usage": True})
    assert text == plain["choices"][0]["text"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == plain["usage"]


def test_chat_completions_plain_and_streamed(server):
    body = dict(messages=[{"role": "user", "content": "hi"}], max_tokens=10)
    r = httpx.post(server.base + "/v1/chat/completions", json={"temperature": 0, **body}, timeout=30).json()
    assert r["object"] == "chat.completion" and r["choices"][0]["message"]["role"] == "assistant"
    text, chunks = stream_text(server.base, "/v1/chat/completions", **body)
    assert text == r["choices"][0]["message"]["content"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[0]["object"] == "chat.completion.chunk"


def test_batch_prompts_with_n(server):
    r = complete(server.base, prompt=[PROMPT_IDS, PROMPT_IDS[:4]], n=2, max_tokens=6, temperature=1.0,
                 seed=3).json()
    assert [c["index"] for c in r["choices"]] == [0, 1, 2, 3]
    assert r["usage"]["prompt_tokens"] == len(PROMPT_IDS) + 4 and r["usage"]["completion_tokens"] == 24
    single = complete(server.base, prompt=PROMPT_IDS, max_tokens=6, temperature=1.0, seed=3).json()
    assert r["choices"][0]["text"] == single["choices"][0]["text"]  # sample 0 uses the seed itself


def test_stop_string_truncates_and_frees(server):
    full, chunks = stream_text(server.base, prompt=PROMPT_IDS, max_tokens=40)
    early = [c["text"] for ch in chunks[:-1] for c in ch["choices"] if c["text"]]
    assert len(early) >= 2, "the model released too little text before the end to test stop strings"
    stop = early[1][-1]  # text released mid-stream, so the stop must cut generation short
    want = full[:full.find(stop)]
    r = complete(server.base, prompt=PROMPT_IDS, max_tokens=40, stop=[stop, "never-there"]).json()
    assert r["choices"][0] == {"index": 0, "text": want, "finish_reason": "stop", "logprobs": None}
    assert r["usage"]["completion_tokens"] < 40
    text, chunks = stream_text(server.base, prompt=PROMPT_IDS, max_tokens=40, stop=stop)
    assert text == want and chunks[-1]["choices"][0]["finish_reason"] == "stop"
    m = metrics(server.base)
    assert scalar(m, "agent_running") == 0 and scalar(m, "agent_kv_blocks_used") == 0


@pytest.mark.parametrize("body, param", [
    ({"prompt": list(range(3, 300)), "max_tokens": 4}, "prompt"),  # longer than the 256-token context
    ({"prompt": PROMPT_IDS, "max_tokens": 250}, "max_tokens"),
    ({"prompt": PROMPT_IDS, "max_tokens": 0}, "max_tokens"),
    ({"prompt": PROMPT_IDS, "temperature": "hot"}, "temperature"),
    ({"prompt": PROMPT_IDS, "n": True}, "n"),
    ({"prompt": [1, 2, 9999]}, "prompt"),
    ({"prompt": []}, "prompt"),
    ({"prompt": PROMPT_IDS, "logprobs": 5}, "logprobs"),
    ({"prompt": PROMPT_IDS, "frobnicate": 1}, "frobnicate"),
    ({"prompt": PROMPT_IDS, "stop": [""]}, "stop"),
])
def test_bad_requests_get_openai_400(server, body, param):
    r = httpx.post(server.base + "/v1/completions", json=body)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param and err["message"]


def test_invalid_json_and_bad_chat(server):
    r = httpx.post(server.base + "/v1/completions", content=b"{nope",
                   headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
    r = httpx.post(server.base + "/v1/chat/completions", json={"messages": [{"role": "robot", "content": 1}]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages[0]"


def test_metrics_service_equals_ledger(server):
    """S2: per-client service in /metrics equals the engine ledger (and w_p*prompt + w_q*output)."""
    before = metrics(server.base).get("agent_client_service_total", {})
    usages = {"alice": [], "bob": []}
    for i in range(3):
        usages["alice"].append(complete(server.base, prompt=PROMPT_IDS[i:], max_tokens=5 + i,
                                        user="alice").json()["usage"])
        r = httpx.post(server.base + "/v1/completions", headers={"X-Client-Id": "bob"}, timeout=30,
                       json={"prompt": PROMPT_IDS, "max_tokens": 3, "temperature": 0, "stream": True,
                             "stream_options": {"include_usage": True}})
        usages["bob"].append(json.loads(sse_events(r.text)[-1])["usage"])
    m = metrics(server.base)
    ledger = server.worker.stats().result(5).service_per_client
    cfg = server.served.engine.config
    for client, us in usages.items():
        key = (("client", client),)
        want = sum(cfg.w_p * u["prompt_tokens"] + cfg.w_q * u["completion_tokens"] for u in us)
        assert m["agent_client_service_total"][key] - before.get(key, 0.0) == want
        assert m["agent_client_service_total"][key] == ledger[client]
    kv = [scalar(m, f"agent_kv_blocks_{k}") for k in ("free", "used", "evictable", "total")]
    assert kv[0] + kv[1] + kv[2] == kv[3] == 256
    assert scalar(m, "agent_ttft_seconds_count") >= 6 and scalar(m, "agent_step_seconds_count") > 0


async def _stream_tokens(client: httpx.AsyncClient, i: int) -> tuple[int, str]:
    body = {"prompt": [*PROMPT_IDS, i + 3], "max_tokens": 32, "temperature": 0, "user": f"c{i % 4}",
            "stream": True, "stream_options": {"include_usage": True}}
    async with client.stream("POST", "/v1/completions", json=body) as r:
        payloads = [line[6:] async for line in r.aiter_lines() if line.startswith("data: ")]
    assert payloads[-1] == "[DONE]"
    return json.loads(payloads[-2])["usage"]["completion_tokens"], "".join(
        c["text"] for p in payloads[:-2] for c in json.loads(p)["choices"])


def test_sixteen_concurrent_streams_finish(server):
    """S3: 16 concurrent SSE streams all complete with every token; the engine batches them."""
    async def run():
        async with httpx.AsyncClient(base_url=server.base, timeout=60) as client:
            return await asyncio.gather(*(_stream_tokens(client, i) for i in range(16)))
    results = asyncio.run(asyncio.wait_for(run(), 120))
    assert [n for n, _ in results] == [32] * 16
    solo = complete(server.base, prompt=[*PROMPT_IDS, 3], max_tokens=32).json()["choices"][0]["text"]
    assert results[0][1] == solo  # batching does not change greedy output


def _wait_idle(base: str, timeout_s: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        m = metrics(base)
        if scalar(m, "agent_running") == 0 and scalar(m, "agent_queue_len") == 0:
            return m
        assert time.monotonic() < deadline, "the aborted request is still running"
        time.sleep(0.02)


def test_disconnect_mid_stream_frees_blocks(server):
    """S3: a client that goes away mid-stream is aborted and its blocks freed within 2 engine steps."""
    m0 = metrics(server.base)
    before = m0.get("agent_abort_delay_steps_count", {}).get((), 0.0)
    body = {"prompt": PROMPT_IDS, "max_tokens": 240, "temperature": 0, "stream": True}
    with httpx.Client(base_url=server.base, timeout=30) as client, \
            client.stream("POST", "/v1/completions", json=body) as r:
        lines = r.iter_lines()  # kept open: leaving a `for` over it would already close the socket
        frames = 0
        while frames < 3:
            frames += next(lines).startswith("data: ")
        assert scalar(metrics(server.base), "agent_running") == 1  # still generating when we leave
    m = _wait_idle(server.base)
    assert scalar(m, "agent_kv_blocks_used") == 0
    assert scalar(m, "agent_generated_tokens_total") - scalar(m0, "agent_generated_tokens_total") < 240
    delays = m["agent_abort_delay_steps_count"][()] - before
    assert delays == 1
    assert m["agent_abort_delay_steps_bucket"][(("le", "2.0"),)] == m["agent_abort_delay_steps_count"][()]


def test_full_queue_answers_429_with_retry_after(agent_model, serve_app):
    srv = make_server(agent_model, max_num_seqs=1, max_waiting=1)
    with serve_app(srv.app()) as base, httpx.Client(base_url=base, timeout=30) as client:
        long = {"prompt": PROMPT_IDS, "max_tokens": 240, "temperature": 0, "stream": True}
        with client.stream("POST", "/v1/completions", json=long) as first:
            first_lines = first.iter_lines()  # keep a reference: a collected iterator closes the socket
            next(first_lines)  # running: holds the only seat
            with client.stream("POST", "/v1/completions", json=long) as second:
                deadline = time.monotonic() + 10
                while scalar(metrics(base), "agent_queue_len") < 1:
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
                r = client.post("/v1/completions", json={"prompt": PROMPT_IDS, "max_tokens": 2})
                assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
                assert r.json()["error"]["code"] == "queue_full"
                assert second.status_code == 200
        m = _wait_idle(base)
        assert scalar(m, "agent_requests_rejected_total") == 1 and scalar(m, "agent_kv_blocks_used") == 0


def test_engine_failure_fails_requests_not_the_server(agent_model, serve_app):
    """A step that raises fails the requests in flight (500 / an SSE error frame); the agent keeps serving."""
    srv = make_server(agent_model)
    runner = srv.served.engine.runner
    execute, failures = runner.execute, [2]

    def flaky(batch):
        if failures[0]:
            failures[0] -= 1
            raise RuntimeError("boom")
        return execute(batch)
    runner.execute = flaky
    with serve_app(srv.app()) as base:
        r = complete(base, prompt=PROMPT_IDS, max_tokens=4)
        assert r.status_code == 500 and r.json()["error"]["type"] == "server_error"
        r = httpx.post(base + "/v1/completions", timeout=30,
                       json={"prompt": PROMPT_IDS, "max_tokens": 4, "stream": True})
        events = [json.loads(p) for p in sse_events(r.text)]
        assert "boom" in events[-1]["error"]["message"]
        assert complete(base, prompt=PROMPT_IDS, max_tokens=4).json()["usage"]["completion_tokens"] == 4
        assert httpx.get(base + "/health").status_code == 200
        m = metrics(base)
        assert scalar(m, "agent_running") == 0 and scalar(m, "agent_kv_blocks_used") == 0
