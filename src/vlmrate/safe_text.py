"""Text that did not come from vlmrate (model answers, server error bodies, review notes,
reviewer names, image ids, sheet cells, run and model names of a copied run) is shown with
its control characters made visible, so that it can never drive the terminal: no escape
sequence sets the window title, clears the screen or writes the clipboard (OSC 52).

``visible`` writes them as ``cat -v`` does (``ESC`` as ``^[``, ``BEL`` as ``^G``, ``DEL`` as
``^?``), C1 controls and the bidirectional overrides as ``\\x9b`` / ``\\u202e``. Stored data
keeps the original text: this is for what is shown only. Imports nothing.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, and the Unicode bidi embeddings,
# overrides and isolates (text that reads differently from what it is)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _shown(match: re.Match[str]) -> str:
    char = match.group(0)
    code = ord(char)
    if code < 0x20:
        return "^" + chr(code + 0x40)  # ESC -> ^[, BEL -> ^G, TAB -> ^I (one line)
    if code == 0x7F:
        return "^?"
    if code <= 0x9F:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def has_control(text: str) -> bool:
    """Whether ``text`` holds a character ``visible`` would rewrite (tab, newline aside)."""
    return _CONTROL.search(text) is not None


def visible(text: object, *, one_line: bool = False) -> str:
    """``text`` (anything: ``str()`` is taken) with control characters made visible;
    ``one_line`` rewrites tab and newline too (a table cell, a one-line message)."""
    text = text if isinstance(text, str) else str(text)
    pattern = _CONTROL_ONE_LINE if one_line else _CONTROL
    return pattern.sub(_shown, text) if pattern.search(text) else text


_JSON_UNSAFE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def json_safe(text: str) -> str:
    """JSON text (json.dumps with ensure_ascii=False) with the characters it leaves raw
    that a terminal may act on (DEL, C1 controls, bidi overrides) written as \\u escapes:
    the same JSON value, nothing for a terminal to act on."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)
