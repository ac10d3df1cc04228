"""The ceiling: a bare Starlette endpoint that serializes a team list with orjson, no database,
served by uvicorn with the settings `teamgate serve` uses (uvloop, httptools, one process,
uvicorn's logging with the access log on, no proxy headers, no server header).

    python bench/ceiling_app.py --port 8001 --team team.json

``--team`` is a JSON array (run.py writes the one teamgate answers for its 20-member team);
without it, 20 made-up members.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DEFAULT_TEAM: list[dict[str, Any]] = [
    {"id": i, "login": f"user{i}@acme.com", "name": f"User {i}", "role": "MEMBER"}
    for i in range(1, 21)
]


def create_app(team: list[dict[str, Any]]) -> Starlette:
    async def team_data(_request: Request) -> Response:
        return Response(orjson.dumps(team), media_type="application/json")

    async def healthz(_request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/api/getTeamData", team_data, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def main() -> None:
    import uvicorn
    import uvicorn.config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--team", type=Path, help="a JSON array to answer with")
    args = parser.parse_args()
    team = orjson.loads(args.team.read_bytes()) if args.team else DEFAULT_TEAM
    uvicorn.run(
        create_app(team),
        log_config=copy.deepcopy(uvicorn.config.LOGGING_CONFIG),
        host="127.0.0.1",
        port=args.port,
        workers=1,
        loop="uvloop",
        http="httptools",
        proxy_headers=False,
        server_header=False,
        log_level="info",
    )


if __name__ == "__main__":
    main()
