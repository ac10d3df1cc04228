"""Setting or resetting a password through a link sent to the address."""

from __future__ import annotations

from teamgate import unit
from teamgate.auth import repository as credentials
from teamgate.context import AppContext
from teamgate.errors import AppError
from teamgate.inputs import Parsed, valid
from teamgate.mail import outbox
from teamgate.security import hash_password, password_problem
from teamgate.users import password_resets as resets
from teamgate.users import repository as users

RESET_LINK_INVALID = "This link does not work any more: ask for a new one"


async def request_reset(ctx: AppContext, email: Parsed[str], client: str) -> None:
    """Email a one-use link to set the password, if ``email`` belongs to a user. The caller
    answers the same whatever happens here: nobody learns who has an account. Limited per
    address (further requests send nothing) and per client."""
    address = valid(email)
    limits = ctx.limits
    await limits.take(limits.reset_per_client, "reset-client", client)
    await send_verification(ctx, address)


async def send_verification(ctx: AppContext, email: str) -> None:
    """Email a one-use password link to ``email`` if it belongs to a user (at most
    ``TEAMGATE_RATE_LIMIT_RESET_PER_EMAIL``; further ones send nothing). Following it proves
    the address: see ``reset_password``."""
    limits = ctx.limits
    if not await limits.try_take(limits.reset_per_email, "reset-email", email):
        return
    async with unit.transaction(ctx.db) as tx:
        user = await users.by_email(tx.conn, email)
        if user is None:
            return
        reset_id = await resets.create(tx.conn, user.id, tx.at)
        await outbox.enqueue_password_reset(tx.conn, recipient=email, reset_id=reset_id, at=tx.at)
        if ctx.mail is not None:
            tx.after_commit(ctx.mail.woken)
        await tx.record("password.reset_request", actor=email, actor_user_id=user.id, target=email)


async def reset_password(ctx: AppContext, token: object, password: object, client: str) -> str:
    """Set the password through the link: once, within the hour. The address is proven by the
    message, so the identity becomes verified; every session of the user ends, and, when the
    identity was unverified, every API key too (made with a password its inviter knew).
    Returns the user's email."""
    limits = ctx.limits
    async with limits.counting_failures(limits.accept_per_client, "reset-client", client):
        nonce = resets.nonce_of(ctx.settings.signing_key, token)
        if nonce is None:
            raise AppError(RESET_LINK_INVALID)
        problem = password_problem(password)
        if problem:
            raise AppError(problem)
        assert isinstance(password, str)
        new_hash = await hash_password(password)
        async with unit.transaction(ctx.db) as tx:
            user_id = await resets.consume(tx.conn, nonce, tx.at)
            if user_id is None:
                raise AppError(RESET_LINK_INVALID)
            user = await users.by_id(tx.conn, user_id)
            email = user.email
            await users.replace_password(tx.conn, user_id, new_hash)
            await credentials.delete_sessions_of_user(tx.conn, user_id)
            if user.unverified_account_id is not None:
                # Everything made with the unproven password goes: its inviter knew it too.
                await credentials.delete_api_keys_of_user(tx.conn, user_id)
            await tx.record("password.reset", actor=email, actor_user_id=user_id, target=email)
    return email
