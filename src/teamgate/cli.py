"""The ``teamgate`` command: serve, account, db, mail, and the operator's commands (accounts,
members, invite, remove, set-role, key, audit), which act as an ADMIN of the account named,
through the same services and rules as the API, recorded in its history as ``cli``."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing, nullcontext
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

from teamgate.config import Settings
from teamgate.db import Database
from teamgate.errors import AppError

if TYPE_CHECKING:
    from teamgate.context import AppContext
    from teamgate.operator import Row, Shape

T = TypeVar("T")


def _commands(help_text: str) -> typer.Typer:
    """A command group with plain help: Typer's Rich help labels every flag `<bool>`, as if it
    took a value."""
    return typer.Typer(
        help=help_text, no_args_is_help=True, rich_markup_mode=None, add_completion=False
    )


app = _commands("teamgate: self-hosted team membership.")
account_app = _commands("Accounts.")
db_app = _commands("The database schema.")
key_app = _commands("API keys.")
mail_app = _commands("Email delivery.")
app.add_typer(account_app, name="account")
app.add_typer(db_app, name="db")
app.add_typer(key_app, name="key")
app.add_typer(mail_app, name="mail")
console = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"teamgate {version('teamgate')}")
        raise typer.Exit()


@app.callback()
def _options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    pass


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


async def _prepare(settings: Settings) -> str | None:
    """Before serving: the pending migrations, if any, then the first account's setup link if
    none exists yet. A database already at the latest revision costs one read (the server
    never loads Alembic then)."""
    from teamgate import migrate

    db = _database(settings)
    try:
        await migrate.upgrade_if_behind(db)
    finally:
        await db.dispose()
    return await _setup_link(settings)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
) -> None:
    """Apply pending migrations, then serve the API and the pages."""
    import shutil
    import tempfile

    import uvicorn

    from teamgate import logs

    problem = _cannot_listen(host, port)
    if problem:
        console.print(problem, soft_wrap=True)
        raise typer.Exit(1)
    _default_public_url(host, port)
    settings = Settings()
    link = asyncio.run(_prepare(settings))
    if link:
        console.print(
            "\n[bold]No account exists yet.[/bold] "
            f"Open this one-time link to create the first one:\n  {link}\n",
            soft_wrap=True,
        )
    # uvicorn's messages and teamgate's in one format; one access line per request, teamgate's.
    log_config = logs.config(logs.chosen_format(settings.log_format, sys.stderr))
    # Several workers count into files of a private directory that a scrape adds up, made
    # afresh for each start (files left by an earlier run would be counted again).
    shared_metrics = tempfile.mkdtemp(prefix="teamgate-metrics-") if workers > 1 else None
    if shared_metrics:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = shared_metrics
    try:
        uvicorn.run(
            "teamgate.app:create_app",
            log_config=log_config,
            access_log=False,
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
    finally:
        if shared_metrics:
            shutil.rmtree(shared_metrics, ignore_errors=True)


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


# --- the operator's commands: an ADMIN of one account, from the server's shell ---------------


class ListFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


AccountOption = Annotated[
    int, typer.Option("--account", help="The account's id (see `teamgate accounts`).")
]
EmailOption = Annotated[str, typer.Option("--email", help="The person's email.")]
RoleOption = Annotated[
    str, typer.Option("--role", help="ADMIN, MEMBER, DEVELOPER, VIEWER or a custom role.")
]
FormatOption = Annotated[
    ListFormat, typer.Option("--format", help="A table, one JSON array, or CSV with a header.")
]


def _refuse(message: str) -> typer.Exit:
    from rich.markup import escape

    console.print(f"[red]{escape(message)}[/red]", soft_wrap=True)
    return typer.Exit(2)


def _operate(work: Callable[[AppContext], Awaitable[T]]) -> T:
    """Run ``work`` on the database (migrated first) with the server's settings; a refusal is
    its message on stderr and exit code 2, having changed nothing."""
    from teamgate import migrate
    from teamgate.context import AppContext
    from teamgate.ratelimit import Limits

    settings = Settings()

    async def run() -> T:
        ctx = AppContext(settings=settings, db=_database(settings), limits=Limits(settings))
        try:
            await migrate.upgrade(ctx.db)
            return await work(ctx)
        finally:
            await ctx.db.dispose()
            await ctx.limits.close()

    try:
        return asyncio.run(run())
    except AppError as error:
        raise _refuse(error.message) from None
    except BrokenPipeError:
        # The reader went away (`teamgate audit | head`): stop quietly, as other tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1) from None
    except Exception as error:
        from rich.markup import escape

        from teamgate.errors import is_storage_failure

        if not is_storage_failure(error):
            raise
        console.print(
            "[red]Storage is unavailable (the database, or the rate-limit store):[/red] "
            + escape(str(error) or type(error).__name__),
            soft_wrap=True,
        )
        raise typer.Exit(1) from None


def _list(
    rows: Callable[[AppContext], AsyncGenerator[Row, None]], header: tuple[str, ...], shape: Shape
) -> int:
    from teamgate import operator

    async def work(ctx: AppContext) -> int:
        return await operator.write(sys.stdout, shape, rows(ctx), header)

    return _operate(work)


@app.command("accounts")
def accounts_list(fmt: FormatOption = ListFormat.TABLE) -> None:
    """List every account: its id, name, members, pending invitations and creation date."""
    from teamgate import operator

    _list(
        lambda ctx: operator.accounts_overview(ctx.db),
        operator.AccountRow.HEADER,
        operator.Shape(fmt.value),
    )


@app.command("members")
def members_list(account: AccountOption, fmt: FormatOption = ListFormat.TABLE) -> None:
    """List an account's members, then its pending invitations."""
    from teamgate import operator
    from teamgate.auth.caller import Credential

    _list(
        lambda ctx: operator.team_rows(ctx.db, Credential.operator(account)),
        operator.TeamRow.HEADER,
        operator.Shape(fmt.value),
    )


