"""`skyctl store`: virtual buckets over regions (mb, put, get, ls, rm, gc)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from skyctl.cli import store_sim
from skyctl.cli.output import console, err_console, print_json, table, want_json
from skyctl.store import DEFAULT_GRACE_S
from skyctl.store.policy import DEFAULT_POLICY

if TYPE_CHECKING:
    from skyctl.store.service import Store

app = typer.Typer(no_args_is_help=True)

JSON_OPT = typer.Option(False, "--json", help="Machine-readable JSON output.")
_NUMERIC = {"SIZE", "VERSION", "OBJECTS", "BYTES", "TTL S"}


def _store(**kwargs: float) -> Store:
    """Imported here so that other command groups do not pay for SQLAlchemy at start-up."""
    from skyctl.store.service import open_store

    return open_store(**kwargs)


def _justify(col: str) -> str:
    return "right" if col in _NUMERIC else "left"


def _when(ts: float | None) -> str:
    return "never" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


@app.command("mb")
def mb(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Virtual bucket name (3-40 of a-z, 0-9, -)."),
    regions: str = typer.Option(..., "--regions",
                                help="Comma-separated regions, e.g. aws:us-east-1,gcp:us-west1"),
    policy: str = typer.Option(DEFAULT_POLICY, "--policy",
                               help="t-evict, t-even, fixed-ttl, always-store, always-evict."),
    ttl: float | None = typer.Option(None, "--ttl", help="TTL in seconds (fixed-ttl only)."),
    backend: str = typer.Option("local", "--backend", help="local (a directory per region) or s3."),
    base_region: str = typer.Option("first-write", "--base-region",
                                    help="first-write: the writer's copy is permanent; none: every copy "
                                         "has a TTL and gc keeps the last one."),
    json_: bool = JSON_OPT,
) -> None:
    """Make a virtual bucket and its physical bucket in every region."""
    from skyctl.store import buckets

    info = buckets.make_bucket(_store(), name, regions, policy, ttl, backend, base_region)
    if want_json(ctx, json_):
        print_json(info.to_dict())
        return
    console.print(f"made {info.name}: {info.policy} over {', '.join(info.regions)} ({info.backend})")


@app.command("put")
def put(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Local file to upload."),
    target: str = typer.Argument(..., help="VBUCKET/KEY"),
    region: str = typer.Option(..., "--region", help="The writer's region; the object lands there."),
    json_: bool = JSON_OPT,
) -> None:
    """Upload a file; it lands in --region (write-local) and replaces older versions."""
    from skyctl.store import objects

    with err_console.status(f"uploading {file} to {target} in {region}"):
        res = objects.put(_store(), file, target, region)
    if want_json(ctx, json_):
        print_json(res.to_dict())
        return
    console.print(f"put {res.bucket}/{res.key} v{res.version} ({res.size} bytes) in {res.region}")


@app.command("get")
def get(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="VBUCKET/KEY"),
    out: Path = typer.Argument(Path("."), help="Output file or directory (default: current directory)."),
    region: str = typer.Option(..., "--region", help="The reader's region; may receive a copy."),
    json_: bool = JSON_OPT,
) -> None:
    """Download from the cheapest live replica; the policy may leave a copy in --region."""
    from skyctl.store import reads

    with err_console.status(f"reading {target} into {region}"):
        res = reads.get(_store(), target, out, region)
    if want_json(ctx, json_):
        print_json(res.to_dict())
        return
    how = "local hit" if res.hit else f"from {res.source_region}" + (", copied" if res.copied else "")
    console.print(f"got {res.bucket}/{res.key} v{res.version} -> {res.path} ({how})")


@app.command("ls")
def ls(
    ctx: typer.Context,
    target: str | None = typer.Argument(None, help="VBUCKET[/PREFIX]; omit to list buckets."),
    json_: bool = JSON_OPT,
) -> None:
    """List virtual buckets, or the objects of one with their replicas and expiries."""
    from skyctl.store import buckets

    store = _store()
    if target is None:
        infos = buckets.list_buckets(store)
        if want_json(ctx, json_):
            print_json([i.to_dict() for i in infos])
            return
        rows = [(i.name, ",".join(i.regions), i.policy, i.backend, i.base_region, i.objects, i.bytes)
                for i in infos]
        console.print(table(None, ["BUCKET", "REGIONS", "POLICY", "BACKEND", "BASE", "OBJECTS", "BYTES"],
                            rows, _justify))
        return
    objs = buckets.list_objects(store, target)
    if want_json(ctx, json_):
        print_json(objs)
        return
    rows = [(o["key"], o["version"], o["size"],
             ", ".join(f"{r['region']}{'*' if r['base'] else ''}" for r in o["replicas"]),
             "; ".join(f"{r['region']}: {_when(r['expires_at'])}" for r in o["replicas"])) for o in objs]
    console.print(table(None, ["KEY", "VERSION", "SIZE", "REPLICAS (*base)", "EXPIRES"], rows, _justify))


@app.command("rm")
def rm(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="VBUCKET/KEY"),
    json_: bool = JSON_OPT,
) -> None:
    """Remove an object (every version and replica)."""
    from skyctl.store import objects

    res = objects.rm(_store(), target)
    if want_json(ctx, json_):
        print_json(res)
        return
    console.print(f"removed {res['bucket']}/{res['key']} ({res['replicas_deleted']} replicas)")


@app.command("gc")
def gc(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be removed."),
    grace: float = typer.Option(DEFAULT_GRACE_S, "--grace", min=0,
                                help="Seconds before a pending write or temp file counts as abandoned."),
    json_: bool = JSON_OPT,
) -> None:
    """Evict expired replicas (never a base or last copy); clean abandoned writes. Cron-safe."""
    from skyctl.store.gc import gc as collect

    rep = collect(_store(grace_s=grace), dry_run=dry_run)
    if want_json(ctx, json_):
        print_json(rep.to_dict())
        return
    verb = "would evict" if dry_run else "evicted"
    rows = [(verb, e["bucket"], e["key"], e["version"], e["region"]) for e in rep.evicted]
    rows += [("kept last copy", e["bucket"], e["key"], e["version"], e["region"]) for e in rep.kept_last]
    rows += [("abandoned write", e["bucket"], e["key"], e["version"], e["region"])
             for e in rep.failed_pending]
    if rows:
        console.print(table(None, ["ACTION", "BUCKET", "KEY", "VERSION", "REGION"], rows, _justify))
    console.print(f"{len(rep.evicted)} evicted, {len(rep.kept_last)} kept as last copy, "
                  f"{len(rep.failed_pending)} abandoned writes, {rep.temp_removed} temp files removed")


app.command("simulate")(store_sim.simulate)
app.command("gen-trace")(store_sim.gen_trace)
