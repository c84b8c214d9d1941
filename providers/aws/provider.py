"""`aws`: replicas as EC2 instances (spot or on-demand) through boto3.

Every instance carries our tags (service, replica, spot, the launch's idempotency key, its port and the
price at launch), so `list` rebuilds everything from the cloud alone and a restarted controller can adopt
what a crashed one started. Launch is idempotent twice over: the ClientToken makes a retried RunInstances
return the same instance on AWS, and before each attempt we look for an instance already tagged with the
key (moto ignores ClientToken; the tag also covers a controller that crashed after the call returned).
Terminate writes `skyctl-stop=requested` on the instance before it calls TerminateInstances (write-ahead),
which is how a spot instance that is gone reads TERMINATED when we asked and PREEMPTED when we did not.
EC2's two-minute interruption notice comes from the control plane (`notices.py`): `list` and `status` put
it on `Instance.warning`, at the cost of one DescribeSpotInstanceRequests per region with live spot ones.

The endpoint comes from the standard `AWS_ENDPOINT_URL` (moto in tests), or `endpoint_url=`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from providers import credentials
from providers.aws.errors import AUTH_FIX, NAME, map_error
from providers.aws.images import NoDefaultImage, default_image
from providers.aws.notices import spot_notices
from providers.aws.startup import startup_script
from providers.base import (
    TAG_REPLICA,
    TAG_SERVICE,
    TAG_SPOT,
    Instance,
    LaunchSpec,
    Location,
    Provider,
    ProviderError,
    ProviderUserError,
    State,
)
from providers.retry import DEFAULT_POLICY, RetryPolicy, call_with_retry
from skyctl.catalog import Catalog, gpu_family, load_catalog
from skyctl.catalog.model import Offering

T = TypeVar("T")
log = logging.getLogger("skyctl.providers.aws")

TAG_KEY = "skyctl-idempotency-key"
TAG_PORT = "skyctl-port"
TAG_PRICE = "skyctl-price"
TAG_STOP = "skyctl-stop"  # "requested": we asked for the stop/terminate (written before the call)
DEFAULT_PORT = 8080
SECURITY_GROUP = "skyctl-replicas"
_ZONE = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-\d+)([a-z])$")
_ENDED = re.compile(r"\((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (?:GMT|UTC)\)")
_STATES = {"pending": State.PENDING, "running": State.RUNNING, "stopping": State.STOPPED,
           "stopped": State.STOPPED, "shutting-down": State.TERMINATED, "terminated": State.TERMINATED}


class AWSProvider(Provider):
    """EC2 in the catalog's AWS regions (or `regions`); one boto3 client per service and region."""

    name = NAME

    def __init__(self, *, regions: Iterable[str] | None = None, endpoint_url: str | None = None,
                 session: Any = None, catalog: Catalog | None = None, retry: RetryPolicy = DEFAULT_POLICY,
                 sleep: Callable[[float], None] = time.sleep, timeout: float = 15.0) -> None:
        self.catalog = catalog or load_catalog()
        self._offerings = [o for o in self.catalog.offerings if o.cloud == NAME]
        self.regions = sorted(regions) if regions is not None else sorted({o.region for o in self._offerings})
        self.endpoint_url = endpoint_url
        self.retry, self.sleep, self.timeout = retry, sleep, timeout
        self._session = session
        self._clients: dict[tuple[str, str, float], Any] = {}
        self._open_ports: set[tuple[str, int]] = set()
        self._notice_error: str | None = None  # last failure to read spot notices (logged once)
        self._lock = threading.Lock()

    # -- the Provider interface ------------------------------------------------------------------------
    def check(self) -> tuple[bool, str | None]:
        if self._session is not None:  # the caller chose the credentials
            found = self._session.get_credentials() is not None
            return found, None if found else f"the given boto3 session has no credentials; {AUTH_FIX}"
        info = credentials.detect(NAME)
        if not info.found:
            return False, info.reason
        if not credentials.sdk_installed(NAME):
            return False, credentials.install_hint(NAME)
        return True, None

    def probe(self, timeout: float = 5.0) -> str:
        """STS GetCallerIdentity: who these credentials are (one call, short timeouts, no retries)."""
        sts = self._client("sts", self.regions[0] if self.regions else "us-east-1", timeout)
        ident = self._call(sts.get_caller_identity, None, RetryPolicy(attempts=1))
        return str(ident.get("Arn") or ident.get("UserId"))

    def locations(self, *, spot: bool) -> list[Location]:
        zones = {(o.region, o.zone) for o in self._offerings
                 if o.zone and o.region in self.regions and o.price(spot) is not None}
        return [Location(NAME, r, z) for r, z in sorted(zones)]

    def price(self, instance_type: str | None, *, spot: bool, region: str | None = None,
              zone: str | None = None) -> float | None:
        if zone and not region:
            region = _region_of(zone)
        itype = instance_type or self._cheapest(spot, region, zone, {}).instance_type
        prices = [p for o in self._offerings if o.instance_type == itype
                  and (region is None or o.region == region) and (zone is None or o.zone == zone)
                  and (p := o.price(spot)) is not None]
        return min(prices) if prices else None

    def launch(self, spec: LaunchSpec) -> Instance:
        region, zone = self._place(spec)
        itype = spec.instance_type or self._cheapest(spec.spot, region, zone, spec.accelerators).instance_type
        loc = Location(NAME, region, zone)
        ec2 = self._client("ec2", region)

        def attempt() -> Instance:
            found = self._describe(region, [{"Name": f"tag:{TAG_KEY}", "Values": [spec.idempotency_key]}])
            if found:  # launched before (by us, or by a process that crashed before recording it)
                return min(found, key=lambda i: (i.launched_at or 0.0, i.id))
            resp = ec2.run_instances(**self._run_args(spec, region, zone, itype))
            return self._instance(resp["Instances"][0], region)

        return self._call(attempt, loc)

    def list(self, service: str | None = None) -> list[Instance]:
        key = [service] if service else None
        filters = [{"Name": f"tag:{TAG_SERVICE}", "Values": key}] if key else [
            {"Name": "tag-key", "Values": [TAG_SERVICE]}]
        return self._everywhere(filters)

    def status(self, ids: Iterable[str], *, notices: bool = True) -> dict[str, Instance]:
        want = sorted(set(ids))
        if not want:
            return {}
        found = self._everywhere([{"Name": "instance-id", "Values": want},
                                  {"Name": "tag-key", "Values": [TAG_SERVICE]}], notices=notices)
        return {i.id: i for i in found}

    def terminate(self, ids: Iterable[str]) -> None:
        by_region: dict[str, list[Instance]] = {}
        for inst in self.status(ids, notices=False).values():
            by_region.setdefault(inst.region, []).append(inst)
        for region, found in by_region.items():
            ec2 = self._client("ec2", region)
            mine = [i.id for i in found if i.state.live]  # a preempted instance stays PREEMPTED
            if mine:  # write-ahead: the tag says "we asked" even if we crash before the terminate call
                self._call(lambda ec2=ec2, mine=mine: ec2.create_tags(
                    Resources=mine, Tags=[{"Key": TAG_STOP, "Value": "requested"}]), None)
            # a spot instance the cloud only stopped still holds its disk: delete it too, untagged
            doomed = [i.id for i in found if i.state.live or i.state is State.PREEMPTED]
            if doomed:
                self._call(lambda ec2=ec2, doomed=doomed: _terminate_each(ec2, doomed),
                           Location(NAME, region))

    # -- internals ---------------------------------------------------------------------------------------
    def _client(self, service: str, region: str, timeout: float | None = None) -> Any:
        key = (service, region, timeout or self.timeout)
        with self._lock:
            if key not in self._clients:
                import boto3
                from botocore.config import Config

                if self._session is None:
                    self._session = boto3.Session()
                cfg = Config(connect_timeout=key[2], read_timeout=key[2],
                             retries={"total_max_attempts": 1, "mode": "standard"})  # retry.py retries
                kw = {"endpoint_url": self.endpoint_url} if self.endpoint_url else {}
                self._clients[key] = self._session.client(service, region_name=region, config=cfg, **kw)
            return self._clients[key]

    def _call(self, fn: Callable[[], T], location: Location | None,
              policy: RetryPolicy | None = None) -> T:
        """`fn()` with botocore errors mapped to the taxonomy and TransientError retried with backoff."""
        def mapped() -> T:
            try:
                return fn()
            except Exception as exc:
                err = map_error(exc, location)
                if err is None:
                    raise
                raise err from exc

        return call_with_retry(mapped, policy=policy or self.retry, sleep=self.sleep)

    def _everywhere(self, filters: list[dict[str, Any]], *, notices: bool = True) -> list[Instance]:
        """Instances matching `filters` in every region, with their spot notices, fetched in parallel
        (one DescribeInstances per region, plus one DescribeSpotInstanceRequests where spot ones run)."""
        def region(r: str) -> list[Instance]:
            found = self._describe(r, filters)
            return self._with_notices(r, found) if notices else found

        if len(self.regions) <= 1:
            return [i for r in self.regions for i in region(r)]
        with ThreadPoolExecutor(max_workers=min(8, len(self.regions))) as pool:
            parts = list(pool.map(region, self.regions))
        return sorted((i for part in parts for i in part), key=lambda i: (i.launched_at or 0.0, i.id))

    def _with_notices(self, region: str, found: list[Instance]) -> list[Instance]:
        """Set `warning` on the live spot instances (not stopped by us) whose spot request says EC2 is
        taking them back. Best effort: the notice only hastens what the preemption rule detects anyway, so
        a failure here (e.g. a policy without ec2:DescribeSpotInstanceRequests) is logged once and the
        instances are returned as listed."""
        watch = {i.id: i for i in found if i.spot and i.state.live and i.tags.get(TAG_STOP) != "requested"}
        if not watch:
            return found
        ec2 = self._client("ec2", region)
        try:
            notices = self._call(lambda: spot_notices(ec2, watch), Location(NAME, region))
        except ProviderError as exc:
            if str(exc) != self._notice_error:
                log.warning("cannot read spot interruption notices in %s: %s", region, exc)
            self._notice_error = str(exc)
            return found
        self._notice_error = None
        for instance_id, warning in notices.items():
            watch[instance_id].warning = warning
        return found

    def _describe(self, region: str, filters: list[dict[str, Any]]) -> list[Instance]:
        ec2 = self._client("ec2", region)

        def pages() -> list[dict[str, Any]]:
            return [inst for page in ec2.get_paginator("describe_instances").paginate(Filters=filters)
                    for res in page["Reservations"] for inst in res["Instances"]]

        return [self._instance(raw, region) for raw in self._call(pages, Location(NAME, region))]

    def _instance(self, raw: dict[str, Any], region: str) -> Instance:
        tags = {t["Key"]: t["Value"] for t in raw.get("Tags", [])}
        spot = tags.get(TAG_SPOT) == "true" or raw.get("InstanceLifecycle") == "spot"
        state, reason = _state(raw, tags, spot)
        ip = raw.get("PublicIpAddress") or raw.get("PrivateIpAddress")
        port = tags.get(TAG_PORT)
        launched = raw.get("LaunchTime")
        ended = _ENDED.search(raw.get("StateTransitionReason") or "") if not state.live else None
        return Instance(
            id=raw["InstanceId"], service=tags.get(TAG_SERVICE, ""), replica_id=tags.get(TAG_REPLICA, ""),
            state=state, spot=spot, cloud=NAME, region=region,
            zone=(raw.get("Placement") or {}).get("AvailabilityZone"), instance_type=raw.get("InstanceType"),
            endpoint=f"http://{ip}:{port}" if ip and port and state.live else None,
            price_per_hour=float(tags[TAG_PRICE]) if tags.get(TAG_PRICE) else None,
            launched_at=launched.timestamp() if isinstance(launched, datetime) else None,
            ended_at=datetime.fromisoformat(ended.group(1) + "+00:00").timestamp() if ended else None,
            reason=reason, idempotency_key=tags.get(TAG_KEY), tags=tags)

    def _place(self, spec: LaunchSpec) -> tuple[str, str | None]:
        """(region, zone) of a launch; only regions `list` scans are allowed, or we could leak instances."""
        if spec.zone:
            m = _ZONE.match(spec.zone)
            region = m.group(1) if m else None
            if region is None or region not in self.regions or (spec.region and spec.region != region):
                zones = ", ".join(loc.zone or "" for loc in self.locations(spot=spec.spot)[:6])
                raise ProviderUserError("unknown AWS zone" + (f" in {spec.region}" if spec.region else ""),
                                        provider=NAME, field="zone", value=spec.zone,
                                        fix=f"use a zone of {', '.join(self.regions)}, e.g. {zones}")
            return region, spec.zone
        region = spec.region or (self.regions[0] if self.regions else None)
        if region not in self.regions:
            raise ProviderUserError("region not enabled for aws", provider=NAME, field="region",
                                    value=spec.region, fix=f"use one of {', '.join(self.regions)}")
        return region, None  # EC2 picks the zone

    def _cheapest(self, spot: bool, region: str | None, zone: str | None,
                  accelerators: dict[str, int]) -> Offering:
        """The catalog's cheapest offering there with these accelerators (any single-GPU one if none)."""
        if len(accelerators) > 1:
            raise ProviderUserError("one accelerator type per replica", provider=NAME, field="accelerators",
                                    value=accelerators, fix="ask for a single GPU type, e.g. {A10G: 1}")
        (gpu, count), = accelerators.items() if accelerators else ((None, 1),)
        family = set(gpu_family(gpu)) if gpu else None
        rows = [o for o in self._offerings if (region is None or o.region == region)
                and (zone is None or o.zone == zone) and (family is None or o.gpu in family)
                and o.gpu_count == count and o.price(spot) is not None]
        if not rows:
            where = zone or region or "any AWS region"
            raise ProviderUserError(f"no {'spot ' if spot else ''}offering in the catalog in {where}",
                                    provider=NAME, field="accelerators", value=accelerators or None,
                                    fix="set instance_type, or pick a place from "
                                        "`skyctl catalog ls --cloud aws`")
        return min(rows, key=lambda o: (o.price(spot), o.instance_type))

    def _run_args(self, spec: LaunchSpec, region: str, zone: str | None, itype: str) -> dict[str, Any]:
        port = spec.ports[0] if spec.ports else DEFAULT_PORT
        price = self.price(itype, spot=spec.spot, region=region, zone=zone)
        tags = {**spec.all_tags(), TAG_KEY: spec.idempotency_key, TAG_PORT: str(port),
                "Name": f"skyctl-{spec.service}-{spec.replica_id}"}
        if price is not None:
            tags[TAG_PRICE] = f"{price:g}"
        tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
        try:
            user_data = startup_script(spec, port)
        except ValueError as e:
            raise ProviderUserError(str(e), provider=NAME, field="setup",
                                    value=f"{len(spec.setup or '')} chars",
                                    fix="move long set-up steps into the image or a fetched script") from None
        image = spec.image_id or self._default_image(region)
        args: dict[str, Any] = dict(
            ImageId=image, InstanceType=itype, MinCount=1, MaxCount=1, UserData=user_data,
            ClientToken=hashlib.sha256(spec.idempotency_key.encode()).hexdigest()[:64],
            TagSpecifications=[{"ResourceType": "instance", "Tags": tag_list},
                               {"ResourceType": "volume", "Tags": tag_list}],
            SecurityGroupIds=[self._security_group(region, port)])
        if zone:
            args["Placement"] = {"AvailabilityZone": zone}
        if spec.spot:
            args["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": {
                "SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}}
        if spec.disk_size_gb:
            args["BlockDeviceMappings"] = [{"DeviceName": self._root_device(region, image), "Ebs": {
                "VolumeSize": spec.disk_size_gb, "VolumeType": "gp3", "DeleteOnTermination": True}}]
        return args

    def _default_image(self, region: str) -> str:
        try:
            return self._call(lambda: default_image(self._client("ssm", region), self._client("ec2", region)),
                              Location(NAME, region))
        except NoDefaultImage:
            raise ProviderUserError("no Deep Learning AMI found in this region", provider=NAME,
                                    field="image_id", value=None, location=Location(NAME, region),
                                    fix="set image_id to an AMI of this region") from None

    def _root_device(self, region: str, image: str) -> str:
        ec2 = self._client("ec2", region)
        images = self._call(lambda: ec2.describe_images(ImageIds=[image])["Images"], Location(NAME, region))
        return str(images[0].get("RootDeviceName") or "/dev/sda1") if images else "/dev/sda1"

    def _security_group(self, region: str, port: int) -> str:
        """A group that lets the load balancer reach the replica's port (created once per region)."""
        ec2 = self._client("ec2", region)
        loc = Location(NAME, region)
        groups = self._call(lambda: ec2.describe_security_groups(Filters=[
            {"Name": "group-name", "Values": [SECURITY_GROUP]}])["SecurityGroups"], loc)
        if groups:
            group_id = groups[0]["GroupId"]
        else:
            group_id = self._call(lambda: ec2.create_security_group(
                GroupName=SECURITY_GROUP, Description="skyctl replicas: serving port open")["GroupId"], loc)
        if (group_id, port) not in self._open_ports:
            self._call(lambda: _open_port(ec2, group_id, port), loc)
            self._open_ports.add((group_id, port))
        return str(group_id)


def _state(raw: dict[str, Any], tags: dict[str, str], spot: bool) -> tuple[State, str | None]:
    """EC2 state -> State; the preemption rule: a spot instance not running that we did not stop."""
    name = raw["State"]["Name"]
    code = (raw.get("StateReason") or {}).get("Code") or None
    state = _STATES.get(name, State.FAILED)
    ours = tags.get(TAG_STOP) == "requested"
    if state in (State.STOPPED, State.TERMINATED) and not ours:
        if spot:
            return State.PREEMPTED, code or f"spot instance {name}"
        if state is State.TERMINATED:
            return State.FAILED, code or "terminated outside skyctl"
        return State.STOPPED, code
    return state, code if state is State.STOPPED else None


def _terminate_each(ec2: Any, ids: list[str]) -> None:
    """One unknown id makes EC2 reject the whole batch, so fall back to one call per id."""
    from botocore.exceptions import ClientError

    try:
        ec2.terminate_instances(InstanceIds=ids)
        return
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") != "InvalidInstanceID.NotFound":
            raise
    for one in ids:
        try:
            ec2.terminate_instances(InstanceIds=[one])
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "InvalidInstanceID.NotFound":
                raise


def _open_port(ec2: Any, group_id: str, port: int) -> None:
    from botocore.exceptions import ClientError

    try:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": port, "ToPort": port,
            "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "skyctl load balancer"}]}])
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") != "InvalidPermission.Duplicate":
            raise


def _region_of(zone: str) -> str | None:
    m = _ZONE.match(zone)
    return m.group(1) if m else None

