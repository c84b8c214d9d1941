"""Tables of `skyctl store` virtual buckets: buckets, logical objects, physical replicas, and the records
the cost report needs (every cross-region transfer and every request).

A replica row is the write-ahead record of a physical copy: it is inserted `pending` before any byte is
written, becomes `ready` once the data is durable, `deleting` before the data is removed and `gone`
after. `storage_start`/`storage_end` bound the interval the copy was paying for storage. Only one live
(pending/ready) replica of an object may exist per region: the partial unique index is the claim that
makes concurrent copy-on-read of the same object into the same region happen once. Each replica has its
own physical key, so a copy being deleted never shares bytes with the one that replaces it.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from skyctl.state.schema import Component, register_component

LIVE_REPLICA = "status IN ('pending', 'ready')"


class VBucket(SQLModel, table=True):
    """A virtual bucket spanning `regions`; data lives in one physical bucket per region."""

    __tablename__ = "store_bucket"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    regions: list[str] = Field(sa_column=Column(JSON, nullable=False))
    policy: str
    ttl_s: float | None = None  # the fixed-ttl policy's TTL
    backend: str = "local"
    base_mode: str = "first-write"  # or "none": no permanent copy, gc keeps the last one
    status: str = "pending"  # pending -> ready once every physical bucket exists
    created_at: float


class StoredObject(SQLModel, table=True):
    """One version of a logical object; the newest `ready` version is what readers see."""

    __tablename__ = "store_object"
    __table_args__ = (
        UniqueConstraint("bucket_id", "key", "version", name="uq_store_object_version"),
        Index("ix_store_object_lookup", "bucket_id", "key", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    bucket_id: int = Field(foreign_key="store_bucket.id", index=True)
    key: str
    version: int
    size: int = 0
    sha256: str = ""
    base_region: str | None = None
    status: str = "pending"  # pending | ready | superseded | deleted | failed
    created_at: float
    ready_at: float | None = None


class Replica(SQLModel, table=True):
    """A physical copy of one object version in one region."""

    __tablename__ = "store_replica"
    __table_args__ = (
        Index("uq_store_replica_live", "object_id", "region", unique=True,
              sqlite_where=text(LIVE_REPLICA), postgresql_where=text(LIVE_REPLICA)),
        Index("ix_store_replica_status", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    object_id: int = Field(foreign_key="store_object.id", index=True)
    bucket_id: int = Field(foreign_key="store_bucket.id", index=True)
    region: str
    physical_key: str
    size: int = 0
    origin: str  # put | copy
    status: str = "pending"  # pending | ready | deleting | gone | failed
    is_base: bool = False
    ttl_s: float = -1.0  # -1: never expires
    created_at: float
    storage_start: float | None = None  # when the data became durable
    expires_at: float | None = None  # None: permanent; moved to now + ttl on each local hit
    storage_end: float | None = None  # when the data was (or began to be) deleted


class Transfer(SQLModel, table=True):
    """Bytes that crossed regions (priced by egress(src -> dst))."""

    __tablename__ = "store_transfer"
    id: int | None = Field(default=None, primary_key=True)
    bucket_id: int = Field(foreign_key="store_bucket.id", index=True)
    object_id: int = Field(foreign_key="store_object.id")
    src: str
    dst: str
    bytes: int
    at: float
    replicated: bool = False  # the transfer also left a replica in dst


class RequestRecord(SQLModel, table=True):
    """One request charged in a region (PUT when a replica is written, GET when one is read, ...)."""

    __tablename__ = "store_request"
    id: int | None = Field(default=None, primary_key=True)
    bucket_id: int = Field(foreign_key="store_bucket.id", index=True)
    object_id: int | None = Field(default=None, foreign_key="store_object.id")
    region: str  # where the request is charged (the bucket that served or stored the bytes)
    op: str  # PUT | GET | DELETE
    bytes: int = 0
    at: float
    client_region: str | None = Field(default=None, index=True)  # who asked: the reader of a GET


register_component(Component(name="store", version=1))
