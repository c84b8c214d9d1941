"""`skyctl gpu-mix`: the cheapest mix of GPU types for a workload (Mélange ILP), and its profiles."""

from __future__ import annotations

import typer

from skyctl.cli import gpu_mix_profile

app = typer.Typer(no_args_is_help=True)
app.command("estimate")(gpu_mix_profile.estimate)
app.command("profile")(gpu_mix_profile.profile)
