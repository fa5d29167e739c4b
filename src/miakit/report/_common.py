"""Small helpers and limits shared by the report's context builders (private)."""

from __future__ import annotations

import math
from typing import Any

#: Shown characters of a sample text before "show full text".
SHORT_TEXT_CHARS = 600
#: Most characters of one sample text kept in the report (keeps the file small).
FULL_TEXT_CHARS = 5000
#: Most rows shown in lists of ids (overlaps, truncations, NaN examples).
MAX_LISTED = 50


def finite(x: Any) -> float | None:
    """``x`` as a float if it is a finite number (not a bool), else ``None``."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def shorten(text: str) -> dict[str, Any]:
    """An excerpt of about :data:`SHORT_TEXT_CHARS` characters, cut at a space, and the text
    itself up to :data:`FULL_TEXT_CHARS` characters, with the counts the template shows."""
    full = text[:FULL_TEXT_CHARS]
    short = text
    if len(text) > SHORT_TEXT_CHARS:
        cut = text.rfind(" ", SHORT_TEXT_CHARS - 100, SHORT_TEXT_CHARS)
        short = text[: cut if cut > 0 else SHORT_TEXT_CHARS].rstrip() + " …"
    return {
        "short": short,
        "full": full,
        "shortened": short != text,
        "n_chars": len(text),
        "n_cut": max(0, len(text) - FULL_TEXT_CHARS),
    }
