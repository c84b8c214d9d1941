"""`skyctl cost-report`: what services and virtual buckets cost and saved, for people, programs and cron.

Exit codes: 0 done; 1 the work failed (e.g. the database cannot be read); 2 bad input (option, file
path, pricing file); 3 the report was printed and written but the `--notify` post failed after its
retries.
"""

from __future__ import annotations

from pathlib import Path

import typer

from skyctl.cli.output import console, err_console, print_json, want_json
from skyctl.clock import REAL_CLOCK

EXIT_NOTIFY_FAILED = 3

app = typer.Typer()


@app.callback(invoke_without_command=True)
def cost_report(
    ctx: typer.Context,
    since: str | None = typer.Option(None, "--since",
                                     help="Start: 7d, 12h, 2w (back from --until) or a UTC date/time "
                                          "(2026-11-01). Default: 30 days before --until."),
    until: str | None = typer.Option(None, "--until",
                                     help="End, exclusive: a UTC date/time (2026-11-08 = up to its 00:00). "
                                          "Default: now."),
    service: str | None = typer.Option(None, "--service", help="Only this service (leaves buckets out)."),
    json_: bool = typer.Option(False, "--json", help="Machine-readable JSON on stdout."),
    csv_file: Path | None = typer.Option(None, "--csv", help="Also write one CSV row per line item here."),
    html_file: Path | None = typer.Option(None, "--html",
                                          help="Also write a self-contained HTML page with charts here."),
    notify: str | None = typer.Option(None, "--notify",
                                      help="POST a short summary to this Slack-compatible webhook URL."),
    notify_retries: int = typer.Option(3, "--notify-retries", help="Retries of a failed post (0-10)."),
    notify_backoff: float = typer.Option(1.0, "--notify-backoff", min=0.0,
                                         help="Seconds before the first retry; doubles on each."),
    pricing: Path | None = typer.Option(None, "--pricing",
                                        help="Store prices YAML (default: shipped list prices)."),
    now: str | None = typer.Option(None, "--now",
                                   help="Pretend it is this UTC time (open intervals end here): "
                                        "reproducible reports."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing on success (for cron)."),
) -> None:
    """Cost of every service replica and virtual bucket, and the saving against all on-demand.

    Replicas cost the $/h recorded when they launched (later catalog changes do not rewrite history);
    the window is [--since, --until) in UTC. Exit codes: 0 ok, 1 failure, 2 bad input, 3 the report
    was produced but the --notify post failed.
    """
    from skyctl.report import notify as notify_mod
    from skyctl.report.build import cost_report as build
    from skyctl.report.files import write_atomic
    from skyctl.report.window import make_window, parse_time

    if notify is not None:
        notify_mod.check_url(notify)
        notify_mod.check_retries(notify_retries)
    wall = REAL_CLOCK.now()
    at = wall if now is None else parse_time(now, "--now", now=wall, relative=False)
    report = build(make_window(since, until, at), service=service, pricing_path=pricing)
    if csv_file is not None:
        from skyctl.report.render_csv import render_csv

        write_atomic(csv_file, render_csv(report), "--csv")
    if html_file is not None:
        from skyctl.report.render_html import render_html

        write_atomic(html_file, render_html(report), "--html")
    if not quiet:
        if want_json(ctx, json_):
            print_json(report.to_dict())
        else:
            from skyctl.report.render_table import render_tables

            for part in render_tables(report):
                console.print(part)
    if notify is not None:
        res = notify_mod.post_summary(notify, notify_mod.summary_text(report), retries=notify_retries,
                                      backoff_s=notify_backoff)
        if not res.ok:
            err_console.print(f"[bold red]error:[/] --notify: the post failed after {res.attempts} "
                              f"attempt(s) ({res.error}); the report itself was produced",
                              highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_NOTIFY_FAILED)
