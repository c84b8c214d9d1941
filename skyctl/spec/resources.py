"""The `resources:` section -> the list of launch candidates.

`any_of` / `ordered` items are merged over the top-level fields (an item's key wins), then each item is
expanded over its accelerator options, so the controller sees a flat list of fully specified
`Resources`. `ordered` (or an accelerator list) makes the list a preference order.
"""

from __future__ import annotations

import re
from typing import Any

from skyctl.spec.accelerators import parse_accelerators
from skyctl.spec.fields import Reader, join_path, type_name
from skyctl.spec.location import resolve
from skyctl.spec.model import DEFAULT_DISK_SIZE_GB, Amount, Resources

FIELDS = ("infra", "cloud", "region", "zone", "accelerators", "use_spot", "cpus", "memory", "disk_size",
          "disk_tier", "instance_type", "image_id", "ports", "labels", "any_of", "ordered")
UNSUPPORTED = {
    "job_recovery": "remove it: the serve controller replaces preempted replicas itself",
    "spot_recovery": "remove it: the serve controller replaces preempted replicas itself",
    "accelerator_args": "remove it (TPU arguments)",
    "autostop": "remove it: replicas are stopped by the serve controller",
    "network_tier": "remove it", "volumes": "remove it; use `setup` to fetch what replicas need",
}
DISK_TIERS = ("low", "medium", "high", "ultra", "best")
_SIZE = re.compile(r"(?P<num>\d+(\.\d+)?)\s*(?P<unit>[KMGT]i?B?)?(?P<plus>\+)?", re.I)
_GB_PER_UNIT = {"K": 1 / 1024 ** 2, "M": 1 / 1024, "G": 1, "T": 1024}


def parse_resources(reader: Reader, value: Any,
                    path: str = "resources") -> tuple[tuple[Resources, ...], bool]:
    """(candidates, ordered). A missing section is one open candidate: any cloud, CPU only."""
    section = reader.mapping({} if value is None else value, path, allowed=FIELDS, unsupported=UNSUPPORTED)
    if "any_of" in section and "ordered" in section:
        raise reader.error(join_path(path, "ordered"), "cannot be combined with `any_of`", None,
                           "use `any_of` (no preference) or `ordered` (first is best), not both")
    key = "ordered" if "ordered" in section else "any_of" if "any_of" in section else None
    base = {k: (v, join_path(path, k)) for k, v in section.items() if k not in ("any_of", "ordered")}
    if key is None:
        return _expand(reader, base, None), _is_list(base)
    items = section[key]
    list_path = join_path(path, key)
    if not isinstance(items, list) or not items:
        got = "an empty list" if items == [] else type_name(items)
        raise reader.error(list_path, f"must be a non-empty list of overrides, not {got}", items,
                           f"write e.g. `{key}: [{{cloud: aws}}, {{cloud: gcp}}]`")
    candidates: list[Resources] = []
    for i, item in enumerate(items):
        item_path = join_path(list_path, i)
        allowed = [f for f in FIELDS if f not in ("any_of", "ordered")]
        fields = reader.mapping(item, item_path, allowed=allowed, unsupported=UNSUPPORTED)
        merged = {**base, **{k: (v, join_path(item_path, k)) for k, v in fields.items()}}
        candidates.extend(_expand(reader, merged, key))
    unique = _dedupe(tuple(candidates))
    return unique, key == "ordered" and len(unique) > 1


def _is_list(fields: dict[str, tuple[Any, str]]) -> bool:
    value = fields.get("accelerators", (None, ""))[0]
    return isinstance(value, list) and len(value) > 1


