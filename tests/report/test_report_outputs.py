"""JSON, CSV and HTML of one run agree with each other line by line; files are deterministic and the
HTML page is self-contained."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_history import TOTAL, WINDOW_ARGS, history, run_cli

__all__ = ["history"]


class Tables(HTMLParser):
    """Rows of every <table id=...> as lists of (text, data-value) cells, and every SVG rect's data."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[tuple[str, str | None]]]] = {}
        self.rects: list[dict[str, str]] = []
        self.tags: set[str] = set()
        self._table: str | None = None
        self._cell: list | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "table":
            self._table = a.get("id")
            self.tables[self._table or ""] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = ["", a.get("data-value")]
        elif tag == "rect" and "data-value" in a:
            self.rects.append({k: v or "" for k, v in a.items()})

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[0] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append((self._cell[0], self._cell[1]))
            self._cell = None
        elif tag == "table":
            self._table = None


def run_all(tmp: Path, pricing: Path, capsys: pytest.CaptureFixture[str], tag: str) -> tuple[dict, str, str]:
    csv_path, html_path = tmp / f"{tag}.csv", tmp / f"{tag}.html"
    capsys.readouterr()
    assert run_cli([*WINDOW_ARGS, "--pricing", str(pricing), "--json", "--csv", str(csv_path),
                    "--html", str(html_path)]) == 0
    return json.loads(capsys.readouterr().out), csv_path.read_text(), html_path.read_text()


def test_json_csv_html_agree(history: Path, tmp_path: Path, capsys) -> None:
    rep, csv_text, html = run_all(tmp_path, history, capsys, "a")
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert sum(float(r["cost"]) for r in rows) == pytest.approx(rep["total_cost"], abs=1e-5)
    assert rep["total_cost"] == pytest.approx(TOTAL, abs=1e-6)
    reps = [r for r in rows if r["kind"] == "replica"]
    assert [(r["name"], int(r["replica_id"])) for r in reps] == \
        [(r["service"], r["replica_id"]) for r in rep["replicas"]]
    for c, j in zip(reps, rep["replicas"], strict=True):
        assert float(c["cost"]) == j["cost"] and float(c["ondemand_cost"]) == j["ondemand_cost"]
        assert float(c["quantity"]) == j["hours"] and c["start"] == j["start"] and c["end"] == j["end"]
        assert c["spot"] == str(j["spot"]).lower() and c["purpose"] == j["purpose"]
    assert sum(float(r["ondemand_cost"]) for r in reps) == pytest.approx(rep["serve"]["ondemand_equivalent"])
    for b in rep["store"]["buckets"]:
        mine = {r["kind"]: float(r["cost"]) for r in rows
                if (r["name"], r["region"]) == (b["bucket"], b["region"])}
        assert mine.get("storage", 0) == b["storage_cost"] and mine.get("egress", 0) == b["egress_cost"]
        assert mine.get("requests", 0) == b["request_cost"]

    page = Tables()
    page.feed(html)
    html_reps = page.tables["replicas"][1:]
    assert [r[0][0] for r in html_reps] == [f"{r['service']}/{r['replica_id']}" for r in rep["replicas"]]
    for cells, j in zip(html_reps, rep["replicas"], strict=True):
        assert float(cells[8][1]) == j["cost"] and float(cells[9][1]) == j["ondemand_cost"]
        assert float(cells[7][1]) == j["price_per_hour"]
        assert cells[8][0] == f"${j['cost']:,.2f}"
    services = {r[0][0]: r for r in page.tables["services"][1:]}
    for s in rep["services"]:
        assert float(services[s["name"]][7][1]) == s["cost"]
        assert float(services[s["name"]][8][1]) == s["ondemand_equivalent"]
    assert float(services["all"][7][1]) == rep["serve"]["cost"]
    days = {r[0][0]: [float(c[1]) for c in r[1:]] for r in page.tables["by-day"][1:]}
    assert days == {d["date"]: [d["spot"], d["ondemand"], d["store"], d["total"]] for d in rep["by_day"]}
    buckets = {(r[0][0], r[1][0]): float(r[8][1]) for r in page.tables["buckets"][1:]}
    assert buckets == {(b["bucket"], b["region"]): b["cost"] for b in rep["store"]["buckets"]}
    # The charts are drawn from the same numbers: bars per day and series, bars per service.
    bars: dict[tuple[str, str], float] = {(r["data-date"], r["data-series"]): float(r["data-value"])
                                          for r in page.rects if "data-date" in r}
    for d in rep["by_day"]:
        for series, key in (("spot", "spot"), ("on-demand", "ondemand"), ("store", "store")):
            assert bars.get((d["date"], series), 0.0) == pytest.approx(d[key], abs=1e-6)
    shares = {r["data-name"]: float(r["data-value"]) for r in page.rects if "data-name" in r}
    assert shares == pytest.approx({**{s["name"]: s["cost"] for s in rep["services"]},
                                    "virtual buckets": rep["store"]["cost"]}, abs=1e-6)


def test_html_is_self_contained(history: Path, tmp_path: Path, capsys) -> None:
    _, _, html = run_all(tmp_path, history, capsys, "b")
    page = Tables()
    page.feed(html)
    assert not page.tags & {"script", "link", "img", "iframe", "object"}
    assert "default-src 'none'" in html
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace is a name, never fetched
    assert 'id="chart-daily"' in html and 'id="chart-services"' in html


def test_outputs_are_deterministic_and_quiet_prints_nothing(history: Path, tmp_path: Path, capsys) -> None:
    first = run_all(tmp_path, history, capsys, "c")
    second = run_all(tmp_path, history, capsys, "d")
    assert first == second
    quiet = tmp_path / "q.html"
    assert run_cli([*WINDOW_ARGS, "--pricing", str(history), "--quiet", "--html", str(quiet)]) == 0
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert quiet.read_text() == first[2]
    assert not list(tmp_path.glob(".*.tmp"))


def test_unwritable_output_path_is_a_user_error(history: Path, tmp_path: Path, capsys) -> None:
    capsys.readouterr()
    assert run_cli([*WINDOW_ARGS, "--csv", str(tmp_path / "no" / "such" / "dir.csv")]) == 2
    err = capsys.readouterr().err
    assert "--csv" in err and "cannot write" in err and "Traceback" not in err
