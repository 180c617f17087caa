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
from urllib.parse import quote, unquote

if TYPE_CHECKING:
    import polars as pl

REDACTED = "[redacted]"
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
_MIN_SECRET_CHARS = 4  # a shorter "secret" would cut ordinary words out of every text
# scheme://userinfo@ — the userinfo (user, or user:password) is what goes. As httpx (and
# the URL standard) reads it, the authority runs to the first '/', '?' or '#' and the
# userinfo to its LAST '@': a password with an unencoded '@' (``alice:p@ss@host``) is
# cut whole, not just up to its first '@'.
_URL_USERINFO_PATTERN = r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#]*@"  # Python and Rust
_URL_USERINFO = re.compile(_URL_USERINFO_PATTERN)
# how httpx percent-encodes a userinfo it is given (its USERINFO_SAFE), for the form of
# the URL it puts into its own error messages
_HTTPX_USERINFO_SAFE = "!$&'()*+,;=:%-._~"


def redact_url(url: str) -> str:
    """The URL without its user:password part (any text: also one that is no valid URL)."""
    return _URL_USERINFO.sub(r"\1", url)


def url_userinfo(url: str) -> tuple[str, str] | None:
    """(user, password) of a URL as httpx parses it (the userinfo up to the authority's
    last '@', split at its first ':'), as written; None without a userinfo."""
    match = _URL_USERINFO.search(url)
    if match is None:
        return None
    userinfo = match.group(0)[len(match.group(1)):-1]
    user, _, password = userinfo.partition(":")
    return user, password


def url_secrets(url: str) -> list[str]:
    """Every form of a URL's password a text may hold: as written, percent-decoded, and
    percent-encoded as httpx writes it into its messages; and the user:password pair
    base64-encoded as HTTP Basic auth sends it (httpx sends the decoded pair; a server that
    echoes its request headers shows that form); the password's tail after each '@' in it.
    Without a password: the user (a token given as the user name)."""
    parts = url_userinfo(url)
    if parts is None:
        return []
    user, password = parts
    secret = password or user
    forms = {secret, unquote(secret), quote(unquote(secret), safe=_HTTPX_USERINFO_SAFE),
             quote(secret, safe=_HTTPX_USERINFO_SAFE)}
    # the tail after an '@' in it: what a parser that stops at the first '@' (an older
    # vlmrate, another tool) leaves of it in a message
    for form in list(forms):
        pieces = form.split("@")
        forms.update("@".join(pieces[i:]) for i in range(1, len(pieces)))
    pairs = {f"{user}:{password}", f"{unquote(user)}:{unquote(password)}"}
    for pair in pairs:
        encoded = base64.b64encode(pair.encode()).decode("ascii")
        forms.update({encoded, encoded.rstrip("=")})
    return sorted(forms)


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
