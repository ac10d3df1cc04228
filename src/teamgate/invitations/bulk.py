"""bulkInviteUsers: up to 1,000 invitations in one request, each judged exactly as
``inviteUsers`` judges one, the valid ones committed together with their emails."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import TypedDict

from teamgate import inputs, unit
from teamgate.accounts import policy as policies
from teamgate.auth.caller import Credential
from teamgate.context import AppContext
from teamgate.errors import AppError
from teamgate.invitations import service
from teamgate.invitations.service import Invite, Invited
from teamgate.roles import Action, role_input

MAX_ROWS = 1000
CSV_COLUMNS = "email,role[,name]"
CSV_EMPTY = f"The file is empty: its first line must name the columns {CSV_COLUMNS}"
CSV_NO_HEADER = f"The first line of the file must name the columns {CSV_COLUMNS}"
CSV_UNREADABLE = "The file is not a CSV file in UTF-8"
CSV_NO_ROWS = "The file has no rows below its header line"
CSV_TOO_MANY = (
    f"The file has more than {MAX_ROWS:,} rows: split it into files of at most {MAX_ROWS:,}"
)
BAD_ROWS = f"invitations must be a list of 1 to {MAX_ROWS:,} invitations"
BAD_ROW = "Each invitation must be a JSON object"


@dataclass(frozen=True, slots=True)
class Row:
    """One row as sent: what to invite, or why it cannot even be read."""

    invite: Invite | None
    sent_email: object  # inviteeEmail as sent, to answer with when it is not an address


@dataclass(frozen=True, slots=True)
class RowResult:
    email: str | None
    invited: Invited | None
    error: str | None


class Invitee(TypedDict):
    """A row of a CSV file as bulkInviteUsers takes one."""

    inviteeEmail: str | None
    inviteeRole: str | None
    inviteeName: str | None
    websiteHostName: str | None


def csv_rows(
    content: bytes, website: str | None = None, *, limit: int | None = MAX_ROWS
) -> list[tuple[int, Invitee]] | str:
    """The rows of a CSV file (a header naming email,role[,name] in any case and order; UTF-8,
    with or without a BOM) with their line numbers, as bulkInviteUsers's rows; or why the file
    cannot be read. The team page and `teamgate invite --csv` read files alike."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return CSV_UNREADABLE
    if not text.strip():
        return CSV_EMPTY
    lines: list[tuple[int, Invitee]] = []
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        fields = [field.strip().lower() for field in reader.fieldnames or []]
        if "email" not in fields or "role" not in fields:
            return CSV_NO_HEADER
        reader.fieldnames = fields
        for row in reader:
            invitee: Invitee = {
                "inviteeEmail": row.get("email"),
                "inviteeRole": row.get("role"),
                "inviteeName": row.get("name") or None,
                "websiteHostName": website,
            }
            lines.append((reader.line_num, invitee))
            if limit is not None and len(lines) > limit:
                return CSV_TOO_MANY
    except csv.Error:
        return CSV_UNREADABLE
    return lines or CSV_NO_ROWS


def rows(value: object) -> list[Row] | None:
    """The rows of a request body's ``invitations``; None when it is not a list of 1 to 1,000."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ROWS:
        return None
    parsed = []
    for entry in value:
        if not isinstance(entry, dict):
            parsed.append(Row(None, None))
            continue
        invite = Invite(
            email=inputs.email(entry.get("inviteeEmail")),
            role=role_input(entry.get("inviteeRole")),
            name=inputs.optional_name(entry.get("inviteeName"), "inviteeName"),
            website=service.website(entry.get("websiteHostName")),
        )
        parsed.append(Row(invite, entry.get("inviteeEmail")))
    return parsed


async def bulk_invite(
    ctx: AppContext, cred: Credential, batch: list[Row] | None
) -> list[RowResult]:
    """Judge every row in order, in one transaction (so each sees the rows before it: a seat
    taken, an invitation replaced), and commit the valid ones together. A row's refusal is the
    message ``inviteUsers`` would give; the caller's own refusals (401, 403) refuse the whole
    request. The invitation budget is counted ahead for the rows and the unused part given back."""
    limits = ctx.limits
    async with unit.reading(ctx.db, cred, Action.INVITE) as view:
        account_id = view.caller.account_id
        policies.require_inviter(await policies.load(view.conn, account_id), view.caller)
    if batch is None:
        raise AppError(BAD_ROWS)
    allowance = await limits.reserve_up_to(
        limits.invite_per_account, len(batch), "invite-account", str(account_id)
    )
    outcomes: list[tuple[Row, service.Made | None, str | None]] = []
    try:
        async with unit.acting(ctx.db, cred, Action.INVITE) as tx:
            policy = await policies.load(tx.conn, tx.caller.account_id)
            policies.require_inviter(policy, tx.caller)
            for row in batch:
                if row.invite is None:
                    outcomes.append((row, None, BAD_ROW))
                    continue
                try:
                    made = await service.make(ctx, tx, policy, row.invite, allowance.spend)
                except AppError as refused:
                    outcomes.append((row, None, refused.message))
                else:
                    outcomes.append((row, made, None))
    except Exception:
        await allowance.settle(committed=False)
        raise
    await allowance.settle()
    results = []
    for row, judged, error in outcomes:
        invited = service.signed(ctx, judged, tx.at) if judged is not None else None
        email = invited.email if invited else row.sent_email
        results.append(RowResult(email if isinstance(email, str) else None, invited, error))
    return results
