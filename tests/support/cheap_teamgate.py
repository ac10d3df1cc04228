"""``teamgate`` with argon2's cheapest parameters, for the server processes the tests start.

Run by path: ``python tests/support/cheap_teamgate.py serve --port N``. The service has no
setting that weakens its hasher; tests swap it in-process (conftest) and, through this file, in
the servers.
"""

from __future__ import annotations

from argon2 import PasswordHasher, profiles

from teamgate import cli, security

CHEAP_HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)


def main() -> None:
    security.use_hasher(CHEAP_HASHER)
    cli.main()


if __name__ == "__main__":
    main()
