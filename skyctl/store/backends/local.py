"""The embedded default backend: `<root>/<region>/<physical bucket>/<key>` on the local file system.

Root is `$SKYCTL_HOME/buckets` unless given. Temporary files live in `<root>/<region>/.tmp/`, on the
same file system as the bucket, so placing an object is an `os.replace` (atomic) after an fsync.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from skyctl.home import skyctl_home
from skyctl.store.backends import DataMissing, temp_name, temp_time
from skyctl.store.names import physical_bucket_name


class LocalBackend:
    kind = "local"

    def __init__(self, vbucket: str, root: Path | None = None) -> None:
        self.vbucket = vbucket
        self.root = root or skyctl_home() / "buckets"

    def physical_bucket(self, region: str) -> str:
        return physical_bucket_name(self.vbucket, region)

    def _dir(self, region: str) -> Path:
        return self.root / region / self.physical_bucket(region)

    def _tmp(self, region: str) -> Path:
        return self.root / region / ".tmp"

    def location(self, region: str) -> str:
        return str(self._dir(region))

    def ensure(self, region: str) -> None:
        self._dir(region).mkdir(parents=True, exist_ok=True)
        self._tmp(region).mkdir(parents=True, exist_ok=True)

    def put_file(self, region: str, key: str, src: Path, now: float) -> None:
        final = self._dir(region) / key
        tmp = self._tmp(region) / temp_name(now)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
            fout.flush()
            os.fsync(fout.fileno())
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        _fsync_dir(final.parent)

    def get_file(self, region: str, key: str, dst: Path) -> None:
        try:
            shutil.copyfile(self._dir(region) / key, dst)
        except FileNotFoundError as e:
            raise DataMissing(f"{self.location(region)}/{key} is missing") from e

    def exists(self, region: str, key: str) -> bool:
        return (self._dir(region) / key).is_file()

    def delete(self, region: str, key: str) -> None:
        path = self._dir(region) / key
        path.unlink(missing_ok=True)
        top = self._dir(region)
        parent = path.parent
        while parent != top and top in parent.parents:  # drop directories the key left empty
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def clean_temp(self, region: str, before: float) -> int:
        removed = 0
        tmp = self._tmp(region)
        for entry in tmp.iterdir() if tmp.is_dir() else ():
            made = temp_time(entry.name)
            if made is not None and made < before:
                entry.unlink(missing_ok=True)
                removed += 1
        return removed


def _fsync_dir(path: Path) -> None:
    """Make the rename itself durable before the metadata says the object is there."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