@app.command("invite")
def invite(
    account: AccountOption,
    email: Annotated[str | None, typer.Option("--email", help="The person's email.")] = None,
    role: Annotated[
        str | None,
        typer.Option("--role", help="ADMIN, MEMBER, DEVELOPER, VIEWER or a custom role."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="The invitee's name.")] = None,
    csv_file: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="Invite everyone in this CSV file (header: email,role[,name]) instead.",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
) -> None:
    """Invite someone (or replace their pending invitation): prints the link, shown once.
    Each invitation is also emailed (by the server's mail worker)."""
    from teamgate import inputs
    from teamgate.auth.caller import Credential
    from teamgate.invitations import service
    from teamgate.operator import iso_time
    from teamgate.roles import role_input

    if csv_file is not None:
        if email or role or name:
            raise _refuse("--csv invites the file's rows: leave out --email, --role and --name")
        _invite_csv(account, csv_file)
        return
    if email is None or role is None:
        raise _refuse("Give --email and --role, or --csv FILE")
    request = service.Invite(
        email=inputs.email(email),
        role=role_input(role),
        name=inputs.optional_name(name, "--name"),
        website=None,
    )
    invited = _operate(lambda ctx: service.invite(ctx, Credential.operator(account), request))
    console.print(
        f"Invited {invited.email} as {invited.role}; the link expires "
        f"{iso_time(invited.expires_at)} and is shown once:",
        markup=False,
        soft_wrap=True,
    )
    print(invited.link)


BULK_CHUNK = 100  # rows per transaction when inviting from a file


