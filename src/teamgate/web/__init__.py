"""The site: server-rendered pages over the same services as the API (see ``site.py``)."""

from __future__ import annotations

from fastapi import APIRouter

from teamgate.web import account_settings, history, keys, login, onboarding, reset, team

router = APIRouter(include_in_schema=False)
for pages in (login, reset, onboarding, team, keys, account_settings, history):
    router.include_router(pages.router)
