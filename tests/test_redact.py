"""Redaction of URL credentials and the API key (issue 17 item 5), the text rules."""

from __future__ import annotations

import pytest

from vlmrate.redact import REDACTED, Redactor, redact_url, url_secrets


@pytest.mark.parametrize(("url", "shown"), [
    ("http://user:pw@host:8000/v1", "http://host:8000/v1"),
    ("https://tok3n@host/v1", "https://host/v1"),
    ("http://host:8000/v1", "http://host:8000/v1"),
    ("see http://a:b@h1/v1 and https://c:d%40e@h2/v1.", "see http://h1/v1 and https://h2/v1."),
    ("mailto-like user@example.org stays", "mailto-like user@example.org stays"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_url_secrets_include_the_decoded_password_and_basic_auth() -> None:
    import base64

    secrets = url_secrets("http://me:p%40ss%2Fword@h/v1")
    assert {"p%40ss%2Fword", "p@ss/word", "ss/word"} <= set(secrets)
    # httpx sends a URL's user:password as "Authorization: Basic base64(user:password)"
    assert base64.b64encode(b"me:p@ss/word").decode() in secrets
    assert url_secrets("http://h/v1") == []


def test_redactor_cuts_the_key_and_passwords_everywhere(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setenv("MY_KEY", "sk-live-0123456789")
    redactor = Redactor.for_run(["http://me:hunter22@h/v1", None], api_key_env="MY_KEY")
    echoed = ('HTTP 401: {"headers": {"Authorization": "Bearer sk-live-0123456789"}, '
              '"url": "http://me:hunter22@h/v1/chat", "pw": "hunter22"}')
    out = redactor.text(echoed)
    assert "sk-live-0123456789" not in out and "hunter22" not in out
    assert out.count(REDACTED) == 2 and "http://h/v1/chat" in out
    nested = redactor.value({"a": ["x hunter22", {"sk-live-0123456789": 3}], "n": 1.5})
    assert nested == {"a": [f"x {REDACTED}", {REDACTED: 3}], "n": 1.5}


def test_short_secrets_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1-3 character "password" would cut letters out of every answer."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    redactor = Redactor.for_run(["http://u:a@h/v1"])
    assert redactor.text("a rating") == "a rating"
    assert redactor.text("http://u:a@h/v1") == "http://h/v1"
