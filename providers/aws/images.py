"""The default machine image per region: the newest AWS Deep Learning AMI (NVIDIA driver, CUDA, Python).

AMI ids differ per region and change with every release, so they are looked up, not shipped: first the
public SSM parameter AWS maintains for the DLAMI (what `resolve:ssm:` would read; moto stores that prefix
literally instead of resolving it, so we read the parameter ourselves), then, where the parameter is
missing (older partitions, moto), the newest Amazon-owned image named like a Deep Learning AMI on Ubuntu.
The answer is cached per endpoint and region for the life of the process (one lookup costs a second or
more; a DLAMI release a few days old is as good as the newest for a replica).
"""

from __future__ import annotations

import threading
from typing import Any

DLAMI_PARAMETER = ("/aws/service/deeplearning/ami/x86_64/"
                   "base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id")
NAME_PATTERNS = ("Deep Learning*Ubuntu*", "Deep Learning*")
_CACHE: dict[tuple[str, str], str] = {}
_LOCK = threading.Lock()


class NoDefaultImage(LookupError):
    """No deep-learning image could be found in a region; the user must pass `image_id`."""


def default_image(ssm: Any, ec2: Any) -> str:
    """The DLAMI id for the clients' region (boto3 `ssm` and `ec2` clients), cached."""
    key = (str(ec2.meta.endpoint_url), str(ec2.meta.region_name))
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = _lookup(ssm, ec2)
        return _CACHE[key]


def _lookup(ssm: Any, ec2: Any) -> str:
    from botocore.exceptions import ClientError

    try:
        return str(ssm.get_parameter(Name=DLAMI_PARAMETER)["Parameter"]["Value"])
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") not in {"ParameterNotFound", "AccessDeniedException"}:
            raise
    for pattern in NAME_PATTERNS:
        images = ec2.describe_images(Owners=["amazon"], Filters=[
            {"Name": "name", "Values": [pattern]}, {"Name": "state", "Values": ["available"]},
            {"Name": "architecture", "Values": ["x86_64"]}])["Images"]
        if images:
            newest = max(images, key=lambda im: (im.get("CreationDate", ""), im["ImageId"]))
            return str(newest["ImageId"])
    raise NoDefaultImage(ec2.meta.region_name)
