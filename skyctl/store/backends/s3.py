"""S3-compatible backend through boto3: one physical bucket per region, named from (vbucket, region).

The endpoint comes from `AWS_ENDPOINT_URL` (MinIO, moto, or unset for AWS itself) and credentials from
boto3's usual chain. `aws:<region>` maps to that AWS region; other clouds' regions (served by an
S3-compatible endpoint) use the endpoint's default region. An upload goes to `.skyctl-tmp/<clock>-<id>`
and is then server-side copied to its key, so a reader never sees a partial object under the real key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from skyctl.errors import Failure
from skyctl.store.backends import DataMissing, temp_name, temp_time
from skyctl.store.names import physical_bucket_name

TEMP_PREFIX = ".skyctl-tmp/"
DEFAULT_REGION = "us-east-1"
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
_TRANSFER = TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20)


def aws_region(region: str) -> str:
    cloud, _, name = region.partition(":")
    return name if cloud == "aws" and name else DEFAULT_REGION


class S3Backend:
    kind = "s3"

    def __init__(self, vbucket: str, endpoint_url: str | None = None) -> None:
        self.vbucket = vbucket
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        self._clients: dict[str, Any] = {}

    def _client(self, region: str) -> Any:
        name = aws_region(region)
        if name not in self._clients:
            self._clients[name] = boto3.client("s3", region_name=name, endpoint_url=self.endpoint_url)
        return self._clients[name]

    def physical_bucket(self, region: str) -> str:
        return physical_bucket_name(self.vbucket, region)

    def location(self, region: str) -> str:
        return f"s3://{self.physical_bucket(region)}"

    def _call(self, what: str, region: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise DataMissing(f"{what}: {self.location(region)}: {code}") from e
            raise Failure(f"{what} on {self.location(region)} failed: {e}") from e
        except BotoCoreError as e:
            raise Failure(f"{what} on {self.location(region)} failed: {e}; check AWS_ENDPOINT_URL and "
                          "credentials") from e

    def ensure(self, region: str) -> None:
        client, bucket = self._client(region), self.physical_bucket(region)
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if aws_region(region) != DEFAULT_REGION:
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": aws_region(region)}
        try:
            client.create_bucket(**kwargs)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise Failure(f"creating {self.location(region)} failed: {e}") from e
        except BotoCoreError as e:
            raise Failure(f"creating {self.location(region)} failed: {e}; check AWS_ENDPOINT_URL") from e

    def put_file(self, region: str, key: str, src: Path, now: float) -> None:
        client, bucket = self._client(region), self.physical_bucket(region)
        tmp = TEMP_PREFIX + temp_name(now)
        self._call("upload", region, client.upload_file, str(src), bucket, tmp, Config=_TRANSFER)
        self._call("copy", region, client.copy, {"Bucket": bucket, "Key": tmp}, bucket, key, Config=_TRANSFER)
        self._call("delete", region, client.delete_object, Bucket=bucket, Key=tmp)

    def get_file(self, region: str, key: str, dst: Path) -> None:
        client, bucket = self._client(region), self.physical_bucket(region)
        self._call("download", region, client.download_file, bucket, key, str(dst), Config=_TRANSFER)

    def exists(self, region: str, key: str) -> bool:
        client, bucket = self._client(region), self.physical_bucket(region)
        try:
            self._call("head", region, client.head_object, Bucket=bucket, Key=key)
        except DataMissing:
            return False
        return True

    def delete(self, region: str, key: str) -> None:
        client, bucket = self._client(region), self.physical_bucket(region)
        self._call("delete", region, client.delete_object, Bucket=bucket, Key=key)

    def clean_temp(self, region: str, before: float) -> int:
        client, bucket = self._client(region), self.physical_bucket(region)
        paginator = client.get_paginator("list_objects_v2")
        stale = []
        pages = self._call("list", region,
                           lambda: list(paginator.paginate(Bucket=bucket, Prefix=TEMP_PREFIX)))
        for page in pages:
            for obj in page.get("Contents", []):
                made = temp_time(obj["Key"][len(TEMP_PREFIX):])
                if made is not None and made < before:
                    stale.append(obj["Key"])
        for key in stale:
            self.delete(region, key)
        return len(stale)
