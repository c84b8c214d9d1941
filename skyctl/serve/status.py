"""Replica and service statuses (SkyServe's names, brief §2.5) and the sets the controller reasons with."""

from __future__ import annotations

import enum


class ReplicaStatus(enum.StrEnum):
    PENDING = "PENDING"  # row written, waiting for a launch slot
    PROVISIONING = "PROVISIONING"  # provider.launch in progress (idempotency key recorded first)
    STARTING = "STARTING"  # instance up; setup/run going, readiness probe not passed yet
    READY = "READY"  # probe answered 200
    NOT_READY = "NOT_READY"  # was READY, probe failing, not yet for long enough to give up
    SHUTTING_DOWN = "SHUTTING_DOWN"  # draining, then terminate
    PREEMPTED = "PREEMPTED"  # the cloud took a spot instance back
    FAILED = "FAILED"  # the user's setup or run exited
    FAILED_PROVISION = "FAILED_PROVISION"  # launch failed in every candidate location
    FAILED_INITIAL_DELAY = "FAILED_INITIAL_DELAY"  # never READY within initial_delay_seconds
    FAILED_PROBING = "FAILED_PROBING"  # NOT_READY for longer than the probing failure timeout
    FAILED_CLEANUP = "FAILED_CLEANUP"  # terminate failed: the instance may still bill
    # Not in SkyServe (which deletes the row): a replica scaled down and terminated. We keep the row so
    # the cost report sees every replica's lifetime.
    TERMINATED = "TERMINATED"

    @property
    def terminal(self) -> bool:
        """No longer counts towards the service's replicas (SkyServe's terminal set plus TERMINATED)."""
        return self in TERMINAL

    @property
    def failed(self) -> bool:
        return self in FAILED_STATUSES

    @property
    def launched(self) -> bool:
        """Has (or may have) an instance at the provider."""
        return self not in (ReplicaStatus.PENDING,)


FAILED_STATUSES = frozenset({
    ReplicaStatus.FAILED, ReplicaStatus.FAILED_PROVISION, ReplicaStatus.FAILED_INITIAL_DELAY,
    ReplicaStatus.FAILED_PROBING, ReplicaStatus.FAILED_CLEANUP,
})
TERMINAL = frozenset({ReplicaStatus.SHUTTING_DOWN, ReplicaStatus.PREEMPTED, ReplicaStatus.TERMINATED}
                     | FAILED_STATUSES)
# Replicas an autoscaler counts as "alive" (SkyServe: non-terminal).
ALIVE = frozenset(set(ReplicaStatus) - TERMINAL)
# Unrecoverable failures that stop the autoscaler from relaunching a version never seen READY (fail-fast).
UNRECOVERABLE = frozenset({ReplicaStatus.FAILED, ReplicaStatus.FAILED_INITIAL_DELAY})
# Order in which replicas are chosen for scale-down (least progressed first), SkyServe's.
SCALE_DOWN_ORDER = (ReplicaStatus.PENDING, ReplicaStatus.PROVISIONING, ReplicaStatus.STARTING,
                    ReplicaStatus.NOT_READY, ReplicaStatus.READY)


class ServiceStatus(enum.StrEnum):
    CONTROLLER_INIT = "CONTROLLER_INIT"  # rows written, controller not yet ticking
    REPLICA_INIT = "REPLICA_INIT"  # replicas launching, none READY yet
    READY = "READY"  # at least one READY replica
    NO_REPLICA = "NO_REPLICA"  # no replica alive (e.g. scaled to zero)
    FAILED = "FAILED"  # some replicas failed and none is READY
    SHUTTING_DOWN = "SHUTTING_DOWN"  # `serve down` in progress
    CONTROLLER_FAILED = "CONTROLLER_FAILED"  # controller or load balancer process is gone
    FAILED_CLEANUP = "FAILED_CLEANUP"  # down could not terminate every instance
    DOWN = "DOWN"  # torn down; the row stays for cost history and hides from `serve status`