def _expand(reader: Reader, fields: dict[str, tuple[Any, str]], group: str | None) -> tuple[Resources, ...]:
    """One merged item -> one candidate per accelerator option."""
    acc_value, acc_path = fields.get("accelerators", (None, "resources.accelerators"))
    options, ordered = parse_accelerators(reader, acc_value, acc_path)
    if len(options) > 1 and group == "ordered":
        raise reader.error(acc_path, "cannot list several accelerators inside `ordered`", acc_value,
                           "give each `ordered` item one accelerator")
    if len(options) > 1 and ordered and group == "any_of":
        raise reader.error(acc_path, "an ordered accelerator list cannot be combined with `any_of`",
                           acc_value, "use a set `{L4: 1, A10G: 1}` for no preference, or list the "
                           "choices under `ordered`")
    cloud, region, zone = resolve(reader, fields)
    common = {
        "cloud": cloud, "region": region, "zone": zone,
        "use_spot": reader.boolean(*fields["use_spot"]) if "use_spot" in fields else False,
        "cpus": _amount(reader, fields, "cpus", unit=False),
        "memory": _amount(reader, fields, "memory", unit=True),
        "disk_size": _disk_size(reader, *fields["disk_size"]) if "disk_size" in fields
        else DEFAULT_DISK_SIZE_GB,
        "disk_tier": reader.choice(*fields["disk_tier"], DISK_TIERS) if "disk_tier" in fields else None,
        "instance_type": reader.string(*fields["instance_type"], example="instance_type: g6.xlarge")
        if "instance_type" in fields else None,
        "image_id": _image_id(reader, *fields["image_id"]) if "image_id" in fields else None,
        "ports": parse_ports(reader, *fields["ports"]) if "ports" in fields else (),
        "labels": reader.str_map(*fields["labels"]) if "labels" in fields else {},
    }
    if not options:
        return (Resources(**common),)
    return tuple(Resources(accelerator=name, accelerator_count=count, **common) for name, count in options)


def _dedupe(candidates: tuple[Resources, ...]) -> tuple[Resources, ...]:
    """Identical candidates (e.g. a set of GPUs times locations that repeat) are kept once, first wins."""
    out: list[Resources] = []
    for c in candidates:
        if c not in out:
            out.append(c)
    return tuple(out)


def _amount(reader: Reader, fields: dict[str, tuple[Any, str]], key: str, *, unit: bool) -> Amount | None:
    """`2`, `2+`, `"4"`; memory also `32GB`, `1TB+` (stored in GB)."""
    if key not in fields:
        return None
    value, path = fields[key]
    example = f"{key}: 32+" if unit else f"{key}: 4+"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Amount(reader.number(value, path, positive=True))
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None or (match["unit"] and not unit):
        raise reader.error(path, "must be a number, optionally followed by '+' (at least)", value,
                           f"write e.g. `{example}`")
    size = float(match["num"]) * (_GB_PER_UNIT[match["unit"][0].upper()] if match["unit"] else 1)
    if size <= 0:
        raise reader.error(path, "must be > 0", value, f"write e.g. `{example}`")
    return Amount(size, at_least=bool(match["plus"]))


def _disk_size(reader: Reader, value: Any, path: str) -> int:
    """GB as an integer: `256`, `"256GB"`, `"1TB"`."""
    if isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if match and not match["plus"]:
            factor = _GB_PER_UNIT[match["unit"][0].upper()] if match["unit"] else 1
            value = float(match["num"]) * factor
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise reader.error(path, "must be a whole number of GB > 0", value, "write e.g. `disk_size: 256`")
    return value


def parse_ports(reader: Reader, value: Any, path: str) -> tuple[int, ...]:
    """`8080`, `"8080"`, `"8000-8002"`, or a list of those -> sorted unique ports."""
    items = value if isinstance(value, list) else [value]
    ports: set[int] = set()
    for i, item in enumerate(items):
        item_path = join_path(path, i) if isinstance(value, list) else path
        text = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", text.strip()) if isinstance(text, str) else None
        low, high = (int(match[1]), int(match[2] or match[1])) if match else (0, -1)
        if not match or not 1 <= low <= high <= 65535:
            raise reader.error(item_path, "must be a port 1-65535 or a range like 8000-8002", item,
                               "write e.g. `ports: 8080`")
        ports.update(range(low, high + 1))
    return tuple(sorted(ports))


def _image_id(reader: Reader, value: Any, path: str) -> str | dict[str, str]:
    """One image for every region, or `{region: image}`."""
    if isinstance(value, dict):
        return reader.str_map(value, path, what="image")
    return reader.string(value, path, example="image_id: docker:vllm/vllm-openai:latest")
