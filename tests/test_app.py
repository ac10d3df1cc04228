from __future__ import annotations

import httpx

from teamgate.context import AppContext
from tests.conftest import make_account
from tests.support.api import call


async def test_founding_admin_is_listed(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx)
    response = await call(client, "getTeamData", key=admin.api_key)
    assert response.status_code == 200
    assert response.json() == [
        {"id": admin.user_id, "login": "admin@acme.com", "name": "Ada Admin", "role": "ADMIN"}
    ]
