"""GPU names and spec sheets: one canonical spelling per GPU type, whatever the user or a cloud writes.

The table ships as `gpu_specs.csv` next to this module; its `aliases` column (';'-separated) lists the
other spellings a cloud or a paper uses. Matching ignores case, separators and a trailing 'B' in 'GB', so
"a100-80g", "A100_80GB" and "a100 80gb" are all A100-80GB.
"""

from __future__ import annotations

import csv
import io
import re
from functools import cache, lru_cache
from importlib import resources

from skyctl.catalog.model import GpuSpec
from skyctl.errors import UserError, did_you_mean

SPECS_FILE = "gpu_specs.csv"
_SPEC_COLUMNS = ("name", "memory_gb", "mem_bw_gbps", "bf16_tflops", "fp16_tflops", "aliases", "source",
                 "note")
_VENDOR_PREFIX = re.compile(r"^(NVIDIA|TESLA)+")


def normalize(name: str) -> str:
    """The matching key: upper case, letters and digits only, vendor prefix and 'GB'->'G' folded."""
    key = re.sub(r"[^A-Z0-9]", "", name.upper())
    key = _VENDOR_PREFIX.sub("", key)
    return key[:-1] if key.endswith("GB") else key


@cache
def gpu_specs() -> dict[str, GpuSpec]:
    """Every known GPU type by canonical name, in table order (parsed once)."""
    return {s.name: s for s in _load_specs()[0]}


def gpu_spec(name: str) -> GpuSpec:
    """The spec sheet of a GPU type, by any accepted spelling."""
    return gpu_specs()[canonical_gpu(name)]


def canonical_gpu(name: str) -> str:
    """The canonical name of a GPU type. A family name that covers several types ("A100") is an error
    listing them, because memory size changes what fits; use `gpu_family` to accept such names."""
    matches = gpu_family(name)
    if len(matches) > 1:
        raise UserError("ambiguous GPU name", field="gpu", value=name,
                        fix=f"say which one: {', '.join(matches)}")
    return matches[0]


@lru_cache(maxsize=1024)
def gpu_family(name: str) -> tuple[str, ...]:
    """The canonical names a user-given GPU name stands for: one for an exact name or alias, several for a
    family name such as "A100" (-> A100-40GB, A100-80GB). Unknown names raise UserError with a hint."""
    aliases = _load_specs()[1]
    key = normalize(name)
    if key in aliases:
        return (aliases[key],)
    family = tuple(n for n in gpu_specs() if normalize(n.split("-")[0]) == key)
    if family:
        return family
    hint = did_you_mean(name, gpu_specs())
    raise UserError("unknown GPU type", field="gpu", value=name,
                    fix=hint or f"known GPUs: {', '.join(gpu_specs())}")


@cache
def _load_specs() -> tuple[tuple[GpuSpec, ...], dict[str, str]]:
    """Parse the shipped spec table: the specs and the alias map (normalized key -> canonical name)."""
    text = resources.files("skyctl.catalog").joinpath(SPECS_FILE).read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO(text))
    if tuple(rows.fieldnames or ()) != _SPEC_COLUMNS:
        raise RuntimeError(f"{SPECS_FILE}: columns must be {_SPEC_COLUMNS}, got {rows.fieldnames}")
    specs: list[GpuSpec] = []
    aliases: dict[str, str] = {}
    for row in rows:
        specs.append(GpuSpec(name=row["name"], memory_gb=float(row["memory_gb"]),
                             mem_bw_gbps=float(row["mem_bw_gbps"]), bf16_tflops=float(row["bf16_tflops"]),
                             fp16_tflops=float(row["fp16_tflops"]), source=row["source"], note=row["note"]))
        for alias in [row["name"], *filter(None, row["aliases"].split(";"))]:
            key = normalize(alias)
            if aliases.setdefault(key, row["name"]) != row["name"]:
                raise RuntimeError(f"{SPECS_FILE}: alias {alias!r} names {aliases[key]} and {row['name']}")
    return tuple(specs), aliases
