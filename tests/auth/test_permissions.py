"""Every role (built-in and custom) against every authenticated endpoint, by API key and by
session: allowed where the contract's table says so, else a 403 that changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from teamgate.context import AppContext
from tests.conftest import make_account, make_member
from tests.support.api import AUTHENTICATED_ENDPOINTS, call, error_of
from tests.support.sessions import as_session, start_session
from tests.support.state import snapshot

RANK = {"VIEWER": 1, "DEVELOPER": 2, "MEMBER": 3, "ADMIN": 4}
# endpoint, body, the lowest base role allowed, session only
CASES: list[tuple[str, dict[str, Any], str, bool]] = [
    ("getTeamData", {}, "VIEWER", False),
    ("getTeamData", {"at": 2**40}, "ADMIN", False),
    ("getTeamPage", {"search": "a", "role": "VIEWER"}, "VIEWER", False),
    ("getRoleHierarchy", {}, "VIEWER", False),
    ("getCustomRoles", {}, "VIEWER", False),
    ("getAccounts", {}, "VIEWER", False),
    ("inviteUsers", {"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER"}, "MEMBER", False),
    ("removeInvitation", {"email": "pending@acme.com"}, "MEMBER", False),
    ("resendInvitation", {"email": "pending@acme.com"}, "MEMBER", False),
    (
        "bulkInviteUsers",
        {"invitations": [{"inviteeEmail": "b@acme.com", "inviteeRole": "VIEWER"}]},
        "MEMBER",
        False,
    ),
    ("removeUser", {"email": "target@acme.com"}, "ADMIN", False),
    ("makeAdmin", {"email": "target@acme.com", "userRole": "DEVELOPER"}, "ADMIN", False),
    ("createCustomRole", {"roleName": "NEWROLE", "baseRole": "VIEWER"}, "ADMIN", False),
    ("updateCustomRole", {"roleName": "SPARE", "baseRole": "DEVELOPER"}, "ADMIN", False),
    ("deleteCustomRole", {"roleName": "SPARE"}, "ADMIN", False),
    ("getAccountSettings", {}, "ADMIN", False),
    ("updateAccountSettings", {"seatLimit": 50}, "ADMIN", False),
    ("getAuditLogs", {}, "ADMIN", False),
    ("addApiToken", {"name": "more"}, "VIEWER", True),
    ("fetchApiTokens", {}, "VIEWER", True),
    ("deleteApiToken", {"apiTokenId": 999_999}, "VIEWER", True),
    ("goToAccount", {"newAccountId": 999_999}, "VIEWER", True),
]
# (role held, its base role)
ROLES = [
    ("ADMIN", "ADMIN"), ("MEMBER", "MEMBER"), ("DEVELOPER", "DEVELOPER"), ("VIEWER", "VIEWER"),
    ("LEAD", "ADMIN"), ("OPS", "MEMBER"), ("AUDITOR", "VIEWER"),
]  # fmt: skip


def test_every_authenticated_endpoint_is_in_the_matrix() -> None:
    assert {endpoint for endpoint, *_ in CASES} == set(AUTHENTICATED_ENDPOINTS)


@pytest.mark.parametrize(("role", "base"), ROLES)
async def test_each_role_by_key_and_by_session(
    client: httpx.AsyncClient, ctx: AppContext, role: str, base: str
) -> None:
    admin = await make_account(ctx)
    for name, of in (("LEAD", "ADMIN"), ("OPS", "MEMBER"), ("AUDITOR", "VIEWER"),
                     ("SPARE", "VIEWER")):  # fmt: skip
        created = await call(
            client, "createCustomRole", {"roleName": name, "baseRole": of}, key=admin.api_key
        )
        assert created.status_code == 200, created.text
    caller = await make_member(ctx, admin.account_id, "caller@acme.com", role)
    await make_member(ctx, admin.account_id, "target@acme.com", "VIEWER")
    pending = {"inviteeEmail": "pending@acme.com", "inviteeRole": "VIEWER"}
    assert (await call(client, "inviteUsers", pending, key=admin.api_key)).status_code == 200
    token = await start_session(client, "caller@acme.com")

    for endpoint, body, lowest, session_only in CASES:
        allowed_role = RANK[base] >= RANK[lowest]
        for by_key in (True, False):
            allowed = allowed_role and not (session_only and by_key)
            before = await snapshot(ctx)
            if by_key:
                response = await call(client, endpoint, body, key=caller.api_key)
            else:
                response = await as_session(client, endpoint, body, token=token)
            how = f"{endpoint} {body} as {role} by {'key' if by_key else 'session'}"
            if allowed:
                assert response.status_code not in (401, 403), (how, response.text)
                if endpoint == "goToAccount":
                    assert error_of(response) == "Account not found", how
            else:
                assert (response.status_code, error_of(response)) == (
                    403,
                    f"The role '{role}' does not have access.",
                ), how
                assert await snapshot(ctx) == before, how
