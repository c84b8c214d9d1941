"""Costs of a hand-built week of replica and bucket records against the figures computed by hand
(see report_history.py for the arithmetic), through the real CLI and SQLite."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from report_history import (
    BUCKETS,
    CHAT,
    CLOUDS,
    DAYS,
    GIB,
    NOW,
    REPLICA_COST,
    REPLICA_OD,
    SERVE_COST,
    SERVE_OD,
    STORE_COST,
    T0,
    TOTAL,
    WINDOW_ARGS,
    H,
    history,
    run_cli,
)

from skyctl.state import dispose_engines, get_engine, write_session
from skyctl.state.store_tables import Replica, VBucket

__all__ = ["history"]  # the fixture, imported for pytest


def report_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    capsys.readouterr()
    assert run_cli([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_replica_costs_use_launch_prices_not_todays_catalog(history: Path, capsys) -> None:
    rep = report_json(capsys, *WINDOW_ARGS, "--pricing", str(history))
    got = {(r["service"], r["replica_id"]): r for r in rep["replicas"]}
    assert set(got) == set(REPLICA_COST)  # never-launched r6, pre-window r7 and service `old` left out
    for key, cost in REPLICA_COST.items():
        assert got[key]["cost"] == pytest.approx(cost, abs=1e-6), key
        assert got[key]["ondemand_cost"] == pytest.approx(REPLICA_OD[key], abs=1e-6), key
    # The catalog now says 0.25/h spot and 1.20/h on-demand; history keeps what was recorded at launch.
    assert got[("chat", 4)]["price_per_hour"] == 0.30 and got[("chat", 4)]["price_source"] == "recorded"
    assert got[("chat", 1)]["ondemand_price_per_hour"] == 1.00
    # Row without a recorded on-demand price: today's catalog, marked as an estimate.
    assert got[("chat", 4)]["ondemand_source"] == "catalog (estimated)"
    assert got[("embed", 2)]["price_source"] == "catalog (estimated)"
    assert any("embed/2" in n and "estimated" in n for n in rep["notes"])
    # Open interval ends at --now; a pre-window launch is clipped to --since.
    assert got[("chat", 4)]["end"] == NOW and got[("chat", 4)]["ended_at"] is None
    assert got[("chat", 1)]["start"] == "2026-11-01T00:00:00Z"
    assert got[("chat", 1)]["launched_at"] == "2026-10-31T12:00:00Z"
    assert got[("chat", 2)]["preempted"] is True and got[("chat", 2)]["status"] == "PREEMPTED"


def test_totals_per_service_cloud_purpose_and_savings(history: Path, capsys) -> None:
    rep = report_json(capsys, *WINDOW_ARGS, "--pricing", str(history))
    assert rep["total_cost"] == pytest.approx(TOTAL, abs=1e-6)
    assert rep["serve"]["cost"] == pytest.approx(SERVE_COST, abs=1e-6)
    assert rep["serve"]["ondemand_equivalent"] == pytest.approx(SERVE_OD, abs=1e-6)
    assert rep["serve"]["saving"] == pytest.approx(SERVE_OD - SERVE_COST, abs=1e-6)
    assert rep["serve"]["saving_pct"] == pytest.approx(100 * (SERVE_OD - SERVE_COST) / SERVE_OD, abs=1e-3)
    services = {s["name"]: s for s in rep["services"]}
    assert list(services) == ["chat", "embed"]  # `old` was down before the window
    for k, v in CHAT.items():
        assert services["chat"][k] == pytest.approx(v, abs=1e-6), k
    assert services["chat"]["by_purpose"]["target"] == pytest.approx(12 + 4 + 38.10, abs=1e-6)
    assert services["embed"]["by_purpose"]["base_ondemand"] == pytest.approx(15.78, abs=1e-6)
    versions = {v["version"]: v["cost"] for v in services["chat"]["versions"]}
    assert versions == pytest.approx({1: 20.00, 2: 82.55}, abs=1e-6)
    assert {c["cloud"]: c["cost"] for c in rep["by_cloud"]} == pytest.approx(CLOUDS, abs=1e-6)
    assert [r["region"] for r in rep["by_region"]] == ["aws/us-east-1", "azure/eastus", "gcp/us-central1"]


def test_daily_split_across_utc_days(history: Path, capsys) -> None:
    rep = report_json(capsys, *WINDOW_ARGS, "--pricing", str(history))
    days = {d["date"]: (d["spot"], d["ondemand"], d["store"]) for d in rep["by_day"]}
    assert list(days) == list(DAYS)
    for day, want in DAYS.items():
        assert days[day] == pytest.approx(want, abs=1e-6), day
    assert sum(d["total"] for d in rep["by_day"]) == pytest.approx(TOTAL, abs=1e-5)


def test_store_storage_egress_requests_per_bucket_region(history: Path, capsys) -> None:
    rep = report_json(capsys, *WINDOW_ARGS, "--pricing", str(history))
    store = rep["store"]
    assert store["cost"] == pytest.approx(STORE_COST, abs=1e-6)
    lines = {(b["bucket"], b["region"]): b for b in store["buckets"]}
    assert set(lines) == set(BUCKETS)
    for key, want in BUCKETS.items():
        for k, v in want.items():
            assert lines[key][k] == pytest.approx(v, abs=1e-9), (key, k)
    assert lines[("models", "aws:us-east-1")]["gb_hours"] == pytest.approx(30 * 156)
    assert store["egress"] == [{"bucket": "models", "src": "aws:us-east-1", "dst": "gcp:us-west1",
                                "gb": 40.0, "cost": 3.6}]


def test_service_filter_leaves_the_store_out(history: Path, capsys) -> None:
    rep = report_json(capsys, *WINDOW_ARGS, "--service", "embed")
    assert [s["name"] for s in rep["services"]] == ["embed"]
    assert rep["total_cost"] == pytest.approx(21.78, abs=1e-6)
    assert rep["store"]["included"] is False and rep["store"]["buckets"] == []


def test_unknown_service_and_bad_window_are_one_line_errors(history: Path, capsys) -> None:
    capsys.readouterr()
    assert run_cli([*WINDOW_ARGS, "--service", "chta"]) == 2
    err = capsys.readouterr().err
    assert "--service" in err and "chta" in err and "did you mean 'chat'" in err
    assert "Traceback" not in err
    assert run_cli(["--since", "last week"]) == 2
    assert "--since: not a time" in capsys.readouterr().err
    assert run_cli(["--since", "2026-11-08", "--until", "2026-11-01"]) == 2
    assert "window is empty" in capsys.readouterr().err
    assert run_cli([*WINDOW_ARGS, "--notify", "hooks.example/x"]) == 2
    assert "--notify: not an http(s) URL" in capsys.readouterr().err


def test_relative_since_and_window_ending_before_now(history: Path, capsys) -> None:
    # 2 days back from --until 2026-11-03: [11-01, 11-03); open chat/4 and chat/5 stop at --until.
    rep = report_json(capsys, "--since", "2d", "--until", "2026-11-03", "--now", NOW, "--pricing",
                      str(history))
    assert rep["window"]["since"] == "2026-11-01T00:00:00Z"
    got = {(r["service"], r["replica_id"]): r["cost"] for r in rep["replicas"]}
    assert got[("chat", 4)] == pytest.approx(19 * 0.30, abs=1e-6)  # 11-02 05:00 .. 11-03 00:00
    assert ("embed", 1) not in got
    # Storage of the copy still stored counts only up to --until, a Unix timestamp works as a date.
    rep2 = report_json(capsys, "--since", str(T0), "--until", str(T0 + 48 * H), "--now", NOW, "--pricing",
                       str(history))
    assert rep2["replicas"] == rep["replicas"]


def test_same_records_same_bytes_in_any_time_zone(history: Path, capsys, monkeypatch) -> None:
    args = [*WINDOW_ARGS, "--pricing", str(history)]
    capsys.readouterr()
    assert run_cli(args) == 0
    table = capsys.readouterr().out
    first = report_json(capsys, *args)
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        assert report_json(capsys, *args) == first
        assert run_cli(args) == 0
        assert capsys.readouterr().out == table
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    for col in ("NAME", "LAUNCHED", "DURATION", "RESOURCES", "STATUS", "COST/hr", "COST"):
        assert col in table
    assert "chat/5" in table and "$44.45" in table and "saved $168.05" in table


def test_default_window_is_last_30_days_and_unpriced_regions_are_noted(history: Path, capsys) -> None:
    with write_session(get_engine()) as s:  # a bucket in a region the pricing file does not list
        b = VBucket(name="odd", regions=["azure:eastus"], policy="t-even", status="ready", created_at=T0)
        s.add(b)
        s.flush()
        s.add(Replica(object_id=1, bucket_id=b.id, region="azure:eastus", physical_key="z", size=GIB,
                      origin="put", status="ready", created_at=T0, storage_start=T0))
    rep = report_json(capsys, "--now", NOW, "--pricing", str(history))
    assert rep["window"]["since"] == "2026-10-08T12:00:00Z" and rep["window"]["until"] == NOW
    lines = {(b["bucket"], b["region"]): b for b in rep["store"]["buckets"]}
    assert lines[("odd", "azure:eastus")]["priced"] is False
    assert lines[("odd", "azure:eastus")]["cost"] == 0
    assert any("azure:eastus" in n for n in rep["notes"])
    # Before the window, chat/7 (10-30 .. 10-31) is inside the 30 days now.
    assert ("chat", 7) in {(r["service"], r["replica_id"]) for r in rep["replicas"]}


def test_unreadable_database_is_a_one_line_failure(tmp_path: Path, monkeypatch, capsys) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    monkeypatch.setenv("SKYCTL_DB_URL", f"sqlite:///{junk}")
    capsys.readouterr()
    try:
        assert run_cli(["--now", NOW]) == 1
    finally:
        dispose_engines()
    err = capsys.readouterr().err
    assert "cannot read the state database" in err and str(junk) in err and "Traceback" not in err
