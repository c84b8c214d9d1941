"""EC2's spot interruption notice as the control plane sees it: the status of the instance's spot request.

When EC2 decides to take a spot instance back it gives the instance two minutes. Inside the VM that shows
as `spot/instance-action` in the instance metadata; outside it (what a controller can read with an API
call) the spot request's status code changes at once: `marked-for-termination` / `marked-for-stop`, or,
for capacity reclaims of instances that terminate on interruption, straight to
`instance-terminated-no-capacity` while the instance still shows `running` (AWS's "Spot request status"
page). RunInstances with spot market options creates that request too, so it exists for our instances.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FILTER_VALUES = 200  # EC2's limit on the values of one filter


def is_interruption(code: str) -> bool:
    """A spot request status code saying EC2 is interrupting the instance: `marked-for-*` during the
    notice, `instance-terminated-*` / `instance-stopped-*` (no-capacity, by-price, ...) once decided. The
    `*-by-user` codes are somebody's own stop or terminate, not a notice."""
    if code.endswith("-by-user"):
        return False
    return code.startswith(("marked-for-", "instance-terminated-", "instance-stopped-"))


def spot_notices(ec2: Any, instance_ids: Iterable[str]) -> dict[str, str]:
    """{instance id: "code: message"} for those of `instance_ids` whose spot request announces an
    interruption; one DescribeSpotInstanceRequests (per 200 ids) filtered by instance id."""
    ids = sorted(set(instance_ids))
    pager = ec2.get_paginator("describe_spot_instance_requests")
    out: dict[str, str] = {}
    for at in range(0, len(ids), FILTER_VALUES):
        pages = pager.paginate(Filters=[{"Name": "instance-id", "Values": ids[at:at + FILTER_VALUES]}])
        for req in (r for page in pages for r in page["SpotInstanceRequests"]):
            status = req.get("Status") or {}
            code = str(status.get("Code") or "")
            if req.get("InstanceId") and is_interruption(code):
                out[req["InstanceId"]] = f"{code}: {status['Message']}" if status.get("Message") else code
    return out
