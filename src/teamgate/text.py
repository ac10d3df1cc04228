"""Free text that clients send (names): trimmed, NFC, printable, bounded."""

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
