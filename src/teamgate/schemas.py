"""Request and response shapes for the OpenAPI document (the handlers parse bodies themselves,
so that every bad input maps to the contract's exact message and status)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class Empty(_Doc):
    """No request parameters required."""


class ErrorBody(BaseModel):
    error: str
    actionErrors: list[str]


class TeamEntry(_Doc):
    id: int = Field(json_schema_extra={"format": "int32"})
    login: str
    name: str
    role: str = Field(description="User role in the account, or 'Invitation sent for <ROLE>'")
    isInvitation: bool | None = Field(default=None, description="Present and true on invitations")
    invitedRole: str | None = Field(default=None, description="Invitations: the role offered")
    expiresAt: int | None = Field(default=None, description="Invitations: expiry, epoch seconds")
    expired: bool | None = Field(default=None, description="Invitations: past expiresAt")
    deliveryStatus: Literal["queued", "sent", "retrying", "failed"] | None = Field(
        default=None, description="Invitations: what became of the invitation's email"
    )
    deliveryError: str | None = Field(
        default=None, description="Invitations: the email's last delivery error, if any"
    )


class BulkInviteRequest(_Doc):
    invitations: list[InviteRequest] = Field(min_length=1, max_length=1000)


class BulkInviteResult(BaseModel):
    inviteeEmail: str | None
    ok: bool
    finalInviteCode: str | None
    error: str | None = Field(description="inviteUsers's message for this row, when not ok")


class BulkInviteResponse(BaseModel):
    results: list[BulkInviteResult] = Field(description="In the order of the request")


class StatusResponse(BaseModel):
    status: str


class ResetPasswordRequest(_Doc):
    token: str = Field(description="The token of the emailed link (/reset?token=…)")
    password: str = Field(min_length=8, max_length=128)


class ResendRequest(_Doc):
    email: str
    websiteHostName: str | None = Field(
        default=None, description="One of the server's public origins"
    )


class TeamDataRequest(_Doc):
    at: int | None = Field(
        default=None, description="Epoch seconds: the team as it was then (ADMIN; members only)"
    )


class TeamPageRequest(_Doc):
    limit: int = Field(default=100, ge=1, le=500)
    cursor: str | None = Field(default=None, description="nextCursor of the previous page")
    search: str | None = Field(
        default=None, description="The start of an email or a name, any case (at most 320)"
    )
    role: str | None = Field(
        default=None, description="One of the account's roles (the offered one, for invitations)"
    )


class TeamPage(BaseModel):
    entries: list[TeamEntry] = Field(description="Members first, then pending invitations")
    nextCursor: str | None = Field(description="null on the last page")


class AuditLogRequest(_Doc):
    action: str | None = Field(default=None, description="e.g. invitation.create, member.remove")
    actor: str | None = Field(default=None, description="The acting user's email, or cli")
    target: str | None = None
    from_: int | None = Field(default=None, alias="from", description="Epoch seconds, inclusive")
    to: int | None = Field(default=None, description="Epoch seconds, inclusive")
    limit: int = Field(default=100, ge=1, le=500)
    cursor: str | None = Field(default=None, description="nextCursor of the previous page")


class AuditEvent(BaseModel):
    id: int
    time: int = Field(description="Epoch seconds, UTC")
    accountId: int | None
    actor: str | None = Field(description="The acting user's email, or cli")
    action: str
    target: str | None
    details: dict[str, Any] = Field(
        description="roleBefore/roleAfter for membership changes, before/after for settings, "
        "requestId, and what else the action records; never a secret"
    )


class AuditLogPage(BaseModel):
    events: list[AuditEvent]
    nextCursor: str | None


class InviteRequest(_Doc):
    inviteeEmail: str
    inviteeRole: str = Field(
        description="ADMIN, MEMBER, DEVELOPER, VIEWER (or GUEST), or a custom role"
    )
    inviteeName: str | None = None
    websiteHostName: str | None = Field(
        default=None, description="One of the server's public origins"
    )


class InviteResponse(BaseModel):
    finalInviteCode: str
    inviteeRole: str


class EmailRequest(_Doc):
    email: str


class RemoveUserResponse(BaseModel):
    email: str
    id: int = Field(json_schema_extra={"format": "int32"})
    passwordResetToken: None = None
    roleHierarchy: str
    userRoleHierarchy: list[str]
    users: None = None


class MakeAdminRequest(_Doc):
    email: str
    userRole: str


class AcceptInviteRequest(_Doc):
    inviteCode: str = Field(description="The code, or the whole invite link")
    name: str | None = Field(default=None, description="New users only")
    password: str = Field(description="New users: the password to set; existing users: theirs")


class LoginRequest(_Doc):
    email: str
    password: str


class SessionResponse(BaseModel):
    userId: int
    accountId: int
    email: str
    role: str | None = None


class AddApiTokenRequest(_Doc):
    name: str | None = None


class ApiToken(BaseModel):
    id: int
    name: str
    keyPrefix: str
    createdAt: int


class NewApiToken(ApiToken):
    key: str = Field(description="The plain key, shown this once")
    apiTokenList: list[ApiToken]


class ApiTokenList(BaseModel):
    apiTokenList: list[ApiToken]


class DeleteApiTokenRequest(_Doc):
    apiTokenId: int


def responses(ok: Any, *errors: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses: the 200 shape, plus the listed error statuses in the error shape."""
    documented: dict[int | str, dict[str, Any]] = {200: {"model": ok}}
    for status in (400, 401, 403, 413, 415, 429, 503):
        if status in errors or status in (401, 413, 415, 503):
            documented[status] = {"model": ErrorBody}
    return documented


class CustomRoleName(_Doc):
    roleName: str


class CustomRoleRequest(_Doc):
    roleName: str = Field(description="Upper-case letters, digits, '-' and '_'; at most 50")
    baseRole: str = Field(description="ADMIN, MEMBER, DEVELOPER or VIEWER (or GUEST)")


class CustomRole(BaseModel):
    name: str
    baseRole: str
    createdAt: int | None = None


class CustomRoleList(BaseModel):
    roles: list[CustomRole]


class GoToAccountRequest(_Doc):
    newAccountId: int


class AccountSummary(BaseModel):
    accountId: int
    name: str
    role: str


class AccountSwitch(BaseModel):
    accountId: int
    role: str


WhoCanInvite = Literal["ADMINS", "ADMINS_AND_MEMBERS"]


class AccountSettings(BaseModel):
    invitesEnabled: bool
    allowedEmailDomains: list[str] = Field(
        description="Exact domains, or *.example.com for subdomains; empty allows any domain"
    )
    whoCanInvite: WhoCanInvite
    inviteLifetimeDays: int = Field(ge=1, le=30, description="How long an invite link works")
    seatLimit: int | None = Field(
        ge=1, description="Members plus pending invitations allowed; null: no limit"
    )
    seatsUsed: int = Field(description="Members plus pending invitations now")


class AccountSettingsUpdate(_Doc):
    """Only the fields sent change; seatLimit null removes the limit."""

    invitesEnabled: bool | None = None
    allowedEmailDomains: list[str] | None = None
    allowPublicDomains: bool = Field(
        default=False, description="Needed to allow a public mail provider such as gmail.com"
    )
    whoCanInvite: WhoCanInvite | None = None
    inviteLifetimeDays: int | None = Field(default=None, ge=1, le=30)
    seatLimit: int | None = Field(default=None, ge=1)
