"""A hand-built week of records (the rows a controller and the store would have written) and the costs
computed by hand from them, for the cost-report tests.

Window: [2026-11-01, 2026-11-08) UTC, "now" = 2026-11-07 12:00 UTC (T0 + 156 h).

Service `chat` (updated v1 -> v2 on day 2), all prices recorded at launch:
  r1 v1 spot   target        aws us-east-1a     0.40/h (od 1.00)  T0-12h .. T0+30h  -> 30 h in window = 12.00
  r2 v1 spot   target        aws us-east-1b     0.50/h (od 1.00)  T0+2h  .. T0+10h preempted = 4.00
  r3 v1 od     fallback      aws us-east-1a     1.00/h (od 1.00)  T0+10h .. T0+14h = 4.00
  r4 v2 spot   target        gcp us-central1-a  0.30/h (od NOT recorded -> catalog 0.90, estimated)
                                                                     T0+29h .. open  -> 127 h = 38.10
  r5 v2 spot   overprovision gcp us-central1-b  0.35/h (od 0.90)  T0+29h .. open -> 127 h = 44.45
  r6 never launched (FAILED_PROVISION); r7 ended before the window: both cost nothing here.
  The catalog today says 0.25/h spot for r4/r5's type: a price change after launch, which must not count.
Service `embed`:
  e1 od base_ondemand azure eastus 0.526/h recorded                  T0+72h .. T0+102h = 15.78
  e2 od target        azure eastus no price recorded -> catalog 0.60 T0+120h .. T0+130h = 6.00 (estimated)
Service `old` was torn down before the window: not listed.
Bucket `models` (prices from PRICING_YAML):
  copy in aws:us-east-1, 30 GiB, stored since T0-10d, open -> 156 h x 30 x 0.02/720 = 0.13
  copy in gcp:us-west1,  30 GiB, T0+24h .. T0+96h -> 72 h x 30 x 0.03/720 = 0.09
  egress aws:us-east-1 -> gcp:us-west1: 30 GiB at T0+25h (2.70) + 10 GiB at T0+126h (0.90) = 3.60
  1000 GETs in aws:us-east-1 on 11-03 (0.0004), 1 PUT in gcp:us-west1 on 11-02 (0.00001), DELETEs free
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from skyctl.state import dispose_engines, get_engine, write_session
from skyctl.state.serve_tables import ReplicaRecord, ServiceRecord, ServiceVersion
from skyctl.state.store_tables import Replica, RequestRecord, StoredObject, Transfer, VBucket

H = 3600.0
GIB = 2**30
T0 = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
SINCE, UNTIL, NOW = "2026-11-01", "2026-11-08", "2026-11-07T12:00:00Z"
WINDOW_ARGS = ["--since", SINCE, "--until", UNTIL, "--now", NOW]

CATALOG_CSV = """\
cloud,region,zone,instance_type,gpu,gpu_count,gpu_memory_gb,vcpus,memory_gb,price_ondemand,price_spot,price_date,price_source
aws,us-east-1,us-east-1a,g5.xlarge,A10G,1,24,4,16,1.20,0.45,2026-11,test catalog after a price change
aws,us-east-1,us-east-1b,g5.xlarge,A10G,1,24,4,16,1.20,0.47,2026-11,test catalog after a price change
gcp,us-central1,us-central1-a,g2-standard-8,L4,1,24,8,32,0.90,0.25,2026-11,test catalog after a price change
gcp,us-central1,us-central1-b,g2-standard-8,L4,1,24,8,32,0.90,0.25,2026-11,test catalog after a price change
azure,eastus,,Standard_NC4as_T4_v3,T4,1,16,4,28,0.60,0.07,2026-11,test catalog after a price change
"""

PRICING_YAML = """\
storage: {aws:us-east-1: 0.02, gcp:us-west1: 0.03}
egress: {aws:us-east-1: {gcp:us-west1: 0.09}, gcp:us-west1: {aws:us-east-1: 0.12}}
get: {aws:us-east-1: 4.0e-7, gcp:us-west1: 4.0e-7}
put: {aws:us-east-1: 5.0e-6, gcp:us-west1: 1.0e-5}
"""

# Hand-computed expectations.
REPLICA_COST = {("chat", 1): 12.00, ("chat", 2): 4.00, ("chat", 3): 4.00, ("chat", 4): 38.10,
                ("chat", 5): 44.45, ("embed", 1): 15.78, ("embed", 2): 6.00}
REPLICA_OD = {("chat", 1): 30.00, ("chat", 2): 8.00, ("chat", 3): 4.00, ("chat", 4): 114.30,
              ("chat", 5): 114.30, ("embed", 1): 15.78, ("embed", 2): 6.00}
SERVE_COST, SERVE_OD = 124.33, 292.38
STORE_COST = 3.82041
TOTAL = SERVE_COST + STORE_COST
CHAT = {"cost": 102.55, "ondemand_equivalent": 270.60, "spot_cost": 98.55, "ondemand_cost": 4.00,
        "overprovision_cost": 44.45, "fallback_cost": 4.00, "saving": 168.05}
CLOUDS = {"aws": 20.00, "azure": 21.78, "gcp": 82.55}
DAYS = {  # date: (spot, on-demand, store)
    "2026-11-01": (13.60, 4.00, 0.02), "2026-11-02": (14.75, 0.0, 2.75001),
    "2026-11-03": (15.60, 0.0, 0.0504), "2026-11-04": (15.60, 12.624, 0.05),
    "2026-11-05": (15.60, 3.156, 0.02), "2026-11-06": (15.60, 6.00, 0.92), "2026-11-07": (7.80, 0.0, 0.01)}
BUCKETS = {("models", "aws:us-east-1"): {"storage_cost": 0.13, "egress_cost": 3.60, "requests": 1000,
                                          "request_cost": 0.0004},
           ("models", "gcp:us-west1"): {"storage_cost": 0.09, "egress_cost": 0.0, "requests": 2,
                                         "request_cost": 0.00001}}


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh home whose database holds the week above; the catalog is the post-change one.
    Yields the pricing file to pass as `--pricing`."""
    monkeypatch.setenv("SKYCTL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SKYCTL_DB_URL", raising=False)
    monkeypatch.setenv("SKYCTL_CATALOG", str(write_catalog(tmp_path)))
    fill_serve()
    fill_store()
    yield write_pricing(tmp_path)
    dispose_engines()


