"""Text from users made safe to print on a terminal or into a log line.

Questions and reasons reach ``hoidap report gaps`` and the server log from public
clients; an escape sequence in them (``\\x1b[2J``) would clear or recolour the reader's
terminal, and a newline would forge log lines. Control characters are shown as escapes.
"""

from __future__ import annotations

import unicodedata


def printable(text: object) -> str:
    """``text`` with every control or format character (C0, DEL, C1, bidi overrides)
    written as a visible ``\\x1b`` / ``\\u202e`` escape; Vietnamese letters are kept."""
    out = []
    for ch in str(text):
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)
