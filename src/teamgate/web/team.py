"""The team page: everyone in the account and everyone invited, and what the viewer may do.

Each control posts a form to its own route, which calls the same service as the API and either
comes back to the list with a message, or shows the API's refusal next to the control.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from teamgate import inputs
from teamgate.context import get_context
from teamgate.db import now
from teamgate.errors import AppError, Forbidden, Unauthorized
from teamgate.invitations import bulk
from teamgate.invitations import service as invitations
from teamgate.roles import role_input
from teamgate.team import service as team
from teamgate.team.listing import INVITATION, MEMBER
from teamgate.web import site
from teamgate.web.site import Flash, SignInRequired, Viewer

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class NewLink:
    email: str
    link: str
    expires_at: int


def _cursor(value: str) -> tuple[int, int] | None:
    """``<kind>-<id>`` as the pager writes it; anything else is the first page."""
    kind, _, last = value.partition("-")
    if kind in (str(MEMBER), str(INVITATION)) and last.isascii() and last.isdigit():
        return int(kind), min(int(last), 2**31)
    return None


def _team_url(query: team.TeamQuery, after: tuple[int, int] | None = None) -> str:
    params = {"q": query.search or "", "role": query.role or ""}
    if after is not None:
        params["after"] = f"{after[0]}-{after[1]}"
    kept = {name: value for name, value in params.items() if value}
    return "/team" + (f"?{urlencode(kept)}" if kept else "")


def _back(value: str | None) -> str:
    """Where a control's form returns to: the list as the viewer left it."""
    path = site.safe_next(value)
    return path if path == "/team" or path.startswith("/team?") else "/team"


def _unplaced(error: AppError) -> Flash | None:
    """A refusal of a control the viewer is not shown (their role may not use it) has no place
    next to it: it is shown at the top instead."""
    return Flash(error.message, "error") if isinstance(error, Forbidden) else None


