"""The proxy against real upstream servers on 127.0.0.1: forwarding, streaming without buffering,
retries only before the first byte, 503/502, client disconnects, in-flight accounting, API key."""

from __future__ import annotations

import contextlib
import json

import httpx
import pytest
from serve_lb_harness import balancer, free_port, upstreams, wait_until

from skyctl.serve.load_balancer.policies import InstanceAwareLeastLoad, LeastLoad, RoundRobin
from skyctl.serve.load_balancer.proxy import key_digest


def test_forwards_method_path_query_body_and_headers() -> None:
    with upstreams("a") as [(up, url)], balancer(RoundRobin(), [url]) as (_, client):
        r = client.request("PATCH", "/v1/things/7?x=1&y=two", content=b'{"k": 1}',
                           headers={"X-Custom": "yes", "Connection": "keep-alive, x-hop", "X-Hop": "1",
                                    "Proxy-Authorization": "secret"})
        assert r.status_code == 201 and r.headers["x-replica"] == "a"
        echo = r.json()
        assert (echo["method"], echo["path"], echo["query"], echo["body"]) == \
            ("PATCH", "/v1/things/7", "x=1&y=two", '{"k": 1}')
        sent = echo["headers"]
        assert sent["x-custom"] == "yes" and sent["x-forwarded-for"] == "127.0.0.1"
        assert "x-hop" not in sent and "proxy-authorization" not in sent
        assert sent["host"] == url.removeprefix("http://")
        assert up.hits == 1


@pytest.mark.parametrize(("policy", "weights", "expected"), [
    (RoundRobin(), [1, 1, 1], [10, 10, 10]),
    (LeastLoad(), [1, 1, 1], [10, 10, 10]),
    (InstanceAwareLeastLoad(), [1, 1, 1], [10, 10, 10]),
])
def test_sequential_requests_spread_evenly(policy, weights, expected) -> None:
    with upstreams("a", "b", "c") as ups, balancer(policy, [u for _, u in ups], weights) as (_, client):
        seen = [client.get("/").json()["replica"] for _ in range(30)]
        assert [seen.count(n) for n in "abc"] == expected
        assert [up.hits for up, _ in ups] == expected


def test_sse_is_relayed_event_by_event_without_buffering() -> None:
    """The upstream holds its last event until the client has read the first one: a buffering proxy
    would never hand over the first event and the read would time out."""
    with upstreams("a") as [(up, url)], balancer(LeastLoad(), [url]) as (app, client), \
            client.stream("POST", "/gated", json={"stream": True}) as r:
        assert r.headers["content-type"] == "text/event-stream"
        lines = r.iter_lines()
        assert next(lines) == "data: first"
        assert not up.release.is_set()
        up.release.set()
        rest = [line for line in lines if line]
        assert rest == ["data: last True"]
    wait_until(lambda: app.policy.inflight(url) == 0, what="slot freed")


def test_long_sse_arrives_complete() -> None:
    with upstreams("a") as [(_, url)], balancer(RoundRobin(), [url]) as (_, client):
        events = [line for line in client.get("/sse?n=500").text.split("\n\n") if line]
        assert events == [f"data: {i}" for i in range(500)] + ["data: [DONE]"]


def test_dead_replica_is_retried_on_a_live_one() -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    with upstreams("live") as [(live, url)], balancer(RoundRobin(), [dead, url]) as (app, client):
        for _ in range(6):
            r = client.post("/v1/completions", json={"prompt": "x"})
            assert r.status_code == 201 and r.json()["body"] == '{"prompt":"x"}'
        assert live.hits == 6
        # the slot is freed when the handler returns, which may be just after the client has the body
        wait_until(lambda: app.policy.inflight(dead) == app.policy.inflight(url) == 0, what="slots freed")


def test_all_replicas_dead_gives_502_after_bounded_attempts() -> None:
    dead = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    with balancer(LeastLoad(), dead) as (app, client):
        r = client.get("/v1/models")
        assert r.status_code == 502 and r.json()["error"]["type"] == "bad_gateway"
        assert "3 attempts" in r.json()["error"]["message"]
        assert all(app.policy.inflight(d) == 0 for d in dead)


def test_no_retry_after_the_first_byte() -> None:
    with upstreams("breaks", "live") as [(broken, b_url), (live, l_url)], \
            balancer(RoundRobin(), [b_url, l_url]) as (app, client):
        with pytest.raises(httpx.HTTPError):
            client.get("/break").read()
        assert broken.hits == 1 and live.hits == 0
        wait_until(lambda: app.policy.inflight(b_url) == 0, what="slot freed")


def test_no_ready_replica_gives_503_with_retry_after() -> None:
    with balancer(LeastLoad(), []) as (app, client):
        r = client.post("/v1/chat/completions", json={})
        assert r.status_code == 503 and int(r.headers["retry-after"]) > 0
        body = r.json()
        assert body["error"]["code"] == 503 and "No ready replicas" in body["error"]["message"]
        assert sum(app.counter.drain().values()) == 1  # demand is counted, so scale-from-zero sees it


def test_client_disconnect_cancels_the_upstream_and_frees_the_slot() -> None:
    with upstreams("a") as [(up, url)], balancer(LeastLoad(), [url]) as (app, client):
        with client.stream("GET", "/forever") as r:
            lines = r.iter_lines()
            assert next(lines) == "data: 0"
            assert app.policy.inflight(url) == 1
        # leaving the block closes the client connection mid-stream
        wait_until(up.saw_disconnect.is_set, what="upstream sees the disconnect")
        wait_until(lambda: app.policy.inflight(url) == 0, what="in-flight back to 0")


def test_inflight_returns_to_zero_after_mixed_outcomes() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with upstreams("a", "b") as [(_, a), (_, b)], balancer(LeastLoad(), [a, dead, b]) as (app, client):
        for path in ["/", "/sse?n=5", "/break", "/", "/sse?n=3", "/break"] * 3:
            with contextlib.suppress(httpx.HTTPError):
                client.get(path).read()
        wait_until(lambda: [app.policy.inflight(e) for e in (a, dead, b)] == [0, 0, 0], what="slots freed")


def test_api_key_required_when_configured() -> None:
    with upstreams("a") as [(up, url)], \
            balancer(RoundRobin(), [url], api_key_sha256=key_digest("s3cret")) as (app, client):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
            r = client.get("/v1/models", headers=headers)
            assert r.status_code == 401 and r.json()["error"]["type"] == "invalid_api_key"
        assert up.hits == 0 and app.counter.drain() == {}
        r = client.get("/v1/models", headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 201 and up.hits == 1
        assert json.loads(r.text)["headers"]["authorization"] == "Bearer s3cret"
