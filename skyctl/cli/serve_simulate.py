"""Renderings for `skyctl serve simulate`: the per-policy table and the `--plot` figure."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from skyctl.cli.output import pyplot, save_figure, table
from skyctl.errors import UserError

if TYPE_CHECKING:  # the CLI starts without loading the serve stack
    from skyctl.serve.simulate import Run, Setup, Summary

_LEFT = {"POLICY"}


def policies_from(option: str) -> list[str]:
    """`all`, one policy, or a comma-separated list (checked by the simulator)."""
    from skyctl.serve.simulate import ALL_POLICIES, POLICIES

    names = [p.strip().lower() for p in option.split(",") if p.strip()]
    if not names:
        raise UserError("no policy given", field="--policy", value=option,
                        fix=f"use all or {', '.join(POLICIES)}")
    return list(ALL_POLICIES) if names == ["all"] else names


def summary_table(trace: str, setup: Setup, rows: list[Summary], seconds: float) -> Table:
    title = (f"{trace}: target {setup.target}, {setup.hours:g} h x {setup.repeats} windows "
             f"(seed {setup.seed}), cold start {setup.cold_start:g} s, "
             f"on-demand {setup.ondemand_ratio:g}x spot; "
             f"{seconds:.1f} s")
    return table(title, ["POLICY", "AVAILABILITY %", "COST % OF ON-DEMAND", "PREEMPTIONS / RUN",
                         "ON-DEMAND H / RUN"],
                 [[s.policy, f"{s.availability_pct:.2f}", f"{s.cost_pct_of_ondemand:.1f}",
                   f"{s.preemptions:.1f}", f"{s.ondemand_hours:.2f}"] for s in rows],
                 justify=lambda c: "left" if c in _LEFT else "right")


def plot(runs: dict[str, list[Run]], setup: Setup, path: Path) -> None:
    """Ready replicas (mean over windows) and cumulative cost per policy over the window; matplotlib only
    loads when a plot is asked for."""
    plt = pyplot(path)
    import numpy as np

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for policy, rs in runs.items():
        hours = np.arange(len(rs[0].ready)) * 30 / 3600
        top.plot(hours, np.mean([r.ready for r in rs], axis=0), label=policy, linewidth=1)
        cumulative = np.mean([np.cumsum(r.rate) * 30 / 3600 for r in rs], axis=0)
        bottom.plot(hours, cumulative, label=policy, linewidth=1)
    top.axhline(setup.target, color="grey", linestyle=":", linewidth=1)
    top.set_ylabel("READY replicas (mean over windows)")
    bottom.set_ylabel("cumulative cost (spot replica-hours)")
    bottom.set_xlabel("hours into the window")
    top.legend(fontsize="small", ncol=3)
    fig.tight_layout()
    save_figure(plt, fig, path)
