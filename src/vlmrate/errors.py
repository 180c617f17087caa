"""The one exception type for mistakes a user can make (bad paths, sheets, options).

The CLI prints its message as one line and exits 2; the TUI shows it as a notification.
"""


class UserError(Exception):
    """A problem the user can fix; the message is one clear line."""


def clip(value: object, limit: int = 60) -> str:
    """value quoted for an error message, cut to about limit characters, on one line.

    A 100 KB cell must not become a 100 KB message: the cut says how long the value was.
    """
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"


def clip_list(values: list[str], limit: int = 200) -> str:
    """Names joined with ', ', cut to about limit characters (with how many were left out)."""
    out: list[str] = []
    used = 0
    for i, value in enumerate(values):
        item = value if len(value) <= 40 else f"{value[:40]}…"
        if out and used + len(item) > limit:
            return ", ".join(out) + f", … ({len(values) - i} more)"
        out.append(item)
        used += len(item) + 2
    return ", ".join(out)
