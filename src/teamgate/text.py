"""Values that clients send, checked once: names (trimmed, NFC, printable, bounded) and ids."""

from __future__ import annotations

import unicodedata

from teamgate.errors import AppError


def display_name(value: object, what: str, *, max_len: int = 200) -> str:
    """A name of 1 to ``max_len`` printable characters, or a 400 that says so."""
    if isinstance(value, str):
        name = unicodedata.normalize("NFC", value.strip())
        if 0 < len(name) <= max_len and not any(
            unicodedata.category(c) in ("Cc", "Cs") for c in name
        ):
            return name
    raise AppError(f"{what} must be a string of 1 to {max_len} characters")


def id_field(value: object, what: str) -> int:
    """A row id: a JSON integer in the databases' 32-bit range, or a 400 that says so."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31:
        return value
    raise AppError(f"{what} must be a positive integer")
