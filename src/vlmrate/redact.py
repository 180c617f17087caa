"""Secrets never reach disk: the password of a URL (``http://user:pw@host/v1``) and the API
key of the openai engine are cut from every text a run writes (manifest, records) and from
what readers show of older runs (the workbook, the TUI).

A server that echoes the request's ``Authorization`` header in its error body would
otherwise put the key into ratings.jsonl's ``engine_error`` and from there into every
export.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:
    import polars as pl

REDACTED = "[redacted]"
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
_MIN_SECRET_CHARS = 4  # a shorter "secret" would cut ordinary words out of every text
# scheme://userinfo@ — the userinfo (user, or user:password) is what goes
_URL_USERINFO_PATTERN = r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#@\[\]]+@"  # Python and Rust
_URL_USERINFO = re.compile(_URL_USERINFO_PATTERN)


def redact_url(url: str) -> str:
    """The URL without its user:password part (any text: also one that is no valid URL)."""
    return _URL_USERINFO.sub(r"\1", url)


def url_secrets(url: str) -> list[str]:
    """The password of a URL's user:password part, as written and percent-decoded, and the
    user:password pair base64-encoded as HTTP Basic auth sends it (a server that echoes
    its request headers would show that form)."""
    match = _URL_USERINFO.search(url)
    if match is None:
        return []
    userinfo = match.group(0)[len(match.group(1)):-1]
    user, _, password = userinfo.partition(":")
    secrets = [password, unquote(password)] if password else [user, unquote(user)]
    for pair in {f"{user}:{password}", f"{unquote(user)}:{unquote(password)}"}:
        secrets.append(base64.b64encode(pair.encode()).decode("ascii"))
    return secrets


class Redactor:
    """Replaces known secrets and URL credentials in texts and nested JSON values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        unique = {s for s in secrets if s and len(s) >= _MIN_SECRET_CHARS}
        self.secrets = sorted(unique, key=len, reverse=True)  # longest first

    @classmethod
    def for_run(cls, base_urls: Iterable[str | None] = (),
                api_key_env: str = DEFAULT_API_KEY_ENV) -> Redactor:
        """The secrets of a run: its URLs' passwords and the API key in api_key_env."""
        secrets = [s for url in base_urls if url for s in url_secrets(url)]
        key = os.environ.get(api_key_env or DEFAULT_API_KEY_ENV)
        if key:
            secrets.append(key)
        return cls(secrets)

    def text(self, text: str) -> str:
        if "@" in text:
            text = redact_url(text)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def value(self, value: Any) -> Any:
        """value with every string in it redacted (dicts, lists; keys too)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value

    def columns(self, frame: pl.DataFrame, names: Iterable[str]) -> pl.DataFrame:
        """frame with the text columns names redacted (vectorised: a large run stays fast)."""
        import polars as pl

        exprs = []
        for name in names:
            column = pl.col(name).str.replace_all(_URL_USERINFO_PATTERN, "${1}")
            for secret in self.secrets:
                column = column.str.replace_all(secret, REDACTED, literal=True)
            exprs.append(column.alias(name))
        return frame.with_columns(exprs) if exprs else frame
