"""The `netra` command.

Heavy modules (settings, the server, the database) are imported inside the
commands that need them, so `netra check` and `--help` start quickly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from netra.config import Settings

app = typer.Typer(help="Netra: real-time multi-user AI agent chat.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command(
    "check",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def check(ctx: typer.Context) -> None:
    """Find tests that cannot fail (the same as `netra-check`; `netra check --help`)."""
    from netra_check.command import run_once

    raise typer.Exit(run_once(ctx.args))


@app.command(
    "migrate",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def migrate(ctx: typer.Context) -> None:
    """Move a pytest or unittest suite onto Netra's conventions (`netra migrate --help`)."""
    from netra_check.migrate.command import main

    raise typer.Exit(main(ctx.args))


def _say(message: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(message)


def _settings(**overrides: object) -> Settings:
    from netra.config import ConfigError, Settings
    from netra.env import process_environment

    env = process_environment(dotenv=Path(".env"))
    try:
        return Settings.from_env(env, **{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        _say(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [default: 8000]")] = None,
) -> None:
    """Serve Netra (API, WebSocket) on the configured database."""
    import logging
    from collections.abc import Callable

    import uvicorn

    from netra.api.app import create_app
    from netra.config import redact_url
    from netra.observability import logs

    settings = _settings(host=host, port=port)
    logs.configure(settings.log_level, settings.log_format, settings.secrets())
    json_logs = settings.log_format == "json"
    where = f"http://{settings.host}:{settings.port}"
    say: Callable[[str], None] = _say
    shown = f"[bold]{where}[/bold]"
    if json_logs:  # nothing but JSON lines on stderr: the banner is log records too
        say, shown = logging.getLogger("netra.serve").info, where
    say(f"Netra {settings.env}: serving on {shown}")
    say(f"  data dir: {settings.data_dir.resolve()}")
    say(f"  database: {redact_url(settings.resolved_database_url)}")
    netra_app = create_app(settings)
    config = uvicorn.Config(
        netra_app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # uvicorn's own handlers print text; with JSON its records go to ours instead.
        log_config=None if json_logs else uvicorn.config.LOGGING_CONFIG,
        ws_max_size=settings.ws_max_frame_bytes,
        # Compression would keep two zlib contexts (about 41 KiB) alive per socket.
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ws_heartbeat_interval,
        ws_ping_timeout=settings.ws_heartbeat_interval,
        timeout_graceful_shutdown=15,
        server_header=False,
        # X-Forwarded-For names the client only when a trusted proxy sent it.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
    )
    server = _server(config, netra_app)
    server.run()
    if not server.started:
        raise typer.Exit(3)


def _server(config: uvicorn.Config, netra_app: FastAPI) -> uvicorn.Server:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn, but on SIGTERM the runs end and their events reach the connected
        clients before uvicorn closes the WebSockets (it would close them with 1012)."""

        async def shutdown(self, sockets: list[Any] | None = None) -> None:
            from netra.lifecycle import drain

            for listening in self.servers:
                listening.close()  # no new connections while draining
            platform = getattr(netra_app.state, "platform", None)
            if platform is not None:
                await drain(platform)
            await super().shutdown(sockets)

    return Server(config)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the database schema to the newest revision (or REVISION)."""
    import asyncio

    from netra.db import migrate
    from netra.db.engine import create_engine

    settings = _settings()

    async def _run() -> str | None:
        engine = create_engine(settings.resolved_database_url)
        try:
            await migrate.upgrade(engine, revision)
            return await migrate.current_revision(engine)
        finally:
            await engine.dispose()

    _say(f"database schema at revision {asyncio.run(_run())}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database and the newest one this Netra knows."""
    import asyncio

    from netra.db import migrate
    from netra.db.engine import create_engine

    settings = _settings()

    async def _run() -> str | None:
        engine = create_engine(settings.resolved_database_url)
        try:
            return await migrate.current_revision(engine)
        finally:
            await engine.dispose()

    typer.echo(f"current: {asyncio.run(_run()) or 'none'}  head: {migrate.head_revision()}")


@app.command("analytics")
def analytics(
    # 366 is netra.analytics.MAX_DAYS, not imported here to keep every command's start-up light.
    days: Annotated[int, typer.Option(min=1, max=366, help="Days back, today (UTC) included")] = 30,
    output: Annotated[
        str, typer.Option("--format", help="table or json", case_sensitive=False)
    ] = "table",
) -> None:
    """Runs, failures and tokens of every user, per day, agent and user, from the
    configured analytics sink (ClickHouse, or the main database)."""
    import asyncio
    import json

    from netra.analytics.report import operator_report, report_tables

    if output.lower() not in ("table", "json"):
        _say(f"[red]error:[/red] --format must be table or json, not {output!r}")
        raise typer.Exit(2)
    settings = _settings()
    try:
        report = asyncio.run(operator_report(settings, days))
    except Exception as exc:
        _say(f"[red]error:[/red] the analytics sink cannot be read: {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None
    if output.lower() == "json":
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # piped: room for whole user ids
        console = Console(width=120)
    for table in report_tables(report):
        console.print(table)


@app.command("test", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run_tests(
    ctx: typer.Context,
    category: Annotated[
        list[str] | None,
        typer.Option("--category", "-c", help="unit, integration, e2e or mission_critical"),
    ] = None,
    keep_going: Annotated[
        bool, typer.Option(help="Run later categories after a failing one")
    ] = False,
    parallel: Annotated[
        int, typer.Option("--parallel", "-n", min=0, help="pytest-xdist workers per category")
    ] = 0,
    real_services: Annotated[
        bool | None,
        typer.Option(
            help="Fail, rather than skip, tests whose PostgreSQL or Redis cannot be had "
            "[default: on when CI is set]"
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="Run mission_critical and e2e against this running deployment"),
    ] = None,
    results_dir: Annotated[
        Path, typer.Option(help="Where JUnit XML, the JSON summary and the history go")
    ] = Path("test-results"),
    coverage: Annotated[
        bool,
        typer.Option(
            "--coverage",
            help="Measure line and branch coverage of every process the tests start, "
            "per area ([tool.netra.test.coverage])",
        ),
    ] = False,
) -> None:
    """Run the test categories in order (mission_critical, unit, integration, e2e).

    Starts PostgreSQL and Redis once for the whole run. Unknown options are passed to pytest.
    """
    from netra.env import process_environment
    from netra.testing.runner import RunOptions, run_tests

    env = process_environment()
    if real_services is None:
        real_services = (env.get("CI") or "").lower() not in ("", "0", "false", "no")
    options = RunOptions(
        categories=category or (),
        keep_going=keep_going,
        parallel=parallel,
        real_services=real_services,
        base_url=base_url,
        results_dir=results_dir,
        pytest_args=ctx.args,
        coverage=coverage,
    )
    raise typer.Exit(run_tests(options, env, echo=typer.echo))