async def _page(
    request: Request,
    viewer: Viewer,
    query: team.TeamQuery,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    try:
        view = await team.team_view(get_context(request).db, viewer.credential, query)
    except Unauthorized:
        raise SignInRequired(_team_url(query, query.after)) from None
    return site.render(
        request,
        "team.html",
        status=status,
        headers=headers,
        viewer=viewer,
        page="team",
        view=view,
        query=query,
        errors=errors or {},
        now=now(),
        back=_team_url(query, query.after),
        first_page=_team_url(query),
        next_page=_team_url(query, view.next_after) if view.next_after else None,
        **context,
    )


@router.get("/team")
async def team_page(request: Request, q: str = "", role: str = "", after: str = "") -> Response:
    viewer = await site.viewer(request)
    query = team.TeamQuery(search=q.strip()[:320] or None, role=role or None, after=_cursor(after))
    return await _page(request, viewer, query)


async def _issued(
    request: Request,
    viewer: Viewer,
    issue: Awaitable[invitations.Invited],
    *,
    error_at: str,
    done: str,
    invite_form: dict[str, str] | None = None,
) -> Response:
    """Show the link an invitation (new or resent) got, this once, with ``done`` (``{email}``
    filled in); or the refusal, at ``error_at`` (the invite form, or the invitation's row)."""
    try:
        invited = await issue
    except Unauthorized:
        raise SignInRequired("/team") from None
    except AppError as error:
        return await _page(
            request,
            viewer,
            team.TeamQuery(),
            status=error.status,
            headers=error.headers,
            errors={error_at: error.message},
            invite_form=invite_form,
            flash=_unplaced(error),
        )
    link = NewLink(invited.email, invited.link, invited.expires_at)
    flash = Flash(done.format(email=invited.email))
    return await _page(request, viewer, team.TeamQuery(), new_link=link, flash=flash)


@router.post("/team/invite")
async def invite(request: Request) -> Response:
    fields = await site.form(request)
    viewer = await site.viewer(request)
    request_invite = invitations.Invite(
        email=inputs.email(fields.get("email")),
        role=role_input(fields.get("role")),
        name=inputs.optional_name(fields.get("name"), "inviteeName"),
        # The link points where this page is served (one of the public origins).
        website=invitations.website(request.headers.get("origin")),
    )
    issue = invitations.invite(get_context(request), viewer.credential, request_invite)
    return await _issued(
        request,
        viewer,
        issue,
        error_at="invite",
        done="Invitation link created for {email}.",
        invite_form=fields,
    )


# --- inviting many from a CSV file ------------------------------------------------------------

CSV_NO_FILE = "Choose a CSV file to invite from"


@dataclass(frozen=True, slots=True)
class BulkLine:
    """One row of the file as the results table shows it."""

    line: int
    email: str
    invited: bool
    error: str | None


@router.post("/team/bulk")
async def bulk_upload(request: Request) -> Response:
    """Invite the rows of an uploaded CSV file, each judged as the API's bulkInviteUsers judges
    it; the page then shows every row's outcome by line. A file that cannot be read changes
    nothing and says why next to the form (after the caller's own refusals, as the API does)."""
    _, files = await site.upload_form(request)
    viewer = await site.viewer(request)
    upload = files.get("file")
    # The link in each email points where this page is served (one of the public origins).
    lines = (
        bulk.csv_rows(upload.content, request.headers.get("origin"))
        if upload is not None and (upload.filename or upload.content)
        else CSV_NO_FILE
    )
    batch = None if isinstance(lines, str) else bulk.rows([row for _, row in lines])
    try:
        # Without rows this raises: the caller's own refusal (401, 403), else the count rule.
        results = await bulk.bulk_invite(get_context(request), viewer.credential, batch)
    except Unauthorized:
        raise SignInRequired("/team") from None
    except AppError as error:
        message = error.message
        if isinstance(lines, str) and message == bulk.BAD_ROWS:
            message = lines  # no rows to judge: the file could not be read
        flash = _unplaced(error)
        return await _page(
            request,
            viewer,
            team.TeamQuery(),
            status=error.status,
            headers=error.headers,
            errors={} if flash else {"bulk": message},
            flash=flash,
        )
    assert not isinstance(lines, str)
    shown = [
        BulkLine(line, result.email or str(row["inviteeEmail"] or ""), bool(result.invited),
                 result.error)
        for (line, row), result in zip(lines, results, strict=True)
    ]  # fmt: skip
    invited = sum(1 for entry in shown if entry.invited)
    refused = len(shown) - invited
    return await _page(
        request,
        viewer,
        team.TeamQuery(),
        bulk_results=shown,
        flash=Flash(
            f"Invited {invited} of {len(shown)}; {refused} refused.",
            "success" if invited else "error",
        ),
    )


@router.post("/team/reinvite")
async def resend(request: Request) -> Response:
    """Resend a pending invitation: a new link, shown this once, and a new email; the old link
    dies. Limited per invitation; a refusal is shown next to the invitation's row."""
    fields = await site.form(request)
    viewer = await site.viewer(request)
    email = fields.get("email", "")
    issue = invitations.resend(
        get_context(request),
        viewer.credential,
        inputs.email(email),
        # The link points where this page is served (one of the public origins).
        invitations.website(request.headers.get("origin")),
    )
    return await _issued(
        request,
        viewer,
        issue,
        error_at=f"invitation:{email}",
        done="Invitation sent again to {email}: the previous link no longer works.",
    )


@router.post("/team/role")
async def change_role(request: Request) -> Response:
    fields = await site.form(request)
    viewer = await site.viewer(request)
    back = _back(fields.get("back"))
    change = team.RoleChange(
        email=inputs.email(fields.get("email")), role=role_input(fields.get("role"))
    )
    try:
        changed = await team.change_role(get_context(request).db, viewer.credential, change)
    except Unauthorized:
        raise SignInRequired(back) from None
    except AppError as error:
        errors = {f"row:{fields.get('email', '')}": error.message}
        return await _page(
            request,
            viewer,
            team.TeamQuery(),
            status=error.status,
            errors=errors,
            flash=_unplaced(error),
        )
    return site.redirect(request, back, Flash(f"{changed.email} is now {changed.role}."))


async def _confirm(
    request: Request, what: str, email: str, back: str, error: AppError | None = None
) -> Response:
    """The confirmation page for removing a member or revoking an invitation, naming them."""
    viewer = await site.viewer(request)
    try:
        found = await team.entry_for(
            get_context(request).db, viewer.credential, inputs.email(email)
        )
    except Unauthorized:
        raise SignInRequired(back) from None
    except AppError as refused:
        return site.render(
            request, "error.html", status=refused.status, viewer=viewer, message=refused.message
        )
    if found is None or (what == "revoke") != found.is_invitation:
        message = team.USER_NOT_FOUND if what == "remove" else invitations.INVITATION_NOT_FOUND
        return site.render(request, "error.html", status=400, viewer=viewer, message=message)
    who = f"{found.name} ({found.email})" if found.name else found.email
    if what == "remove":
        title, confirm = "Remove a member", "Remove"
        question = (
            f"Remove {who} from {viewer.account_name}? "
            "Their API keys and sessions here stop working at once."
        )
    else:
        title, confirm = "Revoke an invitation", "Revoke"
        question = f"Revoke the invitation of {who}? Its link stops working at once."
    return site.render(
        request,
        "confirm.html",
        status=error.status if error else 200,
        viewer=viewer,
        title=title,
        question=question,
        confirm=confirm,
        action=f"/team/{what}",
        email=found.email,
        back=back,
        error=error.message if error else None,
    )


@router.get("/team/remove")
async def remove_page(request: Request, email: str = "", back: str = "") -> Response:
    return await _confirm(request, "remove", email, _back(back))


async def _confirmed(request: Request, what: str) -> Response:
    """The confirmation page's post: remove the member, or revoke the invitation; a refusal
    goes back to the confirmation page, shown next to its button."""
    fields = await site.form(request)
    viewer = await site.viewer(request)
    back = _back(fields.get("back"))
    email = fields.get("email", "")
    db = get_context(request).db
    try:
        if what == "remove":
            removal = await team.remove_user(db, viewer.credential, inputs.email(email))
            done = f"{removal.email} was removed from {viewer.account_name}."
        else:
            revoked = await invitations.remove_invitation(
                db, viewer.credential, inputs.email(email)
            )
            done = f"The invitation of {revoked} was revoked."
    except Unauthorized:
        raise SignInRequired(back) from None
    except AppError as error:
        return await _confirm(request, what, email, back, error)
    return site.redirect(request, back, Flash(done))


@router.post("/team/remove")
async def remove(request: Request) -> Response:
    return await _confirmed(request, "remove")


@router.get("/team/revoke")
async def revoke_page(request: Request, email: str = "", back: str = "") -> Response:
    return await _confirm(request, "revoke", email, _back(back))


@router.post("/team/revoke")
async def revoke(request: Request) -> Response:
    return await _confirmed(request, "revoke")
