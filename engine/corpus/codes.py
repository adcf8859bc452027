"""Book codes: the short names users type for a book (wor, twok, oz3)."""

from __future__ import annotations

import re
import unicodedata


def derive_code(title: str, taken: set[str]) -> str:
    """Short [a-z0-9] code from a title's initials, unique against `taken` (wor, twok, oath)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.findall(r"[A-Za-z]+|\d+", ascii_title)
    if not words:
        base = "book"
    elif len(words) == 1:
        # One word has no initials to speak of: its first four letters read better.
        base = words[0][:4].lower()
    else:
        base = "".join(w if w.isdigit() else w[0] for w in words).lower()
    code, n = base, 2
    while code in taken:
        code, n = f"{base}{n}", n + 1
    return code
