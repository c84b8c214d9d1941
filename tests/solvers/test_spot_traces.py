"""Trace loading, tick expansion and seeded windows, on hand-made files and the real artifact folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from solvers.melange.errors import ProblemError
from solvers.spot.traces import load_trace, paper_trace_dir, window_offsets

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "skyserve" / "spothedge_ae" / "data"


def _write(folder: Path, name: str, data: list, gap: float = 60) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps({"metadata": {"gap_seconds": gap}, "data": data}))


def test_folder_loads_zones_cut_to_the_shortest_and_expands_to_ticks(tmp_path: Path) -> None:
    _write(tmp_path, "us-east-1a_v100_1.json", [1, 2, 0])
    _write(tmp_path, "us-west-2b_v100_1.json", [4, 4, 4, 4])
    t = load_trace(tmp_path)
    assert t.zones == ("us-east-1a", "us-west-2b") and t.instance == ("V100", 1)
    assert t.capacity.tolist() == [[1, 2, 0], [4, 4, 4]] and t.seconds == 180
    assert t.ticks(30).tolist() == [[1, 1, 2, 2, 0, 0], [4] * 6]


def test_non_integer_gap_ratio_is_resampled_by_time(tmp_path: Path) -> None:
    _write(tmp_path, "z_a100_40gb_8.json", [1, 0], gap=45)
    t = load_trace(tmp_path / "z_a100_40gb_8.json")
    assert t.instance == ("A100-40GB", 8)
    assert t.ticks(30).tolist() == [[1, 1, 0]]  # ticks at 0, 30, 60 s read points 0, 0, 1
    assert load_trace(tmp_path, gap_seconds=30).ticks(30).tolist() == [[1, 0]]


def test_available_means_scales_binary_traces_only(tmp_path: Path) -> None:
    _write(tmp_path / "bin", "a_v100_1.json", [0, 1])
    assert load_trace(tmp_path / "bin", available_means=1000).capacity.tolist() == [[0, 1000]]
    _write(tmp_path / "multi", "a_v100_1.json", [0, 4])
    with pytest.raises(ProblemError) as err:
        load_trace(tmp_path / "multi", available_means=1000)
    assert err.value.field == "available_means"


def test_seeded_offsets_are_reproducible_and_in_range() -> None:
    a, b = window_offsets(1000, 100, 10, seed=7), window_offsets(1000, 100, 10, seed=7)
    assert a == b and all(0 <= o < 900 for o in a) and a != window_offsets(1000, 100, 10, seed=8)
    with pytest.raises(ProblemError) as err:
        window_offsets(50, 100, 1, seed=0)
    assert err.value.field == "hours"


@pytest.mark.parametrize(("bad", "field"), [("[1, 2]", "trace"), ('{"metadata": {}, "data": [1]}', "trace"),
                                            ('{"metadata": {"gap_seconds": 30}, "data": [-1]}', "trace")])
def test_bad_files_name_the_file(tmp_path: Path, bad: str, field: str) -> None:
    (tmp_path / "z_v100_1.json").write_text(bad)
    with pytest.raises(ProblemError) as err:
        load_trace(tmp_path)
    assert err.value.field == field and "z_v100_1.json" in str(err.value)


def test_missing_path_and_unknown_name() -> None:
    with pytest.raises(ProblemError, match="no such trace"):
        load_trace("/nonexistent/trace")
    with pytest.raises(ProblemError) as err:
        paper_trace_dir("aws9", DATA)
    assert "aws1" in err.value.fix


@pytest.mark.skipif(not DATA.is_dir(), reason="artifact traces not present")
def test_paper_traces_load_with_their_documented_shapes() -> None:
    shapes = {"aws1": (3, 3156, 300), "aws2": (3, 3247, 300), "aws3": (9, 20158, 300), "gcp1": (6, 770, 150)}
    for name, (zones, points, gap) in shapes.items():
        t = load_trace(paper_trace_dir(name, DATA))
        assert (len(t.zones), t.capacity.shape[1], t.gap_seconds) == (zones, points, gap)
        windows = t.windows(2880, 10, seed=0)
        assert len(windows) == 10 and all(w.shape == (zones, 2880) for _, w in windows)
        o, w = windows[0]
        assert np.array_equal(w, t.ticks()[:, o:o + 2880])
