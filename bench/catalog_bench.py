"""How fast the catalog loads and answers, against baselines measured in the same run.

    python bench/catalog_bench.py [--quick]

Measures (medians): a cold parse of the shipped CSV with full validation vs a bare csv.reader pass over the
same text; a cached load_catalog() call; a typical query vs a hand-written filter+sort over the same tuple;
and process start-up for `import skyctl.catalog; load_catalog()` vs a bare interpreter and vs the whole
`skyctl catalog ls` command.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import resources

from skyctl.catalog import load_catalog, parse_offerings


def median_s(fn: Callable[[], object], repeat: int, number: int = 1) -> float:
    """Median seconds per call over `repeat` timings of `number` calls each."""
    return paired_s(fn, fn, repeat, number)[0]


def paired_s(fn: Callable[[], object], base: Callable[[], object], repeat: int,
             number: int = 1) -> tuple[float, float]:
    """Median seconds per call of `fn` and of its baseline, timed alternately so that both see the same
    load on a shared machine (the ratio is then far steadier than two separate runs)."""
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for f, out in ((fn, samples[0]), (base, samples[1])):
            t0 = time.perf_counter()
            for _ in range(number):
                f()
            out.append((time.perf_counter() - t0) / number)
    return statistics.median(samples[0]), statistics.median(samples[1])


def process(*code: str) -> Callable[[], object]:
    return lambda: subprocess.run([sys.executable, *code], check=True, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (about 20 s instead of a minute)")
    args = ap.parse_args()
    rep, proc_rep = (15, 3) if args.quick else (51, 9)

    text = resources.files("skyctl.catalog").joinpath("offerings.csv").read_text(encoding="utf-8")
    rows = len(parse_offerings(text, "bench"))
    parse, raw = paired_s(lambda: parse_offerings(text, "bench"), lambda: list(csv.reader(io.StringIO(text))),
                          rep, 5)
    cat = load_catalog()
    cached = median_s(load_catalog, rep, 1000)

    def by_hand() -> list:
        hits = [o for o in cat.offerings if o.gpu == "H100" and o.price_spot is not None]
        return sorted(hits, key=lambda o: o.price_spot)

    query, hand = paired_s(lambda: cat.query(gpu="H100", spot=True), by_hand, rep, 200)

    lib, bare = paired_s(process("-c", "import skyctl.catalog as c; c.load_catalog()"), process("-c", "pass"),
                         proc_rep)
    cli = median_s(process("-m", "skyctl", "catalog", "ls", "--gpu", "H100", "--json"), proc_rep)

    lines = [
        ("rows in shipped catalog", f"{rows}", ""),
        ("cold parse + validation", f"{parse * 1e3:.2f} ms",
         f"bare csv.reader {raw * 1e3:.2f} ms, ratio {parse / raw:.1f}x"),
        ("cached load_catalog()", f"{cached * 1e6:.2f} us", f"1/{parse / cached:.0f} of a cold parse"),
        ("query(gpu='H100', spot=True)", f"{query * 1e6:.1f} us",
         f"hand-written filter+sort {hand * 1e6:.1f} us, ratio {query / hand:.1f}x"),
        ("process: python -c pass", f"{bare * 1e3:.0f} ms", ""),
        ("process: import + load_catalog()", f"{lib * 1e3:.0f} ms",
         f"+{(lib - bare) * 1e3:.0f} ms over bare"),
        ("process: skyctl catalog ls --json", f"{cli * 1e3:.0f} ms",
         f"+{(cli - lib) * 1e3:.0f} ms over the library (CLI framework, every command group's imports)"),
    ]
    for name, value, note in lines:
        print(f"{name:36} {value:>10}   {note}")


if __name__ == "__main__":
    main()
