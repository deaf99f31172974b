"""``somagent serve worker|projector|billing|policy`` and ``somagent demo``."""

from __future__ import annotations

from typing import Annotated

import typer

from somagent.config import Settings
from somagent.exceptions import SomagentError


def _settings() -> Settings:
    from somagent.config import load_settings

    return load_settings()


def serve_worker(
    loglevel: Annotated[str, typer.Option(help="log level")] = "info",
    instance: Annotated[int, typer.Option(min=0, help="index among the turn workers")] = 0,
) -> None:
    """The Faust turn engine (more worker processes share the partitions)."""
    from somagent.serve.worker import run_worker

    run_worker(_settings(), loglevel=loglevel, instance=instance)


def serve_projector() -> None:
    """The Postgres and ClickHouse projectors, until SIGTERM/SIGINT."""
    from somagent import logs
    from somagent.projections.run import ProjectorLag, ProjectorStats, run_projectors
    from somagent.serve.health import HealthServer
    from somagent.telemetry import collectors, tracing

    logs.configure()
    settings = _settings()
    stats = {"postgres": ProjectorStats(), "clickhouse": ProjectorStats()}
    tracing.configure_role("projector")
    health = HealthServer.from_env("projector")
    for name, stat in stats.items():
        health.add_check(name, stat.health)
    lag = ProjectorLag(settings, stats)
    health.add_lag(lag)
    collectors.register(collectors.ProjectorCollector(stats, lambda: dict(lag.ends)))
    health.start()
    try:
        run_projectors(settings, stats=stats)
    finally:
        health.close()


def serve_policy() -> None:
    """The constitution service: OPA's decision log into policy.decisions; OPA kept at
    the active policies."""
    from somagent.serve.policy import run_policy

    run_policy(_settings())


def serve_billing(
    engine: Annotated[
        str | None,
        typer.Option(help="faust (the billing agent) or transactional; default from settings"),
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="consumer group / Faust app id of the billing agent")
    ] = None,
    loglevel: Annotated[str, typer.Option(help="log level")] = "info",
) -> None:
    """Billing (billing.usage → one-minute windows → billing.ledger), until SIGTERM/SIGINT."""
    from somagent.telemetry import tracing

    settings = _settings()
    tracing.configure_role("billing")
    chosen = engine or settings.billing_engine
    if chosen == "faust":
        from somagent.billing.agent import build_billing_app
        from somagent.billing.plans import tenant_plans
        from somagent.billing.state import BillingConfig
        from somagent.events.catalog import BILLING_USAGE
        from somagent.kafka.admin import GroupLag
        from somagent.serve.health import HealthServer, LoopHeartbeat
        from somagent.serve.worker import run_faust
        from somagent.telemetry import collectors

        config = BillingConfig(group=group) if group else BillingConfig()
        app, agent = build_billing_app(settings, config, plan_for=tenant_plans(settings))
        heartbeat = LoopHeartbeat()
        app.task(heartbeat.run)
        health = HealthServer.from_env("billing")
        health.add_check("event loop", heartbeat.check)
        health.add_lag(GroupLag(settings, app.conf.id, [BILLING_USAGE]))
        collectors.register(collectors.BillingCollector(agent))
        health.start()
        try:
            run_faust(app, loglevel=loglevel)
        finally:
            health.close()
            agent.close()
    elif chosen == "transactional":
        from somagent.billing.state import BillingConfig
        from somagent.billing.worker import run_billing
        from somagent.events.catalog import BILLING_USAGE
        from somagent.kafka.admin import GroupLag
        from somagent.serve.health import HealthServer

        health = HealthServer.from_env("billing")
        health.add_lag(GroupLag(settings, group or BillingConfig().group, [BILLING_USAGE]))
        health.start()
        try:
            run_billing(settings)
        finally:
            health.close()
    else:
        typer.echo(f"error: --engine must be faust or transactional, got {chosen!r}", err=True)
        raise typer.Exit(2)


def demo(
    text: Annotated[str, typer.Option(help="what to ask")] = (
        "Remember that the launch is on Friday. What is (1/3 + 1/6) * 3?"
    ),
    job: Annotated[bool, typer.Option("--job/--no-job", help="also run a small job")] = True,
) -> None:
    """Run a real turn (and a small job) against the running platform; print their SSE."""
    from somagent.serve.demo import run_demo

    try:
        run_demo(_settings(), text, job=job)
    except SomagentError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def register(app: typer.Typer) -> None:
    from somagent.api.commands import serve_group

    group = serve_group(app)
    group.command("worker")(serve_worker)
    group.command("projector")(serve_projector)
    group.command("billing")(serve_billing)
    group.command("policy")(serve_policy)
    app.command("demo")(demo)
