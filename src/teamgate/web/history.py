"""The history page (ADMIN): who did what, newest first, filtered and paged; and who had
access on a given day, replayed from the same history.

Days are UTC days: "from" is the start of its day, "to" and "on" the end of theirs. A value that
does not parse becomes the service's refusal (shown next to its field), so the order of the
messages (sign-in, then the role, then each value) is the API's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from teamgate.audit import FormerMember, Recorded
from teamgate.context import get_context
from teamgate.errors import AppError, Unauthorized
from teamgate.inputs import Parsed, Refusal
from teamgate.team import history
from teamgate.web import site
from teamgate.web.site import SignInRequired

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
DAY = 24 * 3600
BAD_DATE = "{field} must be a day written yyyy-mm-dd, from 1970-01-01 on"
BAD_ACTION = "action must be one of the actions the history records"

# The actions the history records, as the filter offers them, with how a person reads them.
ACTIONS = {
    "account.create": "Account created",
    "invitation.create": "Invited",
    "invitation.accept": "Joined",
    "invitation.revoke": "Invitation revoked",
    "member.remove": "Member removed",
    "member.role_change": "Role changed",
    "role.create": "Custom role created",
    "role.update": "Custom role changed",
    "role.delete": "Custom role deleted",
    "account.settings": "Settings changed",
    "api_key.create": "API key created",
    "api_key.delete": "API key deleted",
    "session.switch_account": "Switched account",
    "login": "Signed in",
    "user.password_replace": "Password replaced",
}
# The settings as the page names them (see settings.html), in the order it shows them.
SETTINGS = {
    "invitesEnabled": "Invitations",
    "whoCanInvite": "Who may invite",
    "inviteLifetimeDays": "Invite links work for",
    "seatLimit": "Seat limit",
    "allowedEmailDomains": "Allowed email domains",
}
WHO_CAN_INVITE = {"ADMINS_AND_MEMBERS": "admins and members", "ADMINS": "admins only"}
FILTERS = ("action", "actor", "target", "from", "to")


@dataclass(frozen=True, slots=True)
class Row:
    """An event as the table shows it."""

    at: int
    when: str  # "2026-11-28 14:03 UTC"
    actor: str | None
    action: str
    label: str
    target: str | None
    changes: list[str]
    outcome: str


@dataclass(frozen=True, slots=True)
class TeamThen:
    day: str
    members: list[FormerMember]


def utc_minute(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def day_start(value: str, field: str) -> Parsed[int | None]:
    """The first second of a UTC day written yyyy-mm-dd; None when empty."""
    if not value:
        return None
    start = history.utc_day(value)
    return Refusal(BAD_DATE.format(field=field)) if start is None else start


def day_end(value: str, field: str) -> Parsed[int | None]:
    """The last second of a UTC day (inclusive); None when empty."""
    if not value:
        return None
    end = history.utc_day(value, end=True)
    return Refusal(BAD_DATE.format(field=field)) if end is None else end


def action_filter(value: str) -> Parsed[str | None]:
    if not value:
        return None
    return value if value in ACTIONS else Refusal(BAD_ACTION)


def _roles(before: object, after: object) -> str | None:
    """A role change as read: both sides, or the one the event knows."""
    if before is not None and after is not None:
        return f"{before} → {after}"
    if before is not None:
        return f"was {before}"
    return None if after is None else f"as {after}"


def _setting(name: str, value: object) -> str:
    if name == "invitesEnabled" and isinstance(value, bool):
        return "on" if value else "off"
    if name == "whoCanInvite" and isinstance(value, str):
        return WHO_CAN_INVITE.get(value, value)
    if name == "inviteLifetimeDays" and isinstance(value, int):
        return f"{value} day{'' if value == 1 else 's'}"
    if name == "seatLimit" and value is None:
        return "no limit"
    if name == "allowedEmailDomains" and isinstance(value, list):
        return ", ".join(str(domain) for domain in value) or "any domain"
    return "—" if value is None else str(value)


def _settings_changes(before: object, after: object) -> list[str]:
    """Each changed setting: its value before → after."""
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        return []
    changed = set(before) | set(after)
    names = [n for n in SETTINGS if n in changed] + sorted(changed - set(SETTINGS))
    return [
        f"{SETTINGS.get(name, name)}: {_setting(name, before.get(name))} → "
        f"{_setting(name, after.get(name))}"
        for name in names
    ]


def describe(event: Recorded) -> list[str]:
    """The event's details, one readable line each (never its request id)."""
    details: dict[str, Any] = dict(event.details)
    details.pop("requestId", None)
    details.pop("outcome", None)  # shown on its own
    lines = [_roles(details.pop("roleBefore", None), details.pop("roleAfter", None))]
    if "before" in details and "after" in details:
        lines += _settings_changes(details.pop("before"), details.pop("after"))
    if isinstance(details.get("expiresAt"), int):
        lines.append(f"link works until {utc_minute(details.pop('expiresAt'))}")
    if "baseRole" in details:
        lines.append(f"based on {details.pop('baseRole')}")
    if "baseRoleBefore" in details or "baseRoleAfter" in details:
        base = _roles(details.pop("baseRoleBefore", None), details.pop("baseRoleAfter", None))
        lines.append(f"base role {base}")
    if event.action == "api_key.create" and "name" in details:
        details.pop("keyId", None)
        prefix = details.pop("keyPrefix", None)
        lines.append(f"“{details.pop('name')}”" + (f" ({prefix}…)" if prefix else ""))
    if event.action == "account.create" and "name" in details:
        lines.append(f"named “{details.pop('name')}”")
    if "keyId" in details:
        lines.append(f"key #{details.pop('keyId')}")
    if "note" in details:
        lines.append(str(details.pop("note")))
    lines += [f"{name}: {value}" for name, value in sorted(details.items())]
    return [line for line in lines if line]


