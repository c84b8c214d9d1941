"""`skyctl gpu-mix solve` end to end: both config formats, JSON contract, options, and every bad input."""

from __future__ import annotations

import copy
import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from skyctl.cli.main import run

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "gpu-mix"
PROFILE = {
    "kind": "skyctl/profile-v1", "model": "toy", "source": "test", "slo": {"tpot_ms": 120, "ttft_ms": None},
    "input_edges": [100, 1000], "output_edges": [100, 1000],
    "gpus": {"L4": [[10, 2], [0, 0]], "A10G": [[20, 5], [4, 0]], "H100": [[100, 40], [30, 8]]},
}
CONFIG = {
    "profile": "prof/p.yaml",
    "workload": {"rate": 10, "histogram": [[0.5, 0.2], [0.2, 0.1]]},
    "gpus": [{"name": "L4", "price": 0.7}, {"name": "a10g", "price": 1.0}, {"name": "H100", "price": 8.0}],
    "slice_factor": 4,
}


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self):
        return json.loads(self.out)


@pytest.fixture
def skyctl(capsys: pytest.CaptureFixture[str]):
    def call(*args: str) -> Result:
        code = run(["gpu-mix", "solve", *map(str, args)])
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return call


@pytest.fixture
def write(tmp_path: Path):
    """Write a skyctl config (and its profile, in a subfolder: paths are relative to the config)."""
    def make(config: dict | None = None, profile: dict | None = None, name: str = "mix.yaml") -> Path:
        (tmp_path / "prof").mkdir(exist_ok=True)
        (tmp_path / "prof" / "p.yaml").write_text(yaml.safe_dump(profile or PROFILE))
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config or CONFIG))
        return path

    return make


def test_melange_config_runs_unchanged_with_the_json_contract(skyctl) -> None:
    r = skyctl(EXAMPLES / "melange-example.json", "--json")
    assert r.code == 0, r.err
    d = r.json
    assert d["status"] == "optimal" and d["allocation"] == {"A10G": 3, "A100-80GB": 1}
    assert d["cost_per_hour"] == pytest.approx(6.7, abs=1e-6) and d["mip_gap"] == 0
    assert set(d) >= {"allocation", "cost_per_hour", "status", "solve_seconds", "utilization", "routing",
                      "baselines"}
    assert d["baselines"]["A10G"] == {"count": 12, "cost_per_hour": pytest.approx(12.12),
                                      "savings_pct": pytest.approx(100 * (1 - 6.7 / 12.12), abs=1e-3)}
    assert d["utilization"]["A10G"] == pytest.approx(1.0)
    assert len(d["routing"]) == 4
    for row in d["routing"]:
        assert sum(row["weights"].values()) == pytest.approx(1.0)
    assert d["config_format"] == "melange"


def test_slice_factor_modes_and_solvers_from_the_command_line(skyctl) -> None:
    ex = EXAMPLES / "melange-example.json"
    assert skyctl(ex, "--json", "--slice-factor", "24").json["cost_per_hour"] == pytest.approx(4.68)
    assert skyctl(ex, "--json", "--mode", "continuous").json["allocation"] == {"A10G": 1, "A100-80GB": 1}
    b = skyctl(ex, "--json", "--mode", "binary", "--solver", "cbc", "--slice-factor", "4").json
    assert (b["mode"], b["solver"], b["cost_per_hour"]) == ("binary", "cbc", pytest.approx(5.69))


def test_caps_and_infeasible_caps_are_named(skyctl) -> None:
    ex = EXAMPLES / "melange-example.json"
    assert skyctl(ex, "--json", "--cap", "A10G=0").json["allocation"] == {"A100-80GB": 2}
    r = skyctl(ex, "--json", "--cap", "A10G=2", "--cap", "A100-80GB=1")
    assert r.code == 2
    assert r.json["status"] == "infeasible" and r.json["allocation"] == {}
    assert "caps (A10G <= 2, A100-80GB <= 1)" in r.err and "slice factor 1" in r.err
    assert "raising the cap on A10G or A100-80GB alone" in r.err
    r = skyctl(ex, "--cap", "A10G=0", "--cap", "A100-80GB=0")
    assert r.code == 2 and "(A10G <= 0, A100-80GB <= 0)" in r.err and "Traceback" not in r.err
    r = skyctl(ex, "--cap", "A10=1")
    assert r.code == 2 and "did you mean 'A10G'" in r.err
    assert skyctl(ex, "--cap", "A10G").code == 2


