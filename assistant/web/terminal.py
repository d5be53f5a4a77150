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


def json_for_terminal(text: str) -> str:
    """JSON text (``ensure_ascii=False``) with the control and format characters that JSON
    leaves raw (DEL, C1, bidi overrides, line separators) written as ``\\uXXXX`` escapes:
    still valid JSON, and nothing in it acts on the terminal. (JSON itself escapes C0
    controls inside strings; the newlines of its indentation stay.)"""
    return "".join(
        f"\\u{ord(ch):04x}"
        if ord(ch) >= 0x7F and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
        else ch
        for ch in text
    )
