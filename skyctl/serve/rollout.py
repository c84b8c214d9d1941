"""`serve update` rules (SkyServe's, brief §2.3): which old-version replicas to remove, which versions the
load balancer may route to, and the order in which any replicas are chosen for scale-down.

Pure functions of replica views: the controller calls them once per decision, so they hold no state.
Replicas of an old version whose `replica_digest` equals the new version's are re-labelled to the new
version by the controller before these rules run (no relaunch), so they never count as outdated here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from skyctl.serve.status import ALIVE, SCALE_DOWN_ORDER, ReplicaStatus
from skyctl.serve.types import ReplicaView

ROLLING = "rolling"
BLUE_GREEN = "blue_green"
UPDATE_MODES = (ROLLING, BLUE_GREEN)

_RANK = {status: i for i, status in enumerate(SCALE_DOWN_ORDER)}


def victim_key(r: ReplicaView) -> tuple[int, int, int]:
    """SkyServe's scale-down order: least progressed status first (a launching replica costs the least to
    give up), then the older version, then the most recently launched (highest id)."""
    return (_RANK.get(r.status, len(_RANK)), r.version, -r.replica_id)


def pick_victims(n: int, replicas: Iterable[ReplicaView],
                 key: Callable[[ReplicaView], tuple] = victim_key) -> list[int]:
    """The ids of the first `n` alive replicas in scale-down order."""
    alive = sorted((r for r in replicas if r.status in ALIVE), key=key)
    return [r.replica_id for r in alive[:max(0, n)]]


def outdated_to_scale_down(replicas: list[ReplicaView], *, latest_version: int, final_target: int,
                           active_versions: list[int], update_mode: str) -> list[int]:
    """Alive replicas of old versions to remove this decision.

    rolling: keep `final_target - ready_latest` old replicas (so READY capacity never drops below the
    target while new ones come up), least progressed removed first; all of them once the latest version
    has `final_target` READY. blue_green: every replica older than `min(active_versions)` -- the load
    balancer no longer routes to them (see `next_active_versions`); nothing while no version is active.
    """
    _check_mode(update_mode)
    old = [r for r in replicas if r.version < latest_version and r.status in ALIVE]
    if update_mode == ROLLING:
        ready_latest = sum(r.version == latest_version and r.status == ReplicaStatus.READY for r in replicas)
        keep = max(0, final_target - ready_latest)
        return pick_victims(len(old) - keep, old)
    if not active_versions:
        return []
    oldest_active = min(active_versions)
    return [r.replica_id for r in sorted(old, key=victim_key) if r.version < oldest_active]


def next_active_versions(replicas: list[ReplicaView], *, latest_version: int, active_versions: list[int],
                         min_replicas: int, update_mode: str) -> list[int]:
    """The versions the load balancer routes to after this decision (it sends traffic only to READY
    replicas of these versions).

    rolling: the latest version plus every older version that still has an alive replica (old and new
    serve side by side while old ones remain). blue_green: the current set (minus versions with no alive
    replica) until the latest version has `max(1, min_replicas)` READY replicas, then the latest alone;
    it also switches at once when no replica of the current set is READY (nothing to protect, and an old
    version scaled to zero must not pin the service to it).
    """
    _check_mode(update_mode)
    alive_versions = {r.version for r in replicas if r.status in ALIVE}
    if update_mode == ROLLING:
        return sorted({v for v in alive_versions if v < latest_version} | {latest_version})
    if latest_version in active_versions:
        return [latest_version]
    ready_latest = sum(r.version == latest_version and r.status == ReplicaStatus.READY for r in replicas)
    current = sorted(v for v in active_versions if v in alive_versions and v < latest_version)
    serving = any(r.version in current and r.status == ReplicaStatus.READY for r in replicas)
    if ready_latest >= max(1, min_replicas) or not serving:
        return [latest_version]
    return current


def _check_mode(update_mode: str) -> None:
    if update_mode not in UPDATE_MODES:
        raise ValueError(f"unknown update mode {update_mode!r}; expected one of {', '.join(UPDATE_MODES)}")
