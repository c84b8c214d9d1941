"""R6: workload types A-E from the IBM sample trace, and the augmented next-access columns."""

from collections import defaultdict
from pathlib import Path

import pytest

from solvers.skystore import workload

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"
SAMPLE = SHARED / "skystore" / "traces" / "IBMObjectStoreSample"
REGIONS = ["aws:us-east-1", "azure:westeurope", "gcp:us-west1"]


@pytest.fixture(scope="module")
def ibm():
    if not SAMPLE.exists():
        pytest.skip(f"IBM sample trace not found at {SAMPLE} (shared data not mounted)")
    with SAMPLE.open() as f:
        return workload.parse_ibm(f)


def _by_object(rows):
    out = defaultdict(list)
    for row in rows:
        out[row[3]].append(row)
    return out


def test_parse_keeps_only_get_and_put(ibm):
    assert {q.op for q in ibm} == {"GET", "PUT"}
    assert len(ibm) == 1154 + 77  # GET and PUT lines of the sample; HEAD and COPY dropped


@pytest.mark.parametrize("kind", workload.TYPES)
def test_common_shape(ibm, kind):
    rows = workload.assign_regions(ibm, kind, REGIONS, seed=1)
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert {r[1] for r in rows} == {"GET", "PUT"}
    assert {r[2] for r in rows} <= set(REGIONS)
    first_ops = {}
    for q in ibm:
        first_ops.setdefault(q.key, q.op)
    for key, obj_rows in _by_object(rows).items():
        assert obj_rows[0][1] == "PUT"
        if first_ops[key] == "GET":
            assert obj_rows[0][0] == 0
        assert len({r[4] for r in obj_rows}) == 1  # fixed size


def test_type_c_one_group_reads_in_one_region(ibm):
    rows = workload.assign_regions(ibm, "C", REGIONS, seed=1)
    assert len({r[2] for r in rows if r[1] == "GET"}) == 1
    assert len({r[2] for r in rows if r[1] == "PUT"}) > 1


def test_type_b_one_put_and_one_get_region_per_object(ibm):
    per = _by_object(workload.assign_regions(ibm, "B", REGIONS, seed=1))
    for obj_rows in per.values():
        assert len({r[2] for r in obj_rows if r[1] == "PUT"}) == 1
        assert len({r[2] for r in obj_rows if r[1] == "GET"}) <= 1
    assert len({r[2] for rows in per.values() for r in rows if r[1] == "GET"}) > 1


def test_type_d_one_put_region_per_object(ibm):
    per = _by_object(workload.assign_regions(ibm, "D", REGIONS, seed=1))
    assert all(len({r[2] for r in rows if r[1] == "PUT"}) == 1 for rows in per.values())
    many_gets = [rows for rows in per.values() if sum(r[1] == "GET" for r in rows) > 10]
    assert any(len({r[2] for r in rows if r[1] == "GET"}) > 1 for rows in many_gets)


def test_seed_fixes_the_output(ibm):
    a = workload.assign_regions(ibm, "E", REGIONS, seed=7)
    assert a == workload.assign_regions(ibm, "E", REGIONS, seed=7)
    assert a != workload.assign_regions(ibm, "E", REGIONS, seed=8)


def test_augmented_columns(ibm):
    rows = workload.augment(workload.assign_regions(ibm, "A", REGIONS, seed=1))
    for i, row in enumerate(rows):
        later = [r for r in rows[i + 1:] if r[3] == row[3]]
        same = [r for r in later if r[2] == row[2]]
        assert row[5] == (later[0][0] if later else -1)
        assert row[6] == (same[0][0] if same else -1)
        if i > 300:
            break


def test_synthetic_mix():
    reqs = workload.synthetic(200, 2.0, seed=3)
    assert reqs == sorted(reqs, key=lambda q: q.t_ms)
    puts = sum(q.op == "PUT" for q in reqs) / len(reqs)
    assert 0.08 < puts < 0.18
    assert all(q.t_ms < 2 * 86400_000 for q in reqs)
