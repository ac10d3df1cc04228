"""Values that clients send, checked once: names (trimmed, NFC, visible, bounded) and ids."""

from __future__ import annotations

import unicodedata

from teamgate.errors import AppError

ZWNJ, ZWJ = "\u200c", "\u200d"
VIRAMA = 9  # the canonical combining class of the viramas that ZWJ and ZWNJ follow in Indic text
# Letters and symbols that render as nothing (often used to fake an empty or look-alike name).
INVISIBLE = frozenset(
    "\u115f\u1160\u3164\uffa0"  # Hangul fillers
    "\u2800"  # BRAILLE PATTERN BLANK
    "\u034f"  # COMBINING GRAPHEME JOINER
    "\u17b4\u17b5"  # Khmer inherent vowels
)
# Categories never allowed in a name: controls, surrogates, private use, unassigned (we cannot
# tell whether they will be visible), line and paragraph separators. Format characters (Cf)
# are refused too, but for ZWJ and ZWNJ in the places where they shape text (see _joiner_fits).
REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn", "Zl", "Zp"})


def display_name(value: object, what: str, *, max_len: int = 200) -> str:
    """A name of 1 to ``max_len`` visible characters, or a 400 that says what is wrong."""
    if isinstance(value, str):
        name = unicodedata.normalize("NFC", value.strip())
        if 0 < len(name) <= max_len:
            if _is_visible_text(name):
                return name
            raise AppError(f"{what} must be visible text, without control or invisible characters")
    raise AppError(f"{what} must be a string of 1 to {max_len} characters")


def _is_base(char: str) -> bool:
    """A character that shows by itself: a letter, number, punctuation or symbol."""
    return unicodedata.category(char)[0] in "LNPS" and char not in INVISIBLE


def _is_visible_text(name: str) -> bool:
    """Every character shows or shapes a visible neighbour, and at least one shows by itself."""
    for i, char in enumerate(name):
        category = unicodedata.category(char)
        if category in REFUSED_CATEGORIES or char in INVISIBLE:
            return False
        if category == "Cf" and not (char in (ZWJ, ZWNJ) and _joiner_fits(name, i)):
            return False
        if unicodedata.name(char, "").startswith("VARIATION SELECTOR") and not (
            i > 0 and _is_base(name[i - 1])
        ):
            return False  # one selector picks a glyph for a base; a run of them hides bytes
    return any(_is_base(char) for char in name)


def _joiner_fits(name: str, i: int) -> bool:
    """ZWJ or ZWNJ where it changes how its neighbours render, after RFC 5892's CONTEXTJ rules:
    after a virama (Indic conjuncts, Sinhala), ZWNJ between letters of caseless scripts (Persian,
    Arabic, Indic), ZWJ between emoji (family, profession and flag sequences). Anywhere else it
    is invisible and only makes a name look like another."""
    if i > 0 and unicodedata.combining(name[i - 1]) == VIRAMA:
        return True
    before = _neighbour(name, i, -1)
    after = _neighbour(name, i, +1)
    if before is None or after is None:
        return False
    if name[i] == ZWNJ:
        return unicodedata.category(before) == "Lo" and unicodedata.category(after) == "Lo"
    return unicodedata.category(before) in ("So", "Sk") and unicodedata.category(after) == "So"


def _neighbour(name: str, i: int, step: int) -> str | None:
    """The nearest character before (-1) or after (+1) position ``i`` that is not a mark."""
    i += step
    while 0 <= i < len(name) and unicodedata.category(name[i]) in ("Mn", "Mc", "Me"):
        i += step
    return name[i] if 0 <= i < len(name) and _is_base(name[i]) else None


def id_field(value: object, what: str) -> int:
    """A row id: a JSON integer in the databases' 32-bit range, or a 400 that says so."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31:
        return value
    raise AppError(f"{what} must be a positive integer")
