"""Service YAML file -> `ServiceSpec`: YAML syntax, task fields, env substitution, then the sections.

Env substitution follows SkyPilot: `$VAR` and `${VAR}` in the string values of the `service:` section
are replaced by the task's `envs` (after `env_overrides`, the future `--env`); names without a value are
left as written, and `$$` is a literal `$`.
"""

from __future__ import annotations

import copy
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from skyctl.errors import UserError
from skyctl.spec.checks import check_qps_targets, check_spot, replica_port
from skyctl.spec.fields import Reader, join_path, type_name
from skyctl.spec.model import INJECTED_ENVS, ServicePolicy, ServiceSpec, TaskSpec
from skyctl.spec.resources import parse_resources
from skyctl.spec.service import parse_service

FIELDS = ("name", "service", "resources", "envs", "setup", "run", "workdir", "num_nodes")
UNSUPPORTED = {
    "file_mounts": "remove it; copy files with `workdir` or fetch them in `setup`",
    "secrets": "move them to `envs`, declared empty (e.g. `HF_TOKEN:`), and pass the values at `serve up`",
    "volumes": "remove it; fetch what replicas need in `setup`",
    "config": "remove it", "event_callback": "remove it",
}
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A service name becomes replica and bucket names: SkyPilot's cluster-name rule.
SERVICE_NAME = re.compile(r"[a-zA-Z]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?")


def load_service_spec(path: str | Path, env_overrides: Mapping[str, str] | None = None) -> ServiceSpec:
    """Read and validate a service YAML file."""
    source = str(path)
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("file not found", source=source, fix="check the path to the service YAML") from None
    except (IsADirectoryError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read the file ({e.__class__.__name__})", source=source,
                        fix="pass a UTF-8 YAML file") from None
    data, lines = _load_with_lines(text, source)
    return parse_service_spec(data, source, env_overrides, lines=lines)


def load_yaml(text: str, source: str) -> Any:
    """YAML -> Python, with syntax errors and duplicate keys reported by line and column."""
    return _load_with_lines(text, source)[0]


def _load_with_lines(text: str, source: str) -> tuple[Any, dict[str, int]]:
    """The document and the line (1-based) of every key and list item, by YAML path."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(f"invalid YAML{where}: {e.problem or e.context}", source=source,
                        fix="check the indentation and quoting around that line") from None
    except yaml.YAMLError as e:
        raise UserError(f"invalid YAML: {e}", source=source, fix="check the file is YAML") from None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if node is not None:
        _index_lines(node, "", lines)
    return data, lines


def _index_lines(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = join_path(path, str(key.value))
            lines[child] = key.start_mark.line + 1
            _index_lines(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[join_path(path, i)] = item.start_mark.line + 1
            _index_lines(item, join_path(path, i), lines)


def parse_service_spec(data: dict[str, Any], source: str | None = None,
                       env_overrides: Mapping[str, str] | None = None, *,
                       substitute_envs: bool = True, lines: Mapping[str, int] | None = None) -> ServiceSpec:
    """Validate a loaded service YAML. `source` labels messages, `lines` (YAML path -> line) adds line
    numbers to them; `substitute_envs=False` reads back a `to_dict()` (already substituted) unchanged."""
    reader = Reader(source, lines or {})
    if data is None:
        raise reader.error("", "the file is empty", None, "write a `service:` section and a `run` command")
    top = reader.mapping(data, "", allowed=FIELDS, unsupported=UNSUPPORTED)
    if "service" not in top:
        raise reader.error("service", "is required: this is a plain task, not a service", None,
                           "add e.g. `service: {readiness_probe: /health, replicas: 1}`")
    if "run" not in top:
        raise reader.error("run", "is required: it must start the server replicas are probed on", None,
                           "add e.g. `run: python -m replica_agent serve --host 0.0.0.0 --port 8080`")
    if reader.integer(top.get("num_nodes", 1), "num_nodes", minimum=1) != 1:
        raise reader.error("num_nodes", "must be 1: a replica runs on one node", top["num_nodes"],
                           "remove `num_nodes`; scale with `service.replicas` instead")
    envs = _envs(reader, top.get("envs"), env_overrides)
    service_raw = top["service"] or {}  # a bare `service:` means every default
    if substitute_envs:
        values = {k: v for k, v in envs.items() if v is not None}
        service_raw = _substitute(copy.deepcopy(service_raw), values)
    candidates, ordered = parse_resources(reader, top.get("resources"))
    section = parse_service(reader, service_raw)
    check_spot(reader, section.replica_policy, candidates)
    check_qps_targets(reader, section.replica_policy, candidates)
    service = ServicePolicy(readiness_probe=section.readiness_probe, replica_policy=section.replica_policy,
                            ports=replica_port(reader, section.ports, candidates),
                            load_balancing_policy=section.load_balancing_policy, tls=section.tls)
    task = TaskSpec(resources=candidates, ordered=ordered, envs=envs,
                    run=reader.string(top["run"], "run", example="run: python server.py"),
                    setup=_optional_text(reader, top, "setup", "setup: pip install -r requirements.txt"),
                    workdir=_optional_text(reader, top, "workdir", "workdir: ."))
    return ServiceSpec(service=service, task=task, name=_name(reader, top.get("name")), source=source)


def spec_from_dict(data: dict[str, Any]) -> ServiceSpec:
    """Rebuild a spec from its `to_dict()` (e.g. a JSON column in the state database)."""
    return parse_service_spec(data, "<stored spec>", substitute_envs=False)


def _name(reader: Reader, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not SERVICE_NAME.fullmatch(value):
        raise reader.error("name", "must start with a letter and use letters, digits, '-', '_' or '.'", value,
                           "write e.g. `name: llama-chat`")
    return value


def _optional_text(reader: Reader, top: dict[str, Any], key: str, example: str) -> str | None:
    return None if top.get(key) is None else reader.string(top[key], key, example=example)


def _envs(reader: Reader, value: Any, overrides: Mapping[str, str] | None) -> dict[str, str | None]:
    """Values become strings (YAML `8` -> "8", `true` -> "true"); an empty value means 'supply at launch'."""
    if value is not None and not isinstance(value, dict):
        raise reader.error("envs", f"must be a mapping of NAME: value, not {type_name(value)}", value,
                           "write one `NAME: value` per line under `envs`")
    out: dict[str, str | None] = {}
    for key, item in [*(value or {}).items(), *(overrides or {}).items()]:
        path = join_path("envs", str(key))
        if not isinstance(key, str) or not ENV_NAME.fullmatch(key):
            raise reader.error(path, "is not a valid environment variable name", key,
                               "use letters, digits and underscores, not starting with a digit")
        if key in INJECTED_ENVS:
            raise reader.error(path, "is set on every replica by skyctl", None,
                               f"remove it from envs and read ${key} in `run` instead")
        if isinstance(item, bool):
            item = "true" if item else "false"
        elif isinstance(item, int | float):
            item = str(item)
        elif item is not None and not isinstance(item, str):
            raise reader.error(path, f"must be a string, not {type_name(item)}", item,
                               f"quote the value: `{key}: '...'`")
        out[key] = item
    return out


def _substitute(value: Any, envs: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return string.Template(value).safe_substitute(envs)
    if isinstance(value, dict):
        return {k: _substitute(v, envs) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, envs) for v in value]
    return value


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that rejects duplicate keys, which PyYAML otherwise silently overwrites."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)
