"""Loading: the shipped file, override files, validation errors that name file/line/column, caching."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from skyctl.catalog import load_catalog
from skyctl.catalog.loader import COLUMNS
from skyctl.errors import UserError

GOOD = "aws,us-east-1,us-east-1a,g5.xlarge,A10G,1,24,4,16,1.006,0.4,2025-01-02,my quote\n"


def write(tmp_path: Path, *rows: str, header: str = ",".join(COLUMNS)) -> Path:
    path = tmp_path / "catalog.csv"
    path.write_text(header + "\n" + "".join(rows))
    return path


@pytest.fixture(autouse=True)
def _no_user_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SKYCTL_CATALOG", raising=False)
    monkeypatch.setenv("SKYCTL_HOME", str(tmp_path / "home"))


def test_shipped_catalog_loads_once() -> None:
    a, b = load_catalog(), load_catalog()
    assert a is b
    assert len(a) > 200 and a.source.endswith("offerings.csv")


def test_explicit_path(tmp_path: Path) -> None:
    cat = load_catalog(write(tmp_path, GOOD))
    (o,) = cat.offerings
    assert (o.gpu, o.price_ondemand, o.price_spot, o.price_date) == ("A10G", 1.006, 0.4, "2025-01-02")


def test_env_override_and_home_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "catalog.csv").write_text(",".join(COLUMNS) + "\n" + GOOD)
    assert len(load_catalog()) == 1  # $SKYCTL_HOME/catalog.csv
    other = tmp_path / "other.csv"
    other.write_text(",".join(COLUMNS) + "\n" + GOOD + GOOD.replace("us-east-1a", "us-east-1b"))
    monkeypatch.setenv("SKYCTL_CATALOG", str(other))
    assert len(load_catalog()) == 2  # the env var wins
    monkeypatch.setenv("SKYCTL_CATALOG", str(tmp_path / "missing.csv"))
    with pytest.raises(UserError, match="SKYCTL_CATALOG"):
        load_catalog()


def test_edited_file_is_reread(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    first = load_catalog(path)
    assert load_catalog(path) is first
    path.write_text(path.read_text() + GOOD.replace("us-east-1a", "us-east-1c"))
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse-clock filesystems
    assert len(load_catalog(path)) == 2


@pytest.mark.parametrize(("row", "where", "hint"), [
    (GOOD.replace(",1,24,", ",one,24,"), "line 3, column gpu_count", "whole number"),
    (GOOD.replace("A10G", "A10X"), "line 3, column gpu", "did you mean"),
    (GOOD.replace("A10G", "A100"), "line 3, column gpu", "A100-40GB"),
    (GOOD.replace("1.006", "-1"), "line 3, column price_ondemand", "non-negative"),
    (GOOD.replace("1.006", "nan"), "line 3, column price_ondemand", "non-negative"),
    (GOOD.replace("1.006,0.4", ","), "line 3, column price_ondemand", "at least one price"),
    (GOOD.replace("2025-01-02", "yesterday"), "line 3, column price_date", "ISO date"),
    (GOOD.replace("my quote", ""), "line 3, column price_source", "where the price comes from"),
    (GOOD.replace("aws,", "AWS ,", 1), "line 3, column cloud", "lower-case"),
    (GOOD.replace(",16,", ",16,extra,"), "line 3", "expected 13 cells"),
    (GOOD.replace("us-east-1a", "us-east-1z"), "line 3", "it repeats line 2"),
])
def test_bad_row_names_file_line_and_column(tmp_path: Path, row: str, where: str, hint: str) -> None:
    path = write(tmp_path, GOOD.replace("us-east-1a", "us-east-1z"), row)
    with pytest.raises(UserError) as e:
        load_catalog(path)
    msg = e.value.message
    assert str(path.resolve()) in msg and where in msg and hint in msg, msg


def test_bad_header_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="wrong header"):
        load_catalog(write(tmp_path, GOOD, header="cloud,region"))
    with pytest.raises(UserError, match="no offerings"):
        load_catalog(write(tmp_path))
    with pytest.raises(UserError, match="cannot read"):
        load_catalog(tmp_path / "nope.csv")


def test_blank_lines_are_skipped_and_line_numbers_stay_true(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "\n", GOOD.replace("A10G", "Z9"))
    with pytest.raises(UserError, match="line 4, column gpu"):
        load_catalog(path)
