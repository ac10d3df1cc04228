"""The ``accounts``, ``account_email_domains`` and ``setup_tokens`` tables: every query on them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate.models import account_email_domains, accounts, setup_tokens


async def create(conn: AsyncConnection, name: str, at: int) -> int:
    account_id: int = (
        await conn.execute(
            insert(accounts)
            .values(name=name, invites_enabled=True, created_at=at)
            .returning(accounts.c.id)
        )
    ).scalar_one()
    return account_id


async def count(conn: AsyncConnection) -> int:
    total: int = (await conn.execute(select(func.count()).select_from(accounts))).scalar_one()
    return total


async def name_of(conn: AsyncConnection, account_id: int) -> str | None:
    name: str | None = (
        await conn.execute(select(accounts.c.name).where(accounts.c.id == account_id))
    ).scalar_one_or_none()
    return name


async def names_of(conn: AsyncConnection, account_ids: list[int]) -> dict[int, str]:
    rows = await conn.execute(
        select(accounts.c.id, accounts.c.name).where(accounts.c.id.in_(account_ids))
    )
    return {account_id: name for account_id, name in rows}


async def lock(conn: AsyncConnection, account_id: int) -> None:
    """Serialise the writes that guard one account's invariants (PostgreSQL; SQLite's writer
    already holds the database lock). ``FOR NO KEY UPDATE`` conflicts with itself but not with
    the key-share locks that foreign-key inserts take, so it cannot deadlock with them."""
    if conn.dialect.name != "sqlite":
        await conn.execute(
            select(accounts.c.id).where(accounts.c.id == account_id).with_for_update(key_share=True)
        )


@dataclass(frozen=True, slots=True)
class PolicyRow:
    invites_enabled: bool
    who_can_invite: str
    invite_lifetime_days: int
    seat_limit: int | None


async def policy_of(conn: AsyncConnection, account_id: int) -> PolicyRow:
    c = accounts.c
    row = (
        await conn.execute(
            select(c.invites_enabled, c.who_can_invite, c.invite_lifetime_days, c.seat_limit).where(
                c.id == account_id
            )
        )
    ).one()
    return PolicyRow(bool(row[0]), row[1], row[2], row[3])


async def set_policy(conn: AsyncConnection, account_id: int, values: dict[str, object]) -> None:
    """Change the policy columns named in ``values`` (column name -> new value)."""
    if values:
        await conn.execute(update(accounts).where(accounts.c.id == account_id).values(**values))


async def allowed_domains(conn: AsyncConnection, account_id: int) -> list[str]:
    """The account's allowed email domains, sorted; empty allows any domain."""
    rows = await conn.execute(
        select(account_email_domains.c.domain)
        .where(account_email_domains.c.account_id == account_id)
        .order_by(account_email_domains.c.domain)
    )
    return list(rows.scalars())


async def set_allowed_domains(conn: AsyncConnection, account_id: int, domains: set[str]) -> None:
    await conn.execute(
        delete(account_email_domains).where(account_email_domains.c.account_id == account_id)
    )
    if domains:
        await conn.execute(
            insert(account_email_domains),
            [{"account_id": account_id, "domain": domain} for domain in sorted(domains)],
        )


async def replace_setup_token(conn: AsyncConnection, token_hash: str, at: int, ttl: int) -> None:
    """The one pending setup link, replacing any older one."""
    await conn.execute(delete(setup_tokens))
    await conn.execute(
        insert(setup_tokens).values(token_hash=token_hash, created_at=at, expires_at=at + ttl)
    )


async def use_setup_token(conn: AsyncConnection, token_hash: str, at: int) -> bool:
    """Delete the setup token if it is valid: True for exactly one of any concurrent users."""
    used = await conn.execute(
        delete(setup_tokens).where(
            setup_tokens.c.token_hash == token_hash, setup_tokens.c.expires_at > at
        )
    )
    return bool(used.rowcount)


async def clear_setup_tokens(conn: AsyncConnection) -> None:
    await conn.execute(delete(setup_tokens))


async def setup_token_exists(conn: AsyncConnection, token_hash: str, at: int) -> bool:
    row = (
        await conn.execute(
            select(setup_tokens.c.token_hash).where(
                setup_tokens.c.token_hash == token_hash, setup_tokens.c.expires_at > at
            )
        )
    ).first()
    return row is not None