def row(event: Recorded) -> Row:
    return Row(
        at=event.at,
        when=utc_minute(event.at),
        actor=event.actor,
        action=event.action,
        label=ACTIONS.get(event.action, event.action),
        target=event.target,
        changes=describe(event),
        outcome=event.outcome,
    )


def _url(params: Mapping[str, str]) -> str:
    kept = {name: value for name, value in params.items() if value}
    return "/history" + (f"?{urlencode(kept)}" if kept else "")


def _field_of(message: str) -> str:
    """Which control a refusal belongs next to, by the name its message starts with."""
    name = message.split(" ", 1)[0]
    return name if name in (*FILTERS, "on") else "form"


@router.get("/history")
async def history_page(request: Request) -> Response:
    viewer = await site.viewer(request)
    params = request.query_params
    typed = {name: params.get(name, "").strip() for name in (*FILTERS, "cursor", "on")}
    here = _url(typed)
    where = history.HistoryFilter(
        action=action_filter(typed["action"]),
        actor=history.who(typed["actor"], "actor"),
        target=history.who(typed["target"], "target"),
        since=day_start(typed["from"], "from"),
        until=day_end(typed["to"], "to"),
    )
    db = get_context(request).db
    errors: dict[str, str] = {}
    status = 200
    rows: list[Row] | None = None
    older = None
    try:
        found = await history.page(
            db,
            viewer.credential,
            where,
            limit=PAGE_SIZE,
            cursor=history.cursor(typed["cursor"] or None),
        )
        rows = [row(event) for event in found.events]
        if found.next_cursor is not None:
            older = _url({**typed, "cursor": found.next_cursor})
    except Unauthorized:
        raise SignInRequired(here) from None
    except AppError as error:
        if error.status == 403:  # not an ADMIN: the API's 403, as a page
            return site.render(
                request, "error.html", status=error.status, viewer=viewer, message=error.message
            )
        errors[_field_of(error.message)] = error.message
        status = error.status
    then = None
    if typed["on"]:
        try:
            members = await history.team_at(db, viewer.credential, day_end(typed["on"], "on"))
            then = TeamThen(typed["on"], members)
        except Unauthorized:
            raise SignInRequired(here) from None
        except AppError as error:
            errors["on"] = error.message
            status = max(status, error.status)
    filters = {name: typed[name] for name in FILTERS}
    return site.render(
        request,
        "history.html",
        status=status,
        viewer=viewer,
        page="history",
        typed=typed,
        actions=ACTIONS,
        rows=rows,
        errors=errors,
        filtered=any(filters.values()),
        older=older,
        newest=_url({**filters, "on": typed["on"]}) if typed["cursor"] else None,
        cleared=_url({"on": typed["on"]}),
        then=then,
    )
