"""SkyPilot's `accelerators:` forms -> a list of `(canonical GPU name, count)` options.

Forms: `L4`, `L4:1`, `A100:8`, `V100:0.5` (a fraction shares one GPU), a set or map `{L4, A10G}` /
`{L4: 1, A10G: 1}` (any of them, unordered), a list `[L4:1, A10G:1]` (preference order).
Names go through the catalog so `a10g`, `A10G` and `a10g-24gb` are one type; SkyPilot's bare `A100`
means the 40 GB part, which the catalog calls ambiguous, so that alias is resolved here.
"""

from __future__ import annotations

from typing import Any

from skyctl.catalog import gpu_family
from skyctl.errors import UserError
from skyctl.spec.fields import Reader, join_path, type_name

# SkyPilot accelerator names whose meaning differs from a catalog family name.
SKYPILOT_ALIASES = {"A100": "A100-40GB"}


def canonical_accelerator(reader: Reader, name: str, path: str) -> str:
    """The catalog's canonical name, with the error re-pointed at the YAML path."""
    key = name.strip()
    try:
        family = gpu_family(SKYPILOT_ALIASES.get(key.upper(), key))
    except UserError as e:
        raise reader.error(path, "unknown accelerator", name, e.fix) from None
    if len(family) > 1:
        raise reader.error(path, "ambiguous accelerator name", name, f"say which one: {', '.join(family)}")
    return family[0]


def parse_one(reader: Reader, text: Any, path: str) -> tuple[str, float]:
    """`NAME` or `NAME:COUNT` -> (canonical name, count)."""
    if not isinstance(text, str) or not text.strip():
        raise reader.error(path, f"must be an accelerator like `L4` or `A100:8`, not {type_name(text)}",
                           text, "write `accelerators: NAME:COUNT`, e.g. `accelerators: L4:1`")
    name, sep, count_text = text.strip().rpartition(":")
    if not sep:
        name, count_text = text.strip(), "1"
    try:
        count = float(count_text)
    except ValueError:
        raise reader.error(path, "the count after ':' must be a number", text,
                           f"write e.g. `{name}:1`") from None
    return canonical_accelerator(reader, name, path), check_count(reader, count, text, path)


def check_count(reader: Reader, count: Any, shown: Any, path: str) -> float:
    """Counts are positive; fractions are only allowed below one GPU (SkyPilot's GPU sharing)."""
    if isinstance(count, bool) or not isinstance(count, int | float):
        raise reader.error(path, f"the GPU count must be a number, not {type_name(count)}", shown,
                           "write e.g. `{L4: 1}`")
    if count <= 0 or (count > 1 and not float(count).is_integer()):
        raise reader.error(path, "the GPU count must be a whole number >= 1 or a fraction below 1", shown,
                           "use e.g. 1, 8 or 0.5")
    return int(count) if float(count).is_integer() else float(count)


def parse_accelerators(reader: Reader, value: Any, path: str) -> tuple[list[tuple[str, float]], bool]:
    """All accepted options and whether their order is a preference (list form)."""
    if value is None:
        return [], False
    if isinstance(value, str):
        return [parse_one(reader, value, path)], False
    if isinstance(value, dict):
        if not value:
            raise reader.error(path, "is an empty mapping", value,
                               "remove the key or name a GPU, e.g. `L4: 1`")
        options = []
        for name, count in value.items():
            item_path = join_path(path, str(name))
            if not isinstance(name, str):
                raise reader.error(item_path, "accelerator names must be strings", name, "quote the name")
            shown = f"{name}: {count}"
            options.append((canonical_accelerator(reader, name, item_path),
                            1 if count is None else check_count(reader, count, shown, item_path)))
        return _unique(reader, options, path), False
    if isinstance(value, list):
        if not value:
            raise reader.error(path, "is an empty list", value, "remove the key or list GPUs, e.g. `[L4:1]`")
        options = [parse_one(reader, item, join_path(path, i)) for i, item in enumerate(value)]
        return _unique(reader, options, path), True
    raise reader.error(path, f"must be a string, a mapping or a list, not {type_name(value)}", value,
                       "write e.g. `accelerators: L4:1`, `{L4: 1, A10G: 1}` or `[L4:1, A10G:1]`")


def _unique(reader: Reader, options: list[tuple[str, float]], path: str) -> list[tuple[str, float]]:
    names = [f"{n}:{c}" for n, c in options]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise reader.error(path, "lists the same accelerator twice", dupes[0],
                           "spellings like `A10g` and `A10G` name one GPU type; keep one")
    return options
