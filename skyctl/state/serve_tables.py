"""Tables of `skyctl serve`: services, their spec versions, replicas, and the request counts the load
balancer writes for the autoscaler. JSON columns and an explicit schema version, never pickles.

A replica row is the write-ahead record of an instance: it exists (with its idempotency key) before
`provider.launch` is called, and `scale_down_at`/`status` are written before `provider.terminate`, so a
controller killed at any point leaves rows that reconciliation can finish or undo. Rows are never
deleted: a terminated replica keeps its launch and end times and the prices recorded at launch, which is
what the cost report reads.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Index, text
from sqlmodel import Field, SQLModel

from skyctl.state.schema import Component, register_component

LIVE_SERVICE = "down_at IS NULL"


class ServiceRecord(SQLModel, table=True):
    """One `serve up` of a name until its `serve down`; a later `serve up` of the same name is a new row."""

    __tablename__ = "serve_service"
    __table_args__ = (
        # At most one live service per name; torn-down rows stay for the cost report.
        Index("ux_serve_service_live_name", "name", unique=True,
              sqlite_where=text(LIVE_SERVICE), postgresql_where=text(LIVE_SERVICE)),
    )
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    status: str  # ServiceStatus value
    created_at: float
    down_at: float | None = None  # set when `serve down` finished; the row then hides from status
    down_requested_at: float | None = None  # `serve down` asked; the controller tears down and exits
    purge: bool = False
    current_version: int = 1
    active_versions: list[int] = Field(default_factory=lambda: [1], sa_column=Column(JSON, nullable=False))
    update_mode: str = "rolling"  # rolling | blue_green, for the latest update
    load_balancing_policy: str = "least_load"
    lb_host: str = "127.0.0.1"
    lb_port: int | None = None  # chosen once at `serve up` and kept, so the endpoint is stable
    lb_pid: int | None = None
    lb_start_time: int | None = None  # /proc start time, guards against pid reuse
    controller_pid: int | None = None
    controller_start_time: int | None = None
    controller_heartbeat: float | None = None  # last tick
    tls: bool = False
    api_key_sha256: str | None = None  # the load balancer checks `Authorization: Bearer <key>`
    uptime_start: float | None = None  # first time a replica was READY
    next_replica_id: int = 1
    autoscaler_state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    placer_state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    message: str | None = None  # why the service is FAILED / CONTROLLER_FAILED, for `serve status`


class ServiceVersion(SQLModel, table=True):
    """One spec of a service: `spec` is `ServiceSpec.to_dict()` (normalised YAML, parses back equal)."""

    __tablename__ = "serve_version"
    service_id: int = Field(foreign_key="serve_service.id", primary_key=True)
    version: int = Field(primary_key=True)
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    spec_hash: str  # ServiceSpec.version
    replica_digest: str  # ServiceSpec.replica_digest: replicas of equal digests are kept across updates
    source: str | None = None  # the YAML path it came from
    created_at: float


class ReplicaRecord(SQLModel, table=True):
    """One replica of a service: its status, where it runs, and what it cost per hour when launched."""

    __tablename__ = "serve_replica"
    __table_args__ = (Index("ix_serve_replica_status", "service_id", "status"),)
    service_id: int = Field(foreign_key="serve_service.id", primary_key=True)
    replica_id: int = Field(primary_key=True)
    version: int
    status: str  # ReplicaStatus value
    spot: bool = False
    # Why it exists, for the cost report: "target", "overprovision", "fallback" (dynamic on-demand cover),
    # "base_ondemand".
    purpose: str = "target"
    idempotency_key: str  # written before provider.launch; the provider returns the same instance for it
    cloud: str | None = None
    region: str | None = None
    zone: str | None = None
    instance_type: str | None = None
    accelerator: str | None = None
    accelerator_count: float = 0
    instance_id: str | None = None
    endpoint: str | None = None  # http://host:port of the replica's server
    price_per_hour: float | None = None  # $/h at launch (spot or on-demand as launched)
    ondemand_price_per_hour: float | None = None  # $/h on-demand of the same shape there, for savings
    created_at: float
    launch_started_at: float | None = None
    launched_at: float | None = None  # the provider accepted the launch: billing starts
    ready_at: float | None = None  # first READY
    last_ready_at: float | None = None  # last successful probe
    not_ready_since: float | None = None  # first failed probe of the current failing streak
    scale_down_at: float | None = None  # chosen for scale-down (write-ahead of the terminate)
    drain_until: float | None = None  # terminate once this passes (in-flight requests finish)
    ended_at: float | None = None  # the instance is gone (terminated, preempted, failed): billing ends
    preempted: bool = False
    user_app_failed: bool = False
    launch_attempts: int = 0
    failure: str | None = None  # last error or why the replica ended, shown by `serve status`


class RequestCount(SQLModel, table=True):
    """Requests the load balancer received per service per wall-clock second; the autoscaler's QPS."""

    __tablename__ = "serve_request_count"
    service_id: int = Field(foreign_key="serve_service.id", primary_key=True)
    second: int = Field(primary_key=True)
    count: int = 0


register_component(Component("serve", 1))
