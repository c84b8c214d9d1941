"""Read, write and merge throughput-profile files (`skyctl/profile-v1`, YAML or JSON by extension).

The solver package validates the content (`ThroughputProfile.from_dict`); this module adds the file: which
format, one-line errors naming the path, atomic writes, and merging one GPU's table into an existing file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from skyctl.errors import UserError
from solvers.melange.errors import ProblemError
from solvers.melange.profile import ThroughputProfile


def user_error(e: ProblemError, source: str | None = None) -> UserError:
    """The solver's field/value/fix error as the CLI's UserError (exit 2), optionally naming the file."""
    return UserError(e.message, field=e.field, value=e.value, fix=e.fix, source=source)


def read_profile(path: Path) -> ThroughputProfile:
    """A validated profile from a .yaml/.yml/.json file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("profile file not found", field="profile", value=str(path),
                        fix="make one with `skyctl gpu-mix estimate` or `skyctl gpu-mix profile`") from None
    except OSError as e:
        raise UserError(f"cannot read the profile file: {e.strerror}", field="profile",
                        value=str(path)) from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise UserError(f"not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: "
                        f"{str(e).splitlines()[0]}", source=str(path)) from None
    try:
        return ThroughputProfile.from_dict(data, origin="profile")
    except ProblemError as e:
        raise user_error(e, source=str(path)) from None


def write_profile(profile: ThroughputProfile, path: Path) -> None:
    """Write atomically (temp file + rename), so an interrupted run never leaves half a profile."""
    d = profile.to_dict()
    if path.suffix.lower() == ".json":
        text = json.dumps(d, indent=2) + "\n"
    else:  # innermost lists in flow style: one bucket row per line, as people read the tables
        text = yaml.safe_dump(d, sort_keys=False, default_flow_style=None, width=200)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def merge_profiles(base: ThroughputProfile, new: ThroughputProfile, origin: str) -> ThroughputProfile:
    """`base` with `new`'s GPU tables added (replacing same-named ones); edges and SLO must match."""
    for name, a, b in (("input_edges", base.input_edges, new.input_edges),
                       ("output_edges", base.output_edges, new.output_edges),
                       ("slo.tpot_ms", base.slo_tpot_ms, new.slo_tpot_ms),
                       ("slo.ttft_ms", base.slo_ttft_ms, new.slo_ttft_ms)):
        if a != b:
            raise UserError(f"cannot merge: the existing file has {name} {_show(a)}, this run has {_show(b)}",
                            source=origin, fix="use the same buckets and SLO, or write to another --out file")
    source = base.source if new.source == base.source else f"{base.source}; {new.source}"
    return ThroughputProfile(model=base.model or new.model, source=source, slo_tpot_ms=base.slo_tpot_ms,
                             slo_ttft_ms=base.slo_ttft_ms, input_edges=base.input_edges,
                             output_edges=base.output_edges, tputs={**base.tputs, **new.tputs})


def _show(v: object) -> str:
    return "[" + ", ".join(f"{x:g}" for x in v) + "]" if isinstance(v, tuple) else repr(v)
