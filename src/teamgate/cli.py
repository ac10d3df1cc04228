"""The ``teamgate`` command: serve, account, db."""

from __future__ import annotations

import asyncio
import copy
import json
import os
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


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Apply pending migrations, then serve the API and the pages."""
    import uvicorn
    import uvicorn.config

    if not os.environ.get("TEAMGATE_PUBLIC_URL"):
        local = host if host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
        origins = [f"http://{local}:{port}"] + (
            [f"http://localhost:{port}"] if local == "127.0.0.1" else []
        )
        os.environ["TEAMGATE_PUBLIC_URL"] = ",".join(origins)
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