def run_cli(args: list[str]) -> int:
    """`skyctl cost-report ARGS` in-process through the real entry point (error boundary, exit codes).
    Registers the group on the root app if the lead has not yet added it to `skyctl/cli/groups.py`."""
    from skyctl.cli import cost_report, main

    if not any(g.name == "cost-report" for g in main.app.registered_groups):
        main.app.add_typer(cost_report.app, name="cost-report")
    return main.run(["cost-report", *args])


def write_catalog(tmp: Path) -> Path:
    path = tmp / "catalog.csv"
    path.write_text(CATALOG_CSV)
    return path


def write_pricing(tmp: Path) -> Path:
    path = tmp / "pricing.yaml"
    path.write_text(PRICING_YAML)
    return path


def _replica(sid: int, rid: int, version: int, status: str, *, spot: bool, purpose: str = "target",
             cloud: str | None = None, region: str | None = None, zone: str | None = None,
             itype: str | None = None, price: float | None = None, od: float | None = None,
             start: float | None = None, end: float | None = None, preempted: bool = False) -> ReplicaRecord:
    return ReplicaRecord(
        service_id=sid, replica_id=rid, version=version, status=status, spot=spot, purpose=purpose,
        idempotency_key=f"{sid}-{rid}", cloud=cloud, region=region, zone=zone, instance_type=itype,
        accelerator={"g5.xlarge": "A10G", "g2-standard-8": "L4"}.get(itype or "", "T4" if itype else None),
        accelerator_count=1 if itype else 0, price_per_hour=price, ondemand_price_per_hour=od,
        created_at=(start or T0) - 60, launch_started_at=start, launched_at=start, ended_at=end,
        preempted=preempted)


