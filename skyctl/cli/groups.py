"""The list of command groups. Each entry: (name, Typer app, help)."""

from __future__ import annotations

import typer

from skyctl.cli import catalog, check, cost_report, gpu_mix, serve, store

GROUPS: list[tuple[str, typer.Typer, str]] = [
    ("gpu-mix", gpu_mix.app, "Cheapest mix of GPU types for a workload (Mélange ILP)."),
    ("catalog", catalog.app, "GPU offerings, prices and specs on AWS, GCP and Azure."),
    ("serve", serve.app, "Serve a model from a service YAML: spot-aware replicas behind one endpoint."),
    ("store", store.app, "Cost-optimal object placement across regions (SkyStore)."),
    ("check", check.app, "Which clouds are enabled and where their credentials come from."),
    ("cost-report", cost_report.app, "What every service and bucket cost and saved; cron-friendly."),
]
