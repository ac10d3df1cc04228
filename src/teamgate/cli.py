"""The ``teamgate`` command: serve, account, db."""

from __future__ import annotations

import asyncio
import copy
import errno
import json
import os
import socket
import sys
from typing import Annotated

import typer
from rich.console import Console

from teamgate.config import Settings
from teamgate.db import Database
from teamgate.errors import AppError

app = typer.Typer(help="teamgate: self-hosted team membership.", no_args_is_help=True)
account_app = typer.Typer(help="Accounts.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(account_app, name="account")
app.add_typer(db_app, name="db")
console = Console(stderr=True)


def _database(settings: Settings) -> Database:
    return Database(settings.resolved_database_url, pool_size=2)


async def _upgrade(settings: Settings) -> None:
    from teamgate import migrate

    db = _database(settings)
    try:
        await migrate.upgrade(db)
    finally:
        await db.dispose()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    settings = Settings()
    with console.status("Applying migrations…"):
        asyncio.run(_upgrade(settings))
    console.print("[green]Database is up to date.[/green]")


async def _check(settings: Settings) -> list[str]:
    from teamgate import migrate

    db = _database(settings)
    try:
        return await migrate.check(db)
    finally:
        await db.dispose()


@db_app.command("check")
def db_check() -> None:
    """Check that the migrations build exactly the schema models.py describes.

    Run it on an up-to-date database after editing models.py. Exits 1 listing what a new
    migration would have to change, 2 when the database is not at the latest migration.
    """
    from alembic.util import CommandError
    from rich.markup import escape

    settings = Settings()
    try:
        differences = asyncio.run(_check(settings))
    except CommandError as error:
        console.print(f"[red]{escape(str(error))}[/red] Run `teamgate db upgrade` first.")
        raise typer.Exit(2) from None
    if differences:
        console.print(
            "[red]models.py and the migrations disagree.[/red] A new migration would have to:"
        )
        for difference in differences:
            console.print(f"  {escape(difference)}", soft_wrap=True)
        raise typer.Exit(1)
    console.print("[green]The migrations match models.py.[/green]")


async def _setup_link(settings: Settings) -> str | None:
    from teamgate.accounts.service import issue_setup_token

    db = _database(settings)
    try:
        token = await issue_setup_token(db)
    finally:
        await db.dispose()
    return f"{settings.public_origins[0]}/setup?token={token}" if token else None


ALL_INTERFACES = ("0.0.0.0", "::")  # noqa: S104 (what `serve --host` may be asked to bind)


def _port_in_use(port: int) -> str:
    return (
        f"[red]Port {port} is already in use:[/red] choose another with --port "
        f"(make run PORT={port + 1 if port < 65535 else port - 1})"
    )


def _cannot_listen(host: str, port: int) -> str | None:
    """Why `serve` cannot listen on ``host:port`` (binding as uvicorn will), or None."""
    from rich.markup import escape

    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        return f"[red]Cannot listen on {escape(host)}:[/red] {escape(str(error.strerror))}"
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # as asyncio's servers do
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    return _port_in_use(port)
                why = escape(str(error.strerror))
                return f"[red]Cannot listen on {escape(host)} port {port}:[/red] {why}"
    return None


def _default_public_url(host: str, port: int) -> None:
    """Unless TEAMGATE_PUBLIC_URL is configured (environment or .env), links point at this
    server as this machine reaches it; a warning says so when others are meant to."""
    if Settings().public_url:
        return
    local = "127.0.0.1" if host in ALL_INTERFACES else f"[{host}]" if ":" in host else host
    origins = [f"http://{local}:{port}"] + (
        [f"http://localhost:{port}"] if local == "127.0.0.1" else []
    )
    os.environ["TEAMGATE_PUBLIC_URL"] = ",".join(origins)
    if host in ALL_INTERFACES:
        console.print(
            f"[yellow]Warning:[/yellow] serving on every interface ({host}) without "
            f"TEAMGATE_PUBLIC_URL: invite and setup links will point at {origins[0]}, which "
            "only this machine can open. Set the address people use, e.g. "
            "TEAMGATE_PUBLIC_URL=https://teams.example.com",
            soft_wrap=True,
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
) -> None:
    """Apply pending migrations, then serve the API and the pages."""
    import uvicorn
    import uvicorn.config

    problem = _cannot_listen(host, port)
    if problem:
        console.print(problem, soft_wrap=True)
        raise typer.Exit(1)
    _default_public_url(host, port)
    settings = Settings()
    asyncio.run(_upgrade(settings))
    link = asyncio.run(_setup_link(settings))
    if link:
        console.print(
            "\n[bold]No account exists yet.[/bold] "
            f"Open this one-time link to create the first one:\n  {link}\n",
            soft_wrap=True,
        )
    # uvicorn's own logging, plus teamgate's logger on the same handler and format.
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["teamgate"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    try:
        uvicorn.run(
            "teamgate.app:create_app",
            log_config=log_config,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            proxy_headers=False,
            server_header=False,
            log_level="info",
        )
    except SystemExit as stopped:
        # uvicorn logs why it could not start, and exits. If another process took the port
        # since the check above, say what to do about it, as the check would have.
        if stopped.code and _cannot_listen(host, port) == _port_in_use(port):
            console.print(_port_in_use(port), soft_wrap=True)
            raise typer.Exit(1) from None
        raise


@account_app.command("create")
def account_create(
    name: Annotated[str, typer.Option(help="Account name.")],
    admin_email: Annotated[str, typer.Option(help="The founding ADMIN's email.")],
    admin_name: Annotated[str | None, typer.Option(help="The founding ADMIN's name.")] = None,
    admin_password: Annotated[
        str | None, typer.Option(help="Password, so they can also log in.")
    ] = None,
    existing_user: Annotated[
        bool,
        typer.Option(
            "--existing-user",
            help="The email belongs to a user already: make them the ADMIN (with "
            "--admin-password, their password is replaced and their sessions end).",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON line.")
    ] = False,
) -> None:
    """Create an account, its founding ADMIN and an API key for them."""
    from teamgate.accounts.service import UserExists, create_account

    settings = Settings()

    async def run() -> tuple[int, int, str]:
        await _upgrade(settings)
        db = _database(settings)
        try:
            created = await create_account(
                db,
                name=name,
                admin_email=admin_email,
                admin_name=admin_name,
                admin_password=admin_password,
                existing_user=existing_user,
            )
        finally:
            await db.dispose()
        return created.account_id, created.user_id, created.api_key

    try:
        account_id, user_id, api_key = asyncio.run(run())
    except UserExists as error:
        console.print(
            f"[red]{error.message}.[/red] Pass --existing-user to make them this account's "
            "ADMIN; add --admin-password to replace their password and end their sessions.",
            soft_wrap=True,
        )
        raise typer.Exit(2) from None
    except AppError as error:
        console.print(f"[red]{error.message}[/red]")
        raise typer.Exit(2) from None
    if as_json:
        sys.stdout.write(
            json.dumps({"accountId": account_id, "userId": user_id, "apiKey": api_key}) + "\n"
        )
        return
    console.print(
        f"Account [bold]{name}[/bold] created (id {account_id}); ADMIN user id {user_id}."
    )
    console.print("API key (shown once):")
    print(api_key)


def main() -> None:
    app()
