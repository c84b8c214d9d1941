"""`skyctl serve`: bring services up, watch them, update them, take them down."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from skyctl.cli.output import console, err_console, print_json, want_json
from skyctl.cli.serve_render import plan_tables, progress_line, service_tables, spec_summary
from skyctl.errors import Failure, UserError

app = typer.Typer(no_args_is_help=True)

JSON_OPT = typer.Option(False, "--json", help="Machine-readable JSON output.")
ENV_OPT = typer.Option(None, "--env", help="KEY=VALUE for the task's envs (repeatable); fills empty ones.")


def _envs(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError("must be KEY=VALUE", field="--env", value=pair,
                            fix="write e.g. --env HF_TOKEN=...")
        out[key] = value
    return out


@app.command("validate")
def validate(ctx: typer.Context, file: Path = typer.Argument(..., help="Service YAML."),
             env: list[str] = ENV_OPT, json_: bool = JSON_OPT) -> None:
    """Check a service YAML and show the launch plan (candidate locations and prices); launches nothing.
    The plan covers every cloud; `serve up` uses only the enabled ones (`skyctl check`)."""
    from skyctl.check import enabled_clouds
    from skyctl.serve import service
    from skyctl.serve.plan import plan_to_dict

    spec, plan = service.validate(file, _envs(env), only_enabled=False)
    enabled = sorted(enabled_clouds())
    usable = [c for c in plan.candidates if c.location.cloud in enabled]
    if want_json(ctx, json_):
        print_json({"spec": spec.to_dict(), "plan": plan_to_dict(plan), "enabled_clouds": enabled,
                    "usable_candidates": len(usable)})
        return
    console.print(spec_summary(spec))
    for t in plan_tables(plan):
        console.print(t)
    disabled = sorted({c.location.cloud for c in plan.candidates} - set(enabled))
    if disabled:
        console.print(f"Not enabled: {', '.join(disabled)} (`skyctl check` says why); `serve up` would use "
                      f"{len(usable)} of these {len(plan.candidates)} locations.")


@app.command("up")
def up(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Service YAML (SkyPilot-compatible)."),
    name: str | None = typer.Option(None, "-n", "--name", help="Service name (default: the YAML's name)."),
    env: list[str] = ENV_OPT,
    api_key: str | None = typer.Option(None, "--api-key", envvar="SKYCTL_SERVE_API_KEY",
                                       help="Require `Authorization: Bearer KEY` at the endpoint."),
    detach: bool = typer.Option(False, "--detach", "-d", help="Return once the controller is started."),
    timeout: float = typer.Option(900, "--timeout", help="Seconds to wait for a READY replica."),
    json_: bool = JSON_OPT,
) -> None:
    """Start a service: its controller launches replicas and the endpoint load-balances over them."""
    from skyctl.serve import service

    quiet = want_json(ctx, json_)
    spec, info = service.up(file, name=name, envs=_envs(env), api_key=api_key)
    if not quiet:
        err_console.print(spec_summary(spec))
        err_console.print(f"Service [bold]{info.name}[/] is starting; endpoint {info.endpoint}")
    if not detach:
        info = _wait_ready(info.name, timeout, quiet)
    if quiet:
        print_json(info.to_dict())
        return
    for t in service_tables([info]):
        console.print(t)
    console.print(f"Endpoint: {info.endpoint}")


def _wait_ready(name: str, timeout: float, quiet: bool):  # type: ignore[no-untyped-def]
    """Show replicas coming up until one is READY and the endpoint accepts connections; fail fast when
    every replica has failed."""
    from skyctl.serve import service

    deadline = time.monotonic() + timeout
    with err_console.status("waiting for replicas", spinner="dots") as live:
        while True:
            info = service.status([name])[0]
            if not quiet:
                live.update(progress_line(info))
            if info.ready > 0 and service.endpoint_listening(info):
                return info
            if info.status in ("FAILED", "CONTROLLER_FAILED", "FAILED_CLEANUP"):
                why = info.message or "see `skyctl serve status`"
                raise Failure(f"service {name} is {info.status}: {why}"
                              f"; logs: `skyctl serve logs {name} --controller`")
            if time.monotonic() > deadline:
                raise Failure(f"no replica of {name} became READY within {timeout:.0f} s; it keeps trying "
                              f"in the background (`skyctl serve status {name}`, `skyctl serve logs {name}`)")
            time.sleep(0.5)


@app.command("status")
def status(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, help="Services to show (default: all)."),
    endpoint: bool = typer.Option(False, "--endpoint", help="Print only the endpoint of one service."),
    json_: bool = JSON_OPT,
) -> None:
    """Services and their replicas: status, location, spot or on-demand, $/h."""
    from skyctl.serve import service

    infos = service.status(names or None)
    if endpoint:
        if len(infos) != 1:
            raise UserError("--endpoint needs exactly one service", field="NAME", value=names or None,
                            fix="name one service")
        console.print(infos[0].endpoint or "", highlight=False)
        return
    if want_json(ctx, json_):
        print_json([i.to_dict() for i in infos])
        return
    if not infos:
        console.print("No service is up. Start one with `skyctl serve up FILE`.")
        return
    for t in service_tables(infos):
        console.print(t)


@app.command("update")
def update(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Service to update."),
    file: Path = typer.Argument(..., help="The new service YAML."),
    mode: str = typer.Option("rolling", "--mode", help="rolling or blue_green."),
    env: list[str] = ENV_OPT,
    json_: bool = JSON_OPT,
) -> None:
    """Roll the service over to a new version of its YAML."""
    from skyctl.serve import service

    info = service.update(name, file, mode=mode, envs=_envs(env))
    if want_json(ctx, json_):
        print_json(info.to_dict())
        return
    console.print(f"{name}: version {info.version} recorded; the controller rolls replicas over ({mode}).")


@app.command("down")
def down(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, help="Services to take down."),
    all_: bool = typer.Option(False, "--all", "-a", help="Take every service down."),
    purge: bool = typer.Option(False, "--purge", help="Also clear services whose teardown failed."),
    json_: bool = JSON_OPT,
) -> None:
    """Terminate every replica, stop the controller and the load balancer."""
    from skyctl.serve import service

    with err_console.status("taking services down"):
        done = service.down(names or None, all_=all_, purge=purge)
    if want_json(ctx, json_):
        print_json({"down": done})
        return
    console.print(f"Down: {', '.join(done)}" if done else "No service was up.")


@app.command("preempt")
def preempt(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Service."),
    replica_id: int = typer.Argument(..., help="Replica id from `skyctl serve status`."),
    json_: bool = JSON_OPT,
) -> None:
    """Preempt a spot replica as its cloud would (local and simulated providers only)."""
    from skyctl.serve import service

    info = service.preempt(name, replica_id)
    if want_json(ctx, json_):
        print_json(info.to_dict())
        return
    console.print(f"{name}: replica {replica_id} preempted; the controller will replace it.")


@app.command("logs")
def logs(
    name: str = typer.Argument(..., help="Service."),
    replica_id: int | None = typer.Argument(None, help="One replica (default: all replicas)."),
    controller: bool = typer.Option(False, "--controller", help="The controller's log."),
    load_balancer: bool = typer.Option(False, "--load-balancer", help="The load balancer's log."),
    follow: bool = typer.Option(True, "--follow/--no-follow", help="Keep printing new lines."),
) -> None:
    """Print logs of a service's replicas, controller or load balancer."""
    from skyctl.cli.serve_logs import stream
    from skyctl.serve import service

    if controller and load_balancer:
        raise UserError("pick one of --controller and --load-balancer", field="--controller", value=True,
                        fix="drop one of the two flags")
    target = "controller" if controller else "load_balancer" if load_balancer else "replica"
    files = service.log_files(name, replica_id, target=target)
    stream(name, files, follow=follow)


