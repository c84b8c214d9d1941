"""The data-backend contract, run against the local directory backend and S3 (moto on 127.0.0.1),
plus the naming rules the backends rely on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bucket_support import REGIONS, fresh_name, moto_endpoint, s3_env

from skyctl.errors import UserError
from skyctl.store.backends import Backend, DataMissing, open_backend, temp_name, temp_time
from skyctl.store.backends.local import LocalBackend
from skyctl.store.names import check_key, parse_target, physical_bucket_name, physical_key

A, B, _ = REGIONS


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Backend:
    if request.param == "local":
        be: Backend = LocalBackend(fresh_name(), root=tmp_path / "buckets")
    else:
        from skyctl.store.backends.s3 import S3Backend

        for k, v in s3_env().items():
            monkeypatch.setenv(k, v)
        be = S3Backend(fresh_name(), endpoint_url=moto_endpoint())
    for region in (A, B):
        be.ensure(region)
        be.ensure(region)  # idempotent
    return be


def _temp_entries(be: Backend, region: str) -> list[str]:
    if isinstance(be, LocalBackend):
        return sorted(p.name for p in (be.root / region / ".tmp").iterdir())
    client = be._client(region)  # type: ignore[attr-defined]
    listing = client.list_objects_v2(Bucket=be.physical_bucket(region), Prefix=".skyctl-tmp/")
    return sorted(o["Key"].split("/", 1)[1] for o in listing.get("Contents", []))


def _plant_temp(be: Backend, region: str, name: str) -> None:
    if isinstance(be, LocalBackend):
        (be.root / region / ".tmp" / name).write_bytes(b"partial")
    else:
        be._client(region).put_object(Bucket=be.physical_bucket(region),  # type: ignore[attr-defined]
                                      Key=".skyctl-tmp/" + name, Body=b"partial")


def test_put_get_roundtrip_per_region(backend: Backend, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"\x00\x01" * 70_000)
    backend.put_file(A, "dir/sub/obj~v1.1", src, now=100.0)
    assert backend.exists(A, "dir/sub/obj~v1.1") and not backend.exists(B, "dir/sub/obj~v1.1")
    dst = tmp_path / "dst"
    backend.get_file(A, "dir/sub/obj~v1.1", dst)
    assert dst.read_bytes() == src.read_bytes()
    assert _temp_entries(backend, A) == []  # the temporary copy is gone once the object is in place


def test_missing_key_raises_data_missing_and_delete_is_idempotent(backend: Backend, tmp_path: Path) -> None:
    with pytest.raises(DataMissing):
        backend.get_file(A, "nope", tmp_path / "x")
    src = tmp_path / "src"
    src.write_bytes(b"abc")
    backend.put_file(B, "a/b", src, now=1.0)
    backend.delete(B, "a/b")
    backend.delete(B, "a/b")
    assert not backend.exists(B, "a/b")


def test_clean_temp_removes_only_our_old_temporaries(backend: Backend) -> None:
    _plant_temp(backend, A, temp_name(100.0))
    _plant_temp(backend, A, temp_name(5000.0))
    _plant_temp(backend, A, "not-ours")
    assert backend.clean_temp(A, before=1000.0) == 1
    assert len(_temp_entries(backend, A)) == 2
    assert backend.clean_temp(A, before=10_000.0) == 1
    assert _temp_entries(backend, A) == ["not-ours"]


def test_local_delete_prunes_empty_directories(tmp_path: Path) -> None:
    be = LocalBackend("vb-prune", root=tmp_path)
    be.ensure(A)
    src = tmp_path / "s"
    src.write_bytes(b"1")
    be.put_file(A, "x/y/z", src, now=0.0)
    be.put_file(A, "x/keep", src, now=0.0)
    be.delete(A, "x/y/z")
    top = Path(be.location(A))
    assert not (top / "x" / "y").exists() and (top / "x" / "keep").is_file()


def test_unknown_backend_is_a_user_error() -> None:
    with pytest.raises(UserError, match="--backend"):
        open_backend("ftp", "vb")


def test_temp_names_carry_the_clock_time() -> None:
    assert temp_time(temp_name(1234.567)) == pytest.approx(1234.567)
    assert temp_time("random-file") is None and temp_time("nodash") is None


@pytest.mark.parametrize("key", ["", "/abs", "dir/", "a//b", "a/../b", "..", "./x", "tab\there", "a\\b"])
def test_keys_that_could_escape_or_confuse_are_refused(key: str) -> None:
    with pytest.raises(UserError, match="KEY"):
        check_key(key)


def test_targets_and_physical_names() -> None:
    assert parse_target("photos/2024/cat.jpg", need_key=True) == ("photos", "2024/cat.jpg")
    assert parse_target("photos", need_key=False) == ("photos", "")
    with pytest.raises(UserError, match="missing the object key"):
        parse_target("photos", need_key=True)
    with pytest.raises(UserError, match="bucket name"):
        parse_target("Photos/x", need_key=True)
    name = physical_bucket_name("a" * 40, "azure:southeastasia")
    assert len(name) <= 63 and re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", name)
    assert name != physical_bucket_name("a" * 40, "azure:westus")
    tricky = [("x", 1, 23), ("x", 12, 3), ("x~v1", 2, 3), ("x~v1.2", 3, 4), ("x", 1, 2)]
    assert len({physical_key(*t) for t in tricky}) == len(tricky)


def test_s3_region_mapping() -> None:
    from skyctl.store.backends.s3 import aws_region

    assert aws_region("aws:eu-west-1") == "eu-west-1"
    assert aws_region("gcp:us-west1") == "us-east-1"
