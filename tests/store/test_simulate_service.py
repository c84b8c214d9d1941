"""`skyctl store simulate` service layer: trace reading, pricing files, policy runs."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from skyctl.errors import UserError
from skyctl.store import simulate as sim
from skyctl.store.pricing import load_pricing

HEADER = "timestamp,op,issue_region,obj_key,size,extra\n"
PRICING = """
storage: {A: 0.02, B: 0.02}
egress: {A: {B: 0.02}, B: {A: 0.02}}
"""
DAY_MS = 86_400_000


def _write(tmp_path: Path, body: str, name: str = "t.csv") -> Path:
    p = tmp_path / name
    p.write_text(HEADER + body)
    return p


def _r2_trace(tmp_path: Path) -> Path:
    gib = 2**30
    return _write(tmp_path, f"0,PUT,A,k,{gib},x\n{DAY_MS},REST.GET.OBJECT,B,k,{gib},x\n"
                            f"{DAY_MS},REST.HEAD.OBJECT,B,k,{gib},x\n{11 * DAY_MS},GET,B,k,{gib},x\n"
                            f"{51 * DAY_MS},GET,B,k,{gib},x\n")


def test_read_trace_ops_and_extra_columns(tmp_path):
    tr = sim.read_trace(_r2_trace(tmp_path))
    assert len(tr) == 4  # HEAD skipped
    assert tr.regions == ("A", "B") and tr.n_objects == 1
    assert tr.write.tolist() == [True, False, False, False]
    assert tr.t[1] == 86400.0


def test_read_gzipped_trace(tmp_path):
    plain = _r2_trace(tmp_path).read_bytes()
    gz = tmp_path / "t.csv.gz"
    gz.write_bytes(gzip.compress(plain))
    assert len(sim.read_trace(gz)) == 4


def test_first_get_creates_the_object(tmp_path):
    tr = sim.read_trace(_write(tmp_path, "5,GET,A,k,10,x\n6,GET,B,k,10,x\n"))
    assert tr.write.tolist() == [True, False]


@pytest.mark.parametrize(("body", "field"), [
    ("x,GET,A,k,10,e\n", "line 2"),
    ("1,GET,A,k\n", "line 2"),
    ("1,HEAD,A,k,10,e\n", "--trace"),
])
def test_bad_trace_rows(tmp_path, body, field):
    with pytest.raises(UserError) as e:
        sim.read_trace(_write(tmp_path, body))
    assert e.value.field == field


def test_missing_column_and_missing_file(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("timestamp,op,region,obj_key,size\n1,GET,A,k,1\n")
    with pytest.raises(UserError, match="issue_region"):
        sim.read_trace(p)
    with pytest.raises(UserError, match="cannot read"):
        sim.read_trace(tmp_path / "nope.csv")


def test_run_policies_reproduces_r2(tmp_path):
    pf = tmp_path / "p.yaml"
    pf.write_text(PRICING)
    tr = sim.read_trace(_r2_trace(tmp_path))
    res = {r.policy: r for r in sim.run_policies(tr, load_pricing(pf, ["A", "B"]),
                                                 ["always-evict", "always-store", "optimum"])}
    # horizon is the last request (day 51): always-evict 3 fetches + 51 days of base storage
    assert res["always-evict"].total_cost == pytest.approx(0.06 + 0.02 * 51 / 30)
    assert res["optimum"].total_cost <= res["always-store"].total_cost
    assert res["optimum"].bytes_moved is None


def test_regions_remap_and_check(tmp_path):
    tr = sim.read_trace(_r2_trace(tmp_path))
    re = sim.with_regions(tr, ["B", "C", "A"])
    assert re.regions == ("B", "C", "A") and re.region.tolist() == [2, 0, 0, 0]
    with pytest.raises(UserError, match="add A"):
        sim.with_regions(tr, ["B"])


def test_policy_names():
    assert sim.policy_names("all") == list(sim.POLICIES)
    assert sim.policy_names("t-even, t-evict") == ["t-even", "t-evict"]
    with pytest.raises(UserError, match="did you mean 't-evict'"):
        sim.policy_names("t-evit")


def test_shipped_pricing_api():
    p = load_pricing()
    assert len(p.regions()) == 71
    assert p.storage_gb_month("aws:us-east-1") == 0.023  # first tier, not the simulator's 0.021
    assert p.storage_gb_month("gcp:us-west1") == 0.020
    assert p.egress_gb("gcp:us-west1", "aws:us-east-1") == 0.12
    assert p.egress_gb("aws:us-east-1", "gcp:us-west1") == 0.09
    assert p.egress_gb("aws:us-east-1", "aws:us-east-1") == 0.0
    assert p.get_request("aws:us-east-1") == 4e-7 and p.put_request("aws:us-east-1") == 5e-6
    assert p.t_even_s("aws:us-east-1", "aws:us-west-2", 90) == pytest.approx(25043, abs=1)
    with pytest.raises(UserError, match="did you mean"):
        p.storage_gb_month("aws:us-east-l")


@pytest.mark.parametrize(("text", "match"), [
    ("storage: {A: 0.02}\negress: {A: {B: 0.02}}\n", "egress.A.B"),
    ("storage: {A: -1}\negress: {}\n", "storage.A"),
    ("storage: {A: 0.02}\n", "egress"),
    ("storage: {A: 0.02}\negress: {A: {}}\nprices: 1\n", "unknown key"),
    ("storage: [1\n", "not valid YAML"),
    ("storage: {A: 0.02, B: 0.02}\negress: {A: {B: 0.02}}\n", "no egress price"),
])
def test_bad_pricing_files(tmp_path, text, match):
    pf = tmp_path / "p.yaml"
    pf.write_text(text)
    with pytest.raises(UserError, match=match):
        load_pricing(pf, ["A", "B"])


def test_generate_trace_gz_round_trip(tmp_path):
    out = tmp_path / "g.csv.gz"
    n = sim.generate_trace(out, "typeD", ["A", "B", "C"], objects=30, days=1, seed=2, augment=True)
    tr = sim.read_trace(out)
    assert len(tr) == n and set(tr.regions) <= {"A", "B", "C"}
    with pytest.raises(UserError, match="workload type"):
        sim.generate_trace(out, "F", ["A"])


def test_optimum_refuses_too_many_regions(tmp_path):
    regions = [f"R{i}" for i in range(13)]
    body = "".join(f"{i},GET,{r},k,10,x\n" for i, r in enumerate(regions))
    pf = tmp_path / "p.yaml"
    pf.write_text("storage: {" + ", ".join(f"{r}: 0.02" for r in regions) + "}\negress: {"
                  + ", ".join(f"{s}: {{" + ", ".join(f"{d}: 0.02" for d in regions if d != s) + "}"
                              for s in regions) + "}\n")
    tr = sim.read_trace(_write(tmp_path, body))
    pricing = load_pricing(pf, regions)
    with pytest.raises(UserError, match="at most 12"):
        sim.run_policies(tr, pricing, ["optimum"])
    auto = sim.run_policies(tr, pricing, ["t-even", "optimum"], explicit=False)
    assert [r.policy for r in auto] == ["t-even"]
