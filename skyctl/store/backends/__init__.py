"""Data backends: where a virtual bucket's bytes live, one physical bucket per region.

Contract every backend meets (tests/store/test_backend_contract.py runs it against each):
- `put_file` is atomic: the bytes go to a temporary name first and appear under `key` only complete, so
  an interrupted upload leaves at most temporary data that `clean_temp` removes after a grace period.
- Temporary names carry the caller's clock time (not the file system's), so `gc` ages them with the same
  injectable clock as the metadata.
- `delete` is idempotent; `get_file` of a missing key raises `DataMissing`.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Protocol

from skyctl.errors import Failure, UserError

BACKENDS = ("local", "s3")


class DataMissing(Failure):
    """The metadata pointed at bytes that are not (or no longer) there."""


class Backend(Protocol):
    kind: str

    def physical_bucket(self, region: str) -> str: ...
    def location(self, region: str) -> str: ...
    def ensure(self, region: str) -> None: ...
    def put_file(self, region: str, key: str, src: Path, now: float) -> None: ...
    def get_file(self, region: str, key: str, dst: Path) -> None: ...
    def exists(self, region: str, key: str) -> bool: ...
    def delete(self, region: str, key: str) -> None: ...
    def clean_temp(self, region: str, before: float) -> int: ...


def temp_name(now: float) -> str:
    """`<clock ms>-<random>`: sortable, unique, and ageable by `temp_age`."""
    return f"{int(now * 1000):015d}-{uuid.uuid4().hex}"


def temp_time(name: str) -> float | None:
    """The clock time a temporary name was made at, or None for a name we did not make."""
    head, sep, _ = name.partition("-")
    return int(head) / 1000 if sep and head.isdigit() else None


def check_backend(kind: str) -> str:
    if kind not in BACKENDS:
        raise UserError("unknown backend", field="--backend", value=kind,
                        fix="use one of: " + ", ".join(BACKENDS))
    return kind


def open_backend(kind: str, vbucket: str) -> Backend:
    """The backend a bucket was made with; S3 is imported only here so boto3 stays optional."""
    check_backend(kind)
    if kind == "local":
        from skyctl.store.backends.local import LocalBackend

        return LocalBackend(vbucket)
    try:
        from skyctl.store.backends.s3 import S3Backend
    except ImportError as e:
        raise UserError("the s3 backend needs boto3", field="--backend", value=kind,
                        fix="pip install 'skyctl[aws]'") from e
    return S3Backend(vbucket)