def test_examples_run(skyctl) -> None:
    r = skyctl(EXAMPLES / "chat.yaml", "--json")
    assert r.code == 0, r.err
    d = r.json
    assert d["status"] == "optimal" and d["config_format"] == "skyctl"
    assert all(p["source"].startswith("catalog: aws us-east-1") for p in d["prices"].values())
    assert d["cost_per_hour"] <= min(b["cost_per_hour"] for b in d["baselines"].values() if b["count"])
    assert d["routing"][0]["input_tokens"] == [0, 25]
    spot = skyctl(EXAMPLES / "chat-spot.yaml", "--json", "--min-on-demand-fraction", "0.8").json
    assert spot["status"] == "optimal" and spot["min_on_demand_fraction"] == 0.8
    for row in spot["routing"]:
        if row["rate"] > 0:
            assert sum(w for n, w in row["weights"].items() if not n.endswith(":spot")) >= 0.8 - 1e-9
    cheaper = skyctl(EXAMPLES / "chat-spot.yaml", "--json", "--min-on-demand-fraction", "0").json
    assert cheaper["cost_per_hour"] <= spot["cost_per_hour"]


def test_table_output_and_routing(skyctl) -> None:
    r = skyctl(EXAMPLES / "chat.yaml", "--show-routing")
    assert r.code == 0, r.err
    assert "Single-type baselines" in r.out and "Routing weights" in r.out and "status optimal" in r.out


def test_skyctl_format_inline_prices_headroom_and_poisson(skyctl, write) -> None:
    path = write()
    d = skyctl(path, "--json").json
    assert d["status"] == "optimal" and d["total_rate"] == pytest.approx(10)
    assert set(d["prices"]) == {"L4", "A10G", "H100"}  # canonical names
    h = skyctl(path, "--json", "--headroom", "0.5").json
    assert h["total_rate"] == pytest.approx(15) and h["cost_per_hour"] >= d["cost_per_hour"]
    z = skyctl(path, "--json", "--poisson-z", "1.645").json
    assert z["total_rate"] > 10 and z["cost_per_hour"] >= d["cost_per_hour"]


def test_request_size_file_is_bucketed(skyctl, write, tmp_path: Path) -> None:
    rows = ["input_len,output_len"] + ["50,50"] * 5 + ["500,50"] * 2 + ["50,500"] * 2 + ["1000,1000"]
    with gzip.open(tmp_path / "sizes.csv.gz", "wt") as f:
        f.write("\n".join(rows) + "\n")
    cfg = copy.deepcopy(CONFIG)
    cfg["workload"] = {"rate": 10, "requests": "sizes.csv.gz"}
    a = skyctl(write(cfg), "--json").json
    b = skyctl(write(), "--json").json  # the same histogram given inline
    assert a["cost_per_hour"] == pytest.approx(b["cost_per_hour"]) and a["allocation"] == b["allocation"]
    (tmp_path / "sizes.csv.gz").write_bytes(gzip.compress(b"50,50\n5000,10\n5000,20\n"))
    r = skyctl(write(cfg), "--json")
    assert r.code == 2 and "2 request(s) are longer than the last bucket edge" in r.err and "line 2" in r.err
    cfg["workload"]["overflow"] = "last_bucket"
    assert skyctl(write(cfg), "--json").code == 0
    (tmp_path / "sizes.csv.gz").write_bytes(gzip.compress(b"50,50\n50,abc\n"))
    r = skyctl(write(cfg))
    assert r.code == 2 and "line 2: token lengths must be numbers" in r.err


def bad(mutate):
    cfg, prof = copy.deepcopy(CONFIG), copy.deepcopy(PROFILE)
    mutate(cfg, prof)
    return cfg, prof