def _invite_csv(account: int, path: Path) -> None:
    """Invite the rows of a CSV file through bulkInviteUsers's service, a chunk at a time, with
    a progress bar; the links of those invited go to stdout (``email,link``), the refused rows
    to a table on stderr by line number. Exit 2 when any row was refused."""
    import csv

    from rich.progress import Progress
    from rich.table import Table

    from teamgate.auth.caller import Credential
    from teamgate.invitations import bulk

    read = bulk.csv_rows(path.read_bytes(), limit=None)
    if isinstance(read, str):
        raise _refuse(f"{path}: {read}")
    lines = read
    refused: list[tuple[int, str, str]] = []
    invited = 0
    writer = csv.writer(sys.stdout, lineterminator="\n")
    with Progress(console=console, transient=False) as progress:
        task = progress.add_task("Inviting", total=len(lines))

        async def run(ctx: AppContext) -> list[bulk.RowResult]:
            done: list[bulk.RowResult] = []
            for start in range(0, len(lines), BULK_CHUNK):
                chunk = bulk.rows([row for _, row in lines[start : start + BULK_CHUNK]])
                done += await bulk.bulk_invite(ctx, Credential.operator(account), chunk)
                progress.advance(task, BULK_CHUNK)
            return done

        results = _operate(run)
    for (line, row), result in zip(lines, results, strict=True):
        if result.invited is not None:
            invited += 1
            writer.writerow([result.invited.email, result.invited.link])
        else:
            refused.append((line, str(row["inviteeEmail"] or ""), result.error or ""))
    console.print(f"Invited {invited} of {len(lines)}; {len(refused)} refused.")
    if refused:
        table = Table("line", "email", "refused because", title="Refused rows")
        for line, address, why in refused:
            table.add_row(str(line), address, why)
        console.print(table)
        raise typer.Exit(2)


@app.command("remove")
def remove(account: AccountOption, email: EmailOption) -> None:
    """Remove a member (their keys and sessions stop working), or a pending invitation."""
    from teamgate import inputs
    from teamgate.auth.caller import Credential
    from teamgate.team.service import remove_user

    removal = _operate(
        lambda ctx: remove_user(ctx.db, Credential.operator(account), inputs.email(email))
    )
    what = "member" if removal.user_id else "pending invitation"
    console.print(f"Removed the {what} {removal.email}.", markup=False, soft_wrap=True)


@app.command("set-role")
def set_role(account: AccountOption, email: EmailOption, role: RoleOption) -> None:
    """Give a member another role."""
    from teamgate import inputs
    from teamgate.auth.caller import Credential
    from teamgate.roles import role_input
    from teamgate.team.service import RoleChange, change_role

    change = RoleChange(email=inputs.email(email), role=role_input(role))
    changed = _operate(lambda ctx: change_role(ctx.db, Credential.operator(account), change))
    console.print(f"{changed.email} is now {changed.role}.", markup=False, soft_wrap=True)


@key_app.command("create")
def key_create(
    account: AccountOption,
    email: Annotated[str, typer.Option("--email", help="The member the key acts as.")],
    name: Annotated[str, typer.Option("--name", help="What the key is for.")] = "API key",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON line.")
    ] = False,
) -> None:
    """Create an API key for a member of the account: it acts with their role."""
    from teamgate import inputs
    from teamgate.auth.caller import Credential
    from teamgate.auth.service import mint_key_for

    member = inputs.email(email)
    key_name = inputs.name(name, "--name", max_len=100)
    created = _operate(
        lambda ctx: mint_key_for(ctx.db, Credential.operator(account), member, key_name)
    )
    info = created.info
    if as_json:
        sys.stdout.write(
            json.dumps(
                {"accountId": account, "keyId": info.id, "name": info.name, "apiKey": created.key}
            )
            + "\n"
        )
        return
    console.print(
        f"API key {info.name!r} (id {info.id}) for {member} in account {account}; shown once:",
        markup=False,
        soft_wrap=True,
    )
    print(created.key)


