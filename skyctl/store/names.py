"""Validation of virtual bucket names, object keys and `vbucket/key` targets, and the physical names
derived from them.

Keys become file paths in the local backend, so anything that could escape the bucket directory
(`..`, absolute paths, empty segments, control characters) is refused up front.
"""

from __future__ import annotations

import hashlib
import re

from skyctl.errors import UserError

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")
MAX_KEY = 1024


def check_bucket_name(name: str, field: str = "NAME") -> str:
    if not _BUCKET_RE.match(name) or "--" in name:
        raise UserError("not a valid virtual bucket name", field=field, value=name,
                        fix="use 3-40 lowercase letters, digits and single hyphens, starting and ending "
                            "with a letter or digit")
    return name


def check_key(key: str, field: str = "KEY") -> str:
    why = None
    if not key:
        why = "the object key is empty"
    elif len(key.encode()) > MAX_KEY:
        why = f"the object key is longer than {MAX_KEY} bytes"
    elif any(ord(c) < 32 or c in "\\\x7f" for c in key):
        why = "the object key contains a control character or backslash"
    elif key.startswith("/") or key.endswith("/"):
        why = "the object key starts or ends with '/'"
    elif any(part in ("", ".", "..") for part in key.split("/")):
        why = "the object key has an empty, '.' or '..' path segment"
    if why:
        raise UserError(why, field=field, value=key,
                        fix="use a key like 'dir/name.ext' (segments separated by single '/')")
    return key


def parse_target(target: str, *, need_key: bool, field: str = "TARGET") -> tuple[str, str]:
    """`vbucket/key` -> (vbucket, key); with need_key=False, `vbucket` or `vbucket/prefix` is allowed."""
    bucket, _, key = target.partition("/")
    check_bucket_name(bucket, field)
    if need_key:
        if not key:
            raise UserError("missing the object key", field=field, value=target,
                            fix="write the target as VBUCKET/KEY, e.g. photos/2024/cat.jpg")
        check_key(key, field)
    return bucket, key


def physical_bucket_name(vbucket: str, region: str, prefix: str = "skyctl") -> str:
    """An S3-legal name (<= 63 chars, [a-z0-9-]) unique per (virtual bucket, region)."""
    slug = re.sub(r"[^a-z0-9]+", "-", region.lower()).strip("-")
    name = f"{prefix}-{vbucket}-{slug}"
    if len(name) > 63:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = f"{name[:54].rstrip('-')}-{digest}"
    return name


def physical_key(key: str, version: int, replica_id: int) -> str:
    """One physical key per replica, so a late writer can never clobber or delete another replica's
    bytes; the `~v<version>.<id>` suffix never contains '~v', so the mapping is injective."""
    return f"{key}~v{version}.{replica_id}"
