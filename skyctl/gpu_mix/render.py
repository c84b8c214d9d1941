"""The JSON form of a `MixReport` (a stable contract: keys are only ever added)."""

from __future__ import annotations

from typing import Any

from skyctl.gpu_mix.service import MixReport


def report_json(r: MixReport) -> dict[str, Any]:
    s = r.solution
    found = s.status not in ("infeasible", "no_solution")
    return {
        # stopped by the clock before any mix was found: `time_limit` with no allocation and no cost
        "status": "time_limit" if s.status == "no_solution" else s.status,
        "allocation": s.allocation,
        "cost_per_hour": round(s.cost_per_hour, 9) if found else None,
        "solve_seconds": round(s.solve_seconds, 4),
        "mip_gap": s.gap,
        "lower_bound": s.bound,
        "utilization": {n: round(u, 6) for n, u in s.utilization.items()},
        "load": {n: round(v, 6) for n, v in s.loads.items() if v > 0},
        "routing": routing_rows(r),
        "baselines": {
            b.gpu: {"count": b.count, "cost_per_hour": b.cost_per_hour,
                    "savings_pct": None if b.cost_per_hour is None or not found
                    else round(b.savings_pct(s.cost_per_hour), 4)}
            for b in r.baselines
        },
        "prices": {n: {"cost_per_hour": p, "source": src} for n, (p, src) in r.prices.items()},
        "mode": s.mode,
        "solver": s.solver,
        "slice_factor": r.problem.slice_factor,
        "total_rate": sum(map(sum, r.problem.rates)),
        "min_on_demand_fraction": r.problem.min_on_demand_fraction,
        "config": r.input.source,
        "config_format": r.input.format,
        "profile": r.input.profile,
        "diagnosis": r.diagnosis,
    }


def routing_rows(r: MixReport) -> list[dict[str, Any]]:
    """One row per bucket: indices, token ranges when known, the sized rate and the weight per GPU type."""
    p = r.problem
    rows = []
    for i, row in enumerate(r.solution.routing):
        for k, weights in enumerate(row):
            entry: dict[str, Any] = {"input_bucket": i, "output_bucket": k}
            if p.input_edges is not None and p.output_edges is not None:
                entry["input_tokens"] = [0 if i == 0 else p.input_edges[i - 1], p.input_edges[i]]
                entry["output_tokens"] = [0 if k == 0 else p.output_edges[k - 1], p.output_edges[k]]
            entry["rate"] = p.rates[i][k]
            entry["weights"] = {n: round(w, 9) for n, w in weights.items()}
            rows.append(entry)
    return rows
