"""The report reads one consistent snapshot: rows a controller or the store commit while the report is
between its queries do not show up half-way (a replica without its bucket write, or vice versa)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from report_history import GIB, T0, WINDOW_ARGS, H, history, run_cli

from skyctl.state import get_engine, report_queries, serve_repo, write_session
from skyctl.state.store_tables import Replica

__all__ = ["history"]


def _concurrent_write() -> None:
    """What a controller and the store would commit meanwhile: a new replica and a new stored copy."""
    with write_session(get_engine()) as s:
        chat = serve_repo.live_service(s, "chat")
        assert chat is not None
        serve_repo.new_replica(s, chat, version=2, status="READY", spot=False, purpose="fallback",
                               idempotency_key="late", cloud="aws", region="us-east-1", zone="us-east-1a",
                               instance_type="g5.xlarge", price_per_hour=100.0, ondemand_price_per_hour=100.0,
                               created_at=T0 + 100 * H, launched_at=T0 + 100 * H)
        s.add(Replica(object_id=1, bucket_id=1, region="gcp:us-west1", physical_key="late", size=30 * GIB,
                      origin="copy", status="ready", created_at=T0 + 100 * H, storage_start=T0 + 100 * H))


def _report(capsys, pricing: Path) -> dict:
    capsys.readouterr()
    assert run_cli([*WINDOW_ARGS, "--pricing", str(pricing), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_writes_committed_mid_report_are_not_seen(history: Path, capsys, monkeypatch) -> None:
    real_stored = report_queries._stored

    def stored_after_a_write(*args, **kwargs):
        # Commit from another thread (its own connection) after the serve queries ran, and wait for it:
        # SQLite WAL lets the writer commit while this read transaction keeps its snapshot.
        t = threading.Thread(target=_concurrent_write)
        t.start()
        t.join(timeout=30)
        assert not t.is_alive()
        return real_stored(*args, **kwargs)

    monkeypatch.setattr(report_queries, "_stored", stored_after_a_write)
    during = _report(capsys, pricing=history)
    monkeypatch.setattr(report_queries, "_stored", real_stored)
    after = _report(capsys, pricing=history)

    assert len(during["replicas"]) == 7 and during["total_cost"] == pytest.approx(128.15041, abs=1e-6)
    gcp = {b["region"]: b for b in during["store"]["buckets"]}["gcp:us-west1"]
    assert gcp["gb_hours"] == pytest.approx(30 * 72)  # the late copy is not there either
    # The next report sees both writes: 56 h of the $100/h fallback replica and 56 h more of 30 GiB.
    assert len(after["replicas"]) == 8
    assert after["serve"]["by_purpose"]["fallback"] == pytest.approx(4.00 + 5600.0, abs=1e-6)
    gcp_after = {b["region"]: b for b in after["store"]["buckets"]}["gcp:us-west1"]
    assert gcp_after["gb_hours"] == pytest.approx(30 * (72 + 56))
