"""Where a replica may run: `cloud`, `region`, `zone` and SkyPilot's newer `infra: cloud/region/zone`.

Cloud names are SkyPilot's (case-insensitive) plus `local`, skyctl's embedded provider whose region is
`local` and whose zones are `local-a`, `local-b`, ... A zone without a region gets its region filled in
where the zone name encodes it (AWS `us-east-1a`, GCP `us-central1-a`, local), so placers can group
candidates by region.
"""

from __future__ import annotations

import re
from typing import Any

from skyctl.spec.fields import Reader

LOCAL_CLOUD = "local"
LOCAL_REGION = "local"
LOCAL_ZONE = re.compile(r"local-[a-z0-9]+")
SKYPILOT_CLOUDS = ("aws", "gcp", "azure", "kubernetes", "lambda", "oci", "ibm", "scp", "runpod", "vast",
                   "vsphere", "cudo", "fluidstack", "paperspace", "do", "nebius", "hyperbolic", "ssh")
CLOUDS = (LOCAL_CLOUD, *SKYPILOT_CLOUDS)
_CLOUD_ALIASES = {"k8s": "kubernetes"}
# Zone names that carry their region: AWS `us-east-1a`, GCP `us-central1-a`.
_ZONE_REGION = {"aws": re.compile(r"(?P<region>[a-z]+-[a-z]+-\d+)[a-z]"),
                "gcp": re.compile(r"(?P<region>[a-z]+-[a-z]+\d+)-[a-z]")}

Location = tuple[str | None, str | None, str | None]


def parse_cloud(reader: Reader, value: Any, path: str) -> str:
    text = reader.string(value, path, example="cloud: aws").lower()
    return reader.choice(_CLOUD_ALIASES.get(text, text), path, CLOUDS)


def parse_infra(reader: Reader, value: Any, path: str) -> Location:
    """`aws`, `aws/us-east-1`, `gcp/us-central1/us-central1-a`, `*/us-east-1`, `k8s/my-context`."""
    text = reader.string(value, path, example="infra: aws/us-east-1")
    head, _, rest = text.partition("/")
    if head.lower() in ("k8s", "kubernetes"):  # a Kubernetes context may itself contain slashes
        return "kubernetes", rest or None, None
    parts = text.split("/")
    if len(parts) > 3 or any(not p for p in parts):
        raise reader.error(path, "must look like cloud[/region[/zone]]", value,
                           "write e.g. `infra: aws/us-east-1` or `infra: gcp/us-central1/us-central1-a`")
    cloud = None if parts[0] == "*" else parse_cloud(reader, parts[0], path)
    region, zone = [None if p == "*" else p for p in parts[1:]] + [None] * (3 - len(parts))
    return cloud, region, zone


def resolve(reader: Reader, fields: dict[str, tuple[Any, str]]) -> Location:
    """The location of one candidate from its merged fields (`key -> (value, yaml path)`)."""
    if "infra" in fields:
        clash = [k for k in ("cloud", "region", "zone") if k in fields]
        if clash:
            value, path = fields[clash[0]]
            raise reader.error(path, "cannot be combined with `infra`", value,
                               "put the whole location in `infra: cloud/region/zone` or drop `infra`")
        cloud, region, zone = parse_infra(reader, *fields["infra"])
        path = fields["infra"][1]
        region_path = zone_path = path
    else:
        cloud = parse_cloud(reader, *fields["cloud"]) if "cloud" in fields else None
        region = _name(reader, fields, "region", "region: us-east-1")
        zone = _name(reader, fields, "zone", "zone: us-east-1a")
        region_path = fields.get("region", (None, "resources.region"))[1]
        zone_path = fields.get("zone", (None, "resources.zone"))[1]
    if cloud == LOCAL_CLOUD:
        return _local(reader, region, zone, region_path, zone_path)
    if cloud in _ZONE_REGION and zone is not None:
        match = _ZONE_REGION[cloud].fullmatch(zone)
        if match and region is None:
            region = match["region"]
        elif match and match["region"] != region:
            raise reader.error(zone_path, f"is not a zone of region {region}", zone,
                               f"use a zone whose name starts with {region}, or drop the region")
    return cloud, region, zone


def _name(reader: Reader, fields: dict[str, tuple[Any, str]], key: str, example: str) -> str | None:
    return reader.string(*fields[key], example=example) if key in fields else None


def _local(reader: Reader, region: str | None, zone: str | None, region_path: str,
           zone_path: str) -> Location:
    if region not in (None, LOCAL_REGION):
        raise reader.error(region_path, f"the local cloud has one region, `{LOCAL_REGION}`", region,
                           f"write `region: {LOCAL_REGION}` or leave it out")
    if zone is not None and not LOCAL_ZONE.fullmatch(zone):
        raise reader.error(zone_path, "local zones are named local-a, local-b, ...", zone,
                           "write e.g. `zone: local-a`")
    return LOCAL_CLOUD, LOCAL_REGION, zone

