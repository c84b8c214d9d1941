"""Spot hedging end to end with the local provider and real processes, through the CLI: `serve preempt`
of the spot replica in a zone that has no spot capacity left makes the controller relaunch in another
zone; when no zone has spot capacity, on-demand covers up to the target, and it is released once spot
replicas are READY again."""

from __future__ import annotations

from typing import Any

import pytest
from serve_cli_helpers import HTTP_RUN, Cli, cli  # noqa: F401 - cli is a fixture
from serve_helpers import wait_for

from providers.local import LocalProvider

YAML = ("name: hedge\nservice:\n  readiness_probe:\n    path: /\n    initial_delay_seconds: 60\n"
        "    timeout_seconds: 2\n  replica_policy:\n    min_replicas: 2\n    max_replicas: 4\n"
        "    target_qps_per_replica: 100\n    dynamic_ondemand_fallback: true\n"
        "    spot_placer: dynamic_fallback\n"
        "resources:\n  cloud: local\n  use_spot: true\n  ports: 8080\n  any_of:\n    - zone: local-a\n"
        "    - zone: local-b\n    - zone: local-c\n"
        f"run: {HTTP_RUN}\n")


def live(info: dict[str, Any], *, spot: bool) -> list[dict[str, Any]]:
    return [r for r in info["replicas"] if r["spot"] == spot and r["status"] in
            ("PENDING", "PROVISIONING", "STARTING", "READY", "NOT_READY")]


def ready(info: dict[str, Any], *, spot: bool) -> list[dict[str, Any]]:
    return [r for r in live(info, spot=spot) if r["status"] == "READY"]


@pytest.mark.slow
def test_preempt_in_a_short_zone_relaunches_elsewhere_then_falls_back_to_ondemand(
        cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("SKYCTL_HOME", str(cli.home))
    local = LocalProvider()
    cli.run("serve", "up", str(cli.write("hedge.yaml", YAML)), "--json", timeout=120)
    wait_for(lambda: len(ready(cli.service("hedge"), spot=True)) == 2, 60, "two spot replicas READY")
    info = cli.service("hedge")
    zones = sorted(r["zone"] for r in ready(info, spot=True))
    assert zones == ["local-a", "local-b"]  # one per zone, cheapest first (SpotHedge's spread)
    wait_for(lambda: not live(cli.service("hedge"), spot=False), 30, "the start's on-demand cover released")

    # local-a loses its spot capacity; its replica is preempted -> the replacement goes to local-c
    local.set_spot_capacity("local-a", 0)
    victim = next(r for r in ready(info, spot=True) if r["zone"] == "local-a")
    cli.run("serve", "preempt", "hedge", str(victim["id"]))
    wait_for(lambda: any(r["zone"] == "local-c" for r in ready(cli.service("hedge"), spot=True)), 60,
             "a spot replica READY in local-c")
    assert all(r["zone"] != "local-a" for r in live(cli.service("hedge"), spot=True))

    # no zone has spot capacity: preempt every spot replica -> on-demand up to the target (2)
    for zone in ("local-b", "local-c"):
        local.set_spot_capacity(zone, 0)
    for r in live(cli.service("hedge"), spot=True):
        cli.run("serve", "preempt", "hedge", str(r["id"]), check=False)  # may already be gone
    wait_for(lambda: len(ready(cli.service("hedge"), spot=False)) == 2, 60, "two on-demand replicas READY")
    info = cli.service("hedge")
    assert info["ready_replicas"] >= 2 and not ready(info, spot=True)
    assert len(live(info, spot=False)) == 2  # capped at the target: the extra is never on-demand

    # spot comes back: spot replicas READY again, the on-demand fallback is released
    for zone in ("local-a", "local-b", "local-c"):
        local.set_spot_capacity(zone, None)
    wait_for(lambda: len(ready(cli.service("hedge"), spot=True)) == 2
             and not live(cli.service("hedge"), spot=False), 90, "spot READY and on-demand released")