@app.command("simulate")
def simulate(
    ctx: typer.Context,
    trace: str = typer.Option(..., "--trace", help="aws1, aws2, aws3, gcp1, or a trace folder/file path."),
    policy: str = typer.Option("all", "--policy", help="all, or comma-separated: ondemand, even_spread, "
                                                       "round_robin, spothedge, skyctl, optimal "
                                                       "(all), skyserve."),
    target: int = typer.Option(3, "--target", help="READY replicas the service needs."),
    hours: float = typer.Option(24, "--hours", help="Length of each simulated window."),
    repeats: int = typer.Option(10, "--repeats", help="Windows at seeded random offsets into the trace."),
    seed: int = typer.Option(0, "--seed", help="Seed of the window offsets."),
    cold_start: float = typer.Option(120, "--cold-start", help="Seconds from launch to READY."),
    jobs: int = typer.Option(0, "--jobs", help="Processes (0: one per CPU)."),
    json_: bool = JSON_OPT,
    plot: Path | None = typer.Option(None, "--plot", help="Write READY replicas and cost over time (PNG)."),
) -> None:
    """Run the controller's spot policies on a spot-capacity trace (simulated cloud, virtual clock)."""
    from skyctl.cli import serve_simulate as render
    from skyctl.serve import simulate as sim

    setup = sim.Setup(target=target, hours=hours, repeats=repeats, seed=seed, cold_start=cold_start)
    spot_trace = sim.open_trace(trace)
    started = time.monotonic()
    with err_console.status("simulating", spinner="dots"):
        runs = sim.simulate(spot_trace, render.policies_from(policy), setup, jobs=jobs or None)
    rows = sim.summarize(runs)
    if plot is not None:
        render.plot(runs, setup, plot)
    if want_json(ctx, json_):
        print_json([r.to_dict() for r in rows])
        return
    console.print(render.summary_table(trace, setup, rows, time.monotonic() - started))
