"""Client input: parsed at the edge, judged by the service in the contract's order.

A route (or a page) turns the JSON body (or the form) into a frozen dataclass of typed fields,
with Python names; wire names stay in the route. A value that cannot be parsed becomes a
``Refusal`` holding its exact message, and the service calls ``valid()`` on it at the point where
the contract puts that check. So the order of the messages (authentication, then permission,
then each rule in turn, some of which need the database) does not depend on where parsing
happened, and the same service serves the API and the pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, Union

from teamgate.emails import InvalidEmail, canonical_email
from teamgate.errors import AppError
from teamgate.text import display_name, id_field

T = TypeVar("T")

INVALID_EMAIL = "Invalid email"


@dataclass(frozen=True, slots=True)
class Refusal:
    """A value the client sent that cannot be used, and the message that says why."""

    message: str


Parsed = Union[T, Refusal]  # noqa: UP007 (a generic alias: the | form cannot take a TypeVar here)


def valid(value: Parsed[T]) -> T:
    """The parsed value, or the 400 that its refusal names."""
    if isinstance(value, Refusal):
        raise AppError(value.message)
    return value


def email(value: object) -> Parsed[str]:
    """An address in its canonical form (``Invalid email`` for anything else)."""
    try:
        return canonical_email(value)
    except InvalidEmail:
        return Refusal(INVALID_EMAIL)


def name(value: object, what: str, *, max_len: int = 200) -> Parsed[str]:
    """A person's or thing's name (see ``teamgate.text.display_name``)."""
    try:
        return display_name(value, what, max_len=max_len)
    except AppError as error:
        return Refusal(error.message)


def optional_name(value: object, what: str) -> Parsed[str | None]:
    """A name that may be left out: absent, null or blank is None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return name(value, what)


def record_id(value: object, what: str) -> Parsed[int]:
    """A row id (see ``teamgate.text.id_field``)."""
    try:
        return id_field(value, what)
    except AppError as error:
        return Refusal(error.message)


def string(value: object) -> str | None:
    """The value if it is a string; None for anything else (absent included)."""
    return value if isinstance(value, str) else None