@app.command("audit")
def audit(
    account: AccountOption,
    since: Annotated[
        str | None,
        typer.Option("--since", help="From this UTC date (YYYY-MM-DD) or epoch second on."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help="Up to this UTC date (YYYY-MM-DD, the whole day) or epoch second."
        ),
    ] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="Only this action, e.g. member.remove.")
    ] = None,
    fmt: Annotated[
        ExportFormat,
        typer.Option("--format", help="CSV with a header, or JSON Lines (one event a line)."),
    ] = ExportFormat.CSV,
) -> None:
    """Export the account's membership history, newest first, as it is read."""
    from teamgate import operator
    from teamgate.auth.caller import Credential
    from teamgate.team import history

    where = history.HistoryFilter(
        action=history.text(action, "--action"),
        since=operator.moment(since, "--since"),
        until=operator.moment(until, "--until", end_of_day=True),
    )
    # A spinner on stderr while a file or pipe takes stdout; never in the data.
    spinner = (
        console.status("Exporting the history…")
        if console.is_terminal and not sys.stdout.isatty()
        else None
    )

    async def events(ctx: AppContext) -> AsyncGenerator[operator.EventRow, None]:
        exported = operator.audit_rows(ctx.db, Credential.operator(account), where)
        async with aclosing(exported) as rows:
            count = 0
            async for row in rows:
                yield row
                count += 1
                if spinner is not None and count % 500 == 0:
                    spinner.update(f"Exporting the history… {count} events")

    shape = operator.Shape.CSV if fmt is ExportFormat.CSV else operator.Shape.JSONL
    with spinner or nullcontext():
        count = _list(events, operator.EventRow.HEADER, shape)
    console.print(f"{count} {'event' if count == 1 else 'events'} exported.", markup=False)


@mail_app.command("test")
def mail_test(
    to: Annotated[str, typer.Option("--to", help="The address to send the test message to.")],
) -> None:
    """Send a test message the way invitations are sent, and say whether it left.

    Through SMTP when TEAMGATE_SMTP_HOST is set, else as a file under the data folder. Exits 1
    when it was not delivered, 2 for an invalid address or setting.
    """
    import secrets
    import time

    from pydantic import ValidationError
    from rich.markup import escape

    from teamgate import inputs
    from teamgate.mail import render
    from teamgate.mail.message import DeliveryError
    from teamgate.mail.transport import FileTransport, transport_for

    address = inputs.email(to)
    if isinstance(address, inputs.Refusal):
        raise _refuse(address.message)
    try:
        settings = Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"TEAMGATE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors()
        )
        raise _refuse(f"Invalid settings: {problems}") from None
    message = render.mail_test_message(
        settings, address, render.message_id(settings, secrets.token_hex(16)), at=int(time.time())
    )
    transport = transport_for(settings)
    try:
        if isinstance(transport, FileTransport):
            path = asyncio.run(transport.write(message))
            console.print(f"Written to {path}", markup=False, soft_wrap=True)
            return
        asyncio.run(transport.send(message))
    except DeliveryError as error:
        kind = (
            "permanent: the server refused it"
            if error.permanent
            else "temporary: it would be retried"
        )
        console.print(f"[red]Not sent ({kind}): {escape(error.reason)}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    server = f"{settings.smtp_host}:{settings.smtp_port_resolved} ({settings.smtp_security})"
    console.print(f"Sent to {address} through {server}.", markup=False, soft_wrap=True)


def main() -> None:
    app()


@app.command()
def worker() -> None:
    """Deliver the outbox until stopped (Ctrl+C or SIGTERM): for deployments that run delivery
    apart from `teamgate serve` (set TEAMGATE_MAIL_WORKER=false on the servers then)."""
    import signal

    from teamgate.mail.outbox import Worker
    from teamgate.mail.transport import transport_for

    settings = Settings()

    async def run() -> None:
        await _upgrade(settings)
        db = _database(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await Worker(settings, db, transport_for(settings)).run(stop)
        finally:
            await db.dispose()

    where = f"{settings.smtp_host}" if settings.smtp_host else f"files in {settings.data_dir}"
    console.print(f"Delivering the outbox ({where}); Ctrl+C stops.", soft_wrap=True)
    asyncio.run(run())
    console.print("Stopped.")
