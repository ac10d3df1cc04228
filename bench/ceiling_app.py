"""The ceiling: a bare Starlette JSON endpoint returning a 20-member team, no database."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TEAM = [
    {"id": i, "login": f"user{i}@acme.com", "name": f"User {i}", "role": "MEMBER"}
    for i in range(1, 21)
]


async def team(_request: Request) -> JSONResponse:
    return JSONResponse(TEAM)


app = Starlette(routes=[Route("/api/getTeamData", team, methods=["POST"])])
