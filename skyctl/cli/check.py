"""`skyctl check [CLOUD...] [--probe] [--json]`: which clouds are enabled and where credentials come from."""

from __future__ import annotations

import typer

from skyctl.check import CLOUDS, PROBE_TIMEOUT, check_clouds
from skyctl.cli.output import console, print_json, table, want_json
from skyctl.errors import UserError, did_you_mean

app = typer.Typer()


@app.callback(invoke_without_command=True)
def check(
    ctx: typer.Context,
    clouds: list[str] | None = typer.Argument(None, help="Clouds to check (default: all).",
                                              show_default=False),
    probe: bool = typer.Option(False, "--probe", help="Also make one identity call per cloud (network)."),
    timeout: float = typer.Option(PROBE_TIMEOUT, "--timeout", min=0.1, help="Seconds per probe."),
    json_: bool = typer.Option(False, "--json", help="A JSON list: cloud, enabled, credentials, source, "
                               "reason, probe."),
) -> None:
    """Show, per cloud, whether credentials are found and where; no network unless --probe."""
    for cloud in clouds or []:
        if cloud not in CLOUDS:
            raise UserError("unknown cloud", field="CLOUD", value=cloud,
                            fix=did_you_mean(cloud, CLOUDS) or f"use one of {', '.join(CLOUDS)}")
    results = check_clouds(tuple(clouds) if clouds else CLOUDS, probe=probe, timeout=timeout)
    if want_json(ctx, json_):
        print_json([r.to_dict() for r in results])
        return
    columns = ["CLOUD", "ENABLED", "CREDENTIALS", "SOURCE", "REASON"] + (["IDENTITY"] if probe else [])
    rows = []
    for r in results:
        row = [r.cloud, "yes" if r.enabled else "no", r.credentials or "-", r.source or "-", r.reason or ""]
        if probe:
            row.append((r.probe or {}).get("identity") or "-")
        rows.append(row)
    t = table("Clouds" + (" (probed)" if probe else " (local look, no network; --probe to confirm)"),
              columns, rows)
    console.print(t)
    if not all(r.enabled for r in results):
        console.print("To enable a cloud, follow its reason above and run `skyctl check` again.")