@pytest.mark.parametrize("case,fragments", [
    (bad(lambda c, p: c["workload"].__setitem__("histogram", [[0.5, 0.2, 0.1], [0.1, 0.1, 0.0]])),
     ["workload.histogram[0]", "3 columns", "the profile (2x2) has 2 output buckets", "columns are output"]),
    (bad(lambda c, p: c["workload"]["histogram"].append([0.0, 0.0])),
     ["workload.histogram", "3 rows", "2 input buckets", "rows are input"]),
    (bad(lambda c, p: c["workload"].__setitem__("histogram", [[0.5, 0.2], [0.2, 0.2]])),
     ["fractions sum to 1.1, not 1"]),
    (bad(lambda c, p: c["workload"]["histogram"][1].__setitem__(0, -0.2)),
     ["workload.histogram[1][0]", ">= 0"]),
    (bad(lambda c, p: c["workload"]["histogram"][1].__setitem__(0, "lots")),
     ["workload.histogram[1][0]", "must be a number"]),
    (bad(lambda c, p: p["gpus"]["H100"].pop()),
     ["p.yaml", "profile.gpus.H100", "1 rows", "rows are input"]),
    (bad(lambda c, p: c.__setitem__("gpus", [{"name": "L4", "price": 0.7}])),
     ["no GPU type can serve 2 bucket(s)", "input 100-1000 x output 0-100 tokens [1][0]",
      "input 100-1000 x output 100-1000 tokens [1][1]"]),
    (bad(lambda c, p: c["gpus"].append("H10O")), ["gpus[3].name", "did you mean 'H100'"]),
    (bad(lambda c, p: c["gpus"].append({"name": "T4", "price": 0.5})), ["no throughput table for T4"]),
    (bad(lambda c, p: c["gpus"][0].__setitem__("max_count", 1.5)), ["gpus[0].max_count", "whole number"]),
    (bad(lambda c, p: c.__setitem__("slice_factr", 3)), ["slice_factr", "did you mean 'slice_factor'"]),
    (bad(lambda c, p: c.__setitem__("slo", {"tpot_ms": 40})), ["slo.tpot_ms", "made for tpot_ms = 120"]),
    (bad(lambda c, p: c["workload"].__setitem__("rate", 0)), ["workload.rate", "> 0"]),
    (bad(lambda c, p: c.__setitem__("profile", "missing.yaml")), ["profile file not found"]),
    (bad(lambda c, p: c["workload"].__setitem__("input_edges", [100, 2000])), ["differs from the profile"]),
])
def test_bad_input_exits_2_with_a_clear_message(skyctl, write, case, fragments) -> None:
    r = skyctl(write(*case))
    assert r.code == 2, (r.out, r.err)
    err = " ".join(r.err.split())  # rich wraps long lines
    for f in fragments:
        assert f in err, err
    assert "Traceback" not in r.err


def test_bad_melange_configs(skyctl, tmp_path: Path) -> None:
    base = json.loads((EXAMPLES / "melange-example.json").read_text())
    for mutate, fragment in (
        (lambda d: d["gpu_info"]["A10G"]["tputs"][1].pop(), "gpu_info.A10G.tputs[1]"),
        (lambda d: d.__setitem__("workload_distribution", [[0.2, 0.1], [0.5, 0.5]]), "sum to 1.3"),
        (lambda d: d["gpu_info"]["A10G"].__setitem__("cost", "cheap"), "gpu_info.A10G.cost"),
        (lambda d: d.__setitem__("slice_factor", 0), "slice_factor"),
        (lambda d: d.__setitem__("total_requests", 3), "did you mean 'total_request_rate'"),
    ):
        d = copy.deepcopy(base)
        mutate(d)
        path = tmp_path / "m.json"
        path.write_text(json.dumps(d))
        r = skyctl(path)
        assert r.code == 2 and fragment in " ".join(r.err.split()), r.err
    (tmp_path / "x.json").write_text("{not json")
    assert "not valid JSON" in skyctl(tmp_path / "x.json").err
    assert skyctl(tmp_path / "nope.yaml").code == 2
    assert skyctl(EXAMPLES / "melange-example.json", "--mode", "greedy").code == 2


def test_caps_that_are_only_jointly_to_blame(skyctl, write) -> None:
    prof = copy.deepcopy(PROFILE)
    prof["gpus"] = {"L4": [[10, 2], [0, 0]], "H100": [[0, 0], [30, 8]]}
    cfg = copy.deepcopy(CONFIG)
    cfg["gpus"] = [{"name": "L4", "price": 0.7, "max_count": 2},
                   {"name": "H100", "price": 8.0, "max_count": 0}]
    r = skyctl(write(cfg, prof), "--json")
    assert r.code == 2 and r.json["status"] == "infeasible"
    assert "raising the cap on H100 alone" in " ".join(r.err.split())
    cfg["gpus"][0]["max_count"] = 0
    r = skyctl(write(cfg, prof))
    assert r.code == 2 and "no single cap is to blame" in " ".join(r.err.split())


def test_time_limited_solve_reports_its_gap_not_optimal(skyctl, tmp_path: Path) -> None:
    from solvers.melange.synthetic import random_problem

    p = random_problem(8, 60, 32, seed=0, rate=500)
    total = sum(map(sum, p.rates))
    cfg = {"gpu_info": {g.name: {"cost": g.cost, "tputs": [list(r) for r in g.tputs]} for g in p.gpus},
           "workload_distribution": [[r / total for r in row] for row in p.rates],
           "total_request_rate": total, "slice_factor": 32}
    path = tmp_path / "hard.json"
    path.write_text(json.dumps(cfg))
    r = skyctl(path, "--json", "--mode", "binary", "--time-limit", "1")
    d = r.json
    assert d["status"] == "time_limit"
    if d["allocation"]:
        assert r.code == 0 and d["mip_gap"] > 0 and d["lower_bound"] < d["cost_per_hour"]
    else:  # nothing found in time: exit 1, no cost
        assert r.code == 1 and d["cost_per_hour"] is None and "raise --time-limit" in r.err