def fill_serve() -> None:
    aws = {"cloud": "aws", "region": "us-east-1", "itype": "g5.xlarge"}
    gcp = {"cloud": "gcp", "region": "us-central1", "itype": "g2-standard-8"}
    azure = {"cloud": "azure", "region": "eastus", "itype": "Standard_NC4as_T4_v3"}
    with write_session(get_engine()) as s:
        s.add(ServiceRecord(id=1, name="chat", status="READY", created_at=T0 - 86400, current_version=2,
                            active_versions=[2], next_replica_id=8))
        s.add(ServiceRecord(id=2, name="embed", status="READY", created_at=T0, next_replica_id=3))
        s.add(ServiceRecord(id=3, name="old", status="DOWN", created_at=T0 - 40 * 86400,
                            down_at=T0 - 30 * 86400))
        s.flush()
        for v in (1, 2):
            s.add(ServiceVersion(service_id=1, version=v, spec={}, spec_hash=f"h{v}", replica_digest=f"d{v}",
                                 created_at=T0 - 86400 + v * 29 * H))
        s.add_all([
            _replica(1, 1, 1, "TERMINATED", spot=True, zone="us-east-1a", price=0.40, od=1.00,
                     start=T0 - 12 * H, end=T0 + 30 * H, **aws),
            _replica(1, 2, 1, "PREEMPTED", spot=True, zone="us-east-1b", price=0.50, od=1.00,
                     start=T0 + 2 * H, end=T0 + 10 * H, preempted=True, **aws),
            _replica(1, 3, 1, "TERMINATED", spot=False, purpose="fallback", zone="us-east-1a", price=1.00,
                     od=1.00, start=T0 + 10 * H, end=T0 + 14 * H, **aws),
            _replica(1, 4, 2, "READY", spot=True, zone="us-central1-a", price=0.30, od=None,
                     start=T0 + 29 * H, **gcp),
            _replica(1, 5, 2, "READY", spot=True, purpose="overprovision", zone="us-central1-b", price=0.35,
                     od=0.90, start=T0 + 29 * H, **gcp),
            _replica(1, 6, 2, "FAILED_PROVISION", spot=True),
            _replica(1, 7, 1, "TERMINATED", spot=True, zone="us-east-1a", price=0.40, od=1.00,
                     start=T0 - 48 * H, end=T0 - 24 * H, **aws),
            _replica(2, 1, 1, "TERMINATED", spot=False, purpose="base_ondemand", price=0.526, od=0.526,
                     start=T0 + 72 * H, end=T0 + 102 * H, **azure),
            _replica(2, 2, 1, "TERMINATED", spot=False, start=T0 + 120 * H, end=T0 + 130 * H, **azure),
            _replica(3, 1, 1, "TERMINATED", spot=False, price=9.0, od=9.0, start=T0 - 40 * 86400,
                     end=T0 - 30 * 86400, **aws),
        ])


def fill_store() -> None:
    east, west = "aws:us-east-1", "gcp:us-west1"
    with write_session(get_engine()) as s:
        b = VBucket(name="models", regions=[east, west], policy="t-even", status="ready",
                    created_at=T0 - 11 * 86400)
        s.add(b)
        s.flush()
        o = StoredObject(bucket_id=b.id, key="llama/weights.bin", version=1, size=30 * GIB, status="ready",
                         base_region=east, created_at=T0 - 10 * 86400, ready_at=T0 - 10 * 86400)
        s.add(o)
        s.flush()
        common = {"object_id": o.id, "bucket_id": b.id, "size": 30 * GIB}
        s.add(Replica(region=east, physical_key="a", origin="put", status="ready", is_base=True,
                      created_at=T0 - 10 * 86400, storage_start=T0 - 10 * 86400, **common))
        s.add(Replica(region=west, physical_key="b", origin="copy", status="gone", created_at=T0 + 24 * H,
                      storage_start=T0 + 24 * H, storage_end=T0 + 96 * H, **common))
        s.add(Replica(region=west, physical_key="c", origin="copy", status="failed", created_at=T0 + 100 * H,
                      **common))  # never became durable: stored nothing billable
        for at, gib in ((T0 + 25 * H, 30), (T0 + 126 * H, 10), (T0 - 24 * H, 30)):
            s.add(Transfer(bucket_id=b.id, object_id=o.id, src=east, dst=west, bytes=gib * GIB, at=at,
                           replicated=gib == 30))
        reqs = [RequestRecord(bucket_id=b.id, object_id=o.id, region=east, op="PUT", bytes=30 * GIB,
                              at=T0 - 10 * 86400),
                RequestRecord(bucket_id=b.id, object_id=o.id, region=west, op="PUT", bytes=30 * GIB,
                              at=T0 + 24 * H),
                RequestRecord(bucket_id=b.id, object_id=o.id, region=west, op="DELETE", at=T0 + 96 * H)]
        reqs += [RequestRecord(bucket_id=b.id, object_id=o.id, region=east, op="GET", bytes=1000,
                               at=T0 + 50 * H + i, client_region=west) for i in range(1000)]
        s.add_all(reqs)
